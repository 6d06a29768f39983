"""The Dagster code location: every box of the pipeline as an asset or an asset check.

raw/<system>/<table> (dlt) → GE checks → dbt staging/intermediate/marts (+ dbt tests as checks)
→ reports/ltc_report. One job runs the full refresh, scheduled daily.
"""

from __future__ import annotations

import os

import dagster as dg

from connectors.settings import apply_offline_defaults

apply_offline_defaults()

from orchestration.defs.ingest.assets import ingest_assets  # noqa: E402
from orchestration.defs.reports.assets import ltc_report  # noqa: E402
from orchestration.defs.transform.dbt import dbt_resource, ltc_dbt_models  # noqa: E402

FULL_REFRESH_JOB = "ltc_full_refresh"

# DuckDB allows one writer process per file, so the steps of a run execute one after the other
# in the run's own process (issue 6 replaces this with a concurrency pool).
ltc_full_refresh = dg.define_asset_job(
    name=FULL_REFRESH_JOB,
    selection=dg.AssetSelection.all(),
    description="Ingest every source, check it, build the dbt models and tests, publish reports.",
    executor_def=dg.in_process_executor,
)

daily_full_refresh = dg.ScheduleDefinition(
    name="daily_full_refresh",
    job=ltc_full_refresh,
    cron_schedule=os.environ.get("LTC_DAILY_CRON", "0 6 * * *"),
    execution_timezone=os.environ.get("LTC_TIMEZONE", "UTC"),
)

defs = dg.Definitions(
    assets=[*ingest_assets, ltc_dbt_models, ltc_report],
    jobs=[ltc_full_refresh],
    schedules=[daily_full_refresh],
    resources={"dbt": dbt_resource()},
)
