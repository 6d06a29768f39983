"""Ingestion assets: one subsettable multi-asset per source system.

Each asset key is `raw/<system>/<table>`, matching the dbt sources' `meta.dagster.asset_key`, so
the lineage reads from the source system to the report with no glue. The work itself is done by
`connectors.ingest.run_ingest`; this module only translates Dagster's selection into the list
of objects to load and the result into materialisation metadata.
"""


import dagster as dg

from connectors.catalog import RAW_TABLES
from connectors.settings import Settings
from orchestration.defs.automation.retries import retry_or_fail
from orchestration.defs.quality.checks import evaluate_raw_check, raw_check_specs

# One writer at a time on the DuckDB file: ingest, dbt and report writers share this pool.
DUCKDB_WRITER_POOL = "duckdb_writer"

_DESCRIPTIONS = {
    "salesforce": "Salesforce CRM, read with simple-salesforce through queryAll (deleted rows "
    "included; Bulk API 2.0 for big windows) and merged on Id; incremental on SystemModstamp with an "
    "overlap lookback; getDeleted tombstones in deleted_records.",
    "erp": "ERP database (any SQLAlchemy URL) read with dlt's sql_database source through a mapping "
    "file onto canonical entities, merged on the key; incremental on updated_at with a lookback; bad "
    "rows in quarantined_rows.",
    "finance": "Bank statements (CAMT.053, MT940, bank CSV) and FX rates (CSV, ECB XML) from the "
    "finance drop; each file is keyed by content hash so a file delivered twice lands once.",
    "marketing": "Ad-spend exports (generic, Google Ads, Meta, LinkedIn) normalised to one row per "
    "platform, campaign and day, and the HubSpot-style marketing API (campaigns, contacts, forms).",
}


def raw_asset_key(system: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", system, table])


def _build_system_assets(system: str) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            key=raw_asset_key(system, table),
            group_name=f"raw_{system}",
            description=f"`raw_{system}.{table}`: {_DESCRIPTIONS[system]}",
            kinds={"dlt", "duckdb"},
            owners=["team:data-engineering"],
            skippable=True,
        )
        for table in RAW_TABLES[system]
    ]

    @dg.multi_asset(
        name=f"ingest_{system}",
        specs=specs,
        check_specs=raw_check_specs(system),
        can_subset=True,
        pool=DUCKDB_WRITER_POOL,
        # No RetryPolicy: the step decides itself (orchestration/defs/automation/retries.py).
        # Transient failures (network, HTTP 5xx/429, Salesforce limits, a DuckDB lock) raise
        # RetryRequested with an exponential wait (LTC_RETRY_MAX, LTC_RETRY_DELAY_S); anything else
        # raises Failure(allow_retries=False) and fails at once with its message.
    )
    def _ingest(context: dg.AssetExecutionContext):
        settings = Settings.from_env()
        try:
            yield from _land_and_audit(context, system, settings)
        except Exception as exc:  # noqa: BLE001 - every failure is classified, none swallowed
            decision = retry_or_fail(exc, context.retry_number, max_retries=settings.retry_max,
                                     base_delay_s=settings.retry_delay_s, secrets=settings.secrets(),
                                     log=context.log)
            if decision is exc:  # Dagster's own control flow (Failure, RetryRequested, DagsterError)
                raise
            raise decision from exc

    return _ingest


def _land_and_audit(context: dg.AssetExecutionContext, system: str, settings: Settings):
    """Land the selected tables of `system`, then evaluate their raw checks."""
    from connectors.ingest import run_ingest

    tables = [key.path[-1] for key in context.selected_asset_keys]
    result = run_ingest(system, settings, objects=tables)
    for table in tables:
        yield dg.MaterializeResult(
            asset_key=raw_asset_key(system, table),
            metadata={
                "rows_loaded": dg.MetadataValue.int(int(result.rows_loaded.get(table, 0))),
                "load_ids": dg.MetadataValue.text(", ".join(map(str, result.load_ids))),
                "notes": dg.MetadataValue.text("\n".join(result.notes) or "-"),
            },
        )
    # Audit what was just written; a failed ERROR check fails this step, so nothing
    # downstream (dbt, reports) runs on it.
    for check_key in context.selected_asset_check_keys:
        yield evaluate_raw_check(system, check_key.asset_key.path[-1], settings)


ingest_assets = [_build_system_assets(system) for system in RAW_TABLES]
