"""`reports/docs`: dbt docs and GE Data Docs published next to the report (issue 6).

Downstream of the same marts as `reports/edition`, so it runs once the dbt build (and the
blocking checks on those marts) are done, in the same run. It writes nothing to the warehouse:
no `duckdb_writer` pool, only short read-only connections (one for the catalog, one for the
validations).

Why the Data Docs re-validate instead of reading what the checks produced: the checks turn their
summaries into Dagster check results and keep nothing else, and persisting them (a JSON per suite
under $LTC_HOME/quality) would mean changing the check code. Re-running every suite read-only at
publish time is cheap because the suites run inside DuckDB (expectations/sql_engine.py). The
price: no "vs previous" row-count bound (the check of this run already recorded the count, so
the bound would compare the table with itself), and a load by another job landing between the
checks and this step shows in the docs and not in the checks.

Measured on the dbt-built raw fixture warehouse (tests/dbt/raw_fixture.py; median of 3, 2 cores,
load ~1): dbt docs 0.23 s (manifest read, one information_schema query, a 4.9 MB page); Data
Docs 1.47 s (the 23 raw and 7 mart suites validated in 0.31 s, the site rendered by GX in
1.16 s). So the asset adds ~1.7 s to a run whose checks already imported GX in this process (the
in-process executor), ~2.5 s more where GX is not yet imported. For scale: the largest suite
(raw_erp.invoices, 24 expectations) validates 1M rows in 0.74 s (benchmarks/results/expectations.json).
"""

import time

import dagster as dg

from connectors.settings import Settings
from orchestration.defs.reports.assets import REPORT_INPUTS


@dg.asset(
    key=["reports", "docs"],
    deps=[dg.AssetKey(path) for path in REPORT_INPUTS],
    group_name="reports",
    kinds={"html"},
    owners=["team:data-engineering"],
)
def ltc_docs(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """dbt docs (one self-contained page, from this run's manifest and the warehouse's
    information_schema) and GE Data Docs (every suite and its outcome now), under
    `$LTC_HOME/reports/dbt_docs` and `$LTC_HOME/reports/data_docs`."""
    from reports.docs_site import publish_data_docs, publish_dbt_docs

    settings = Settings.from_env()
    started = time.perf_counter()
    dbt_page, manifest = publish_dbt_docs(settings, run_id=context.run_id)
    dbt_seconds = time.perf_counter() - started
    data_docs = publish_data_docs(settings)
    data_docs_seconds = time.perf_counter() - started - dbt_seconds
    return dg.MaterializeResult(
        metadata={
            "dbt_docs": dg.MetadataValue.path(str(dbt_page)),
            "data_docs": dg.MetadataValue.path(str(data_docs)),
            "dbt_manifest": dg.MetadataValue.path(str(manifest)),
            "dbt_docs_seconds": round(dbt_seconds, 2),
            "data_docs_seconds": round(data_docs_seconds, 2),
        }
    )
