"""The jobs that automation launches besides the daily full refresh.

Why apart from `orchestration/definitions.py`: the full refresh is owned there; these jobs select
subsets of the same assets by key prefix (`raw/<system>/...`), so they never redefine an asset and
pick up a new Salesforce object or finance table without a change here. The asset checks on the
selected assets come with them: the blocking Great Expectations checks still guard each landing,
and a freshness check re-evaluates right after the asset it watches is updated.
"""

from __future__ import annotations

import dagster as dg

CRM_JOB = "ltc_crm_incremental"
FINANCE_JOB = "ltc_finance_ingest"
# Defined in orchestration/definitions.py; named here (not imported) because importing it builds
# the dbt assets, which needs the dbt manifest.
FULL_REFRESH_JOB = "ltc_full_refresh"


def raw_selection(system: str) -> dg.AssetSelection:
    """Every `raw/<system>/<table>` asset and the checks that target them."""
    return dg.AssetSelection.key_prefixes(["raw", system])


def _raw_ingest_job(name: str, system: str, description: str):
    # in-process, as the full refresh: DuckDB takes one writer process per file
    return dg.define_asset_job(
        name=name,
        selection=raw_selection(system),
        description=description,
        executor_def=dg.in_process_executor,
        tags={"ltc/system": system},
    )


def crm_refresh_job():
    return _raw_ingest_job(
        CRM_JOB, "salesforce",
        "Incremental Salesforce landing (SystemModstamp cursor with lookback; merged on Id) and its checks.",
    )


def finance_ingest_job():
    return _raw_ingest_job(
        FINANCE_JOB, "finance",
        "Land the new bank statements and FX files of the finance drop (keyed by content hash) and check them.",
    )
