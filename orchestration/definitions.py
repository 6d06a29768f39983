"""The Dagster code location: every box of the pipeline as an asset or an asset check.

raw/<system>/<table> (dlt) → GE checks → dbt staging/intermediate/marts (+ dbt tests as checks)
→ GE checks on the marts → reports/edition (+ reports/mail, reports/docs). One job runs the full refresh, scheduled daily;
an hourly job refreshes the CRM, a sensor lands new bank files, freshness checks watch the raw
assets and failed runs raise alerts (orchestration/defs/automation).
"""

from __future__ import annotations

import os

import dagster as dg

from connectors.settings import apply_offline_defaults

apply_offline_defaults()

from orchestration.defs.automation import automation_defs  # noqa: E402
from orchestration.defs.ingest.assets import ingest_assets  # noqa: E402
from orchestration.defs.quality.mart_checks import mart_expectations  # noqa: E402
from orchestration.defs.reports.assets import report_edition, report_mail  # noqa: E402
from orchestration.defs.reports.docs_assets import ltc_docs  # noqa: E402
from orchestration.defs.transform.dbt import dbt_resource, ltc_dbt_models  # noqa: E402
from orchestration.instance import fix_dagster_pools  # noqa: E402

FULL_REFRESH_JOB = "ltc_full_refresh"

# The fixes to Dagster's pool slot claims (atomic claim, no busy wait; orchestration/instance.py)
# in every process that runs this job's steps, including run workers launched by the UI and the
# schedule, which load this module and not the CLI.
fix_dagster_pools()

# Executor: in-process, on purpose. DuckDB allows one writer process per file, so every step of
# this job that writes (the four ingest multi-assets, the dbt build, the report) is in the
# `duckdb_writer` pool, whose limit of 1 (orchestration/instance.py) serialises them within a run and across
# runs. The multiprocess executor could run nothing in parallel and costs a process per step that
# first imports this code location (4.2-6.4 s and 250 MB RSS each, 2 cores), and its blocked
# steps wait on the pool's back-off (1 s, growing to 15 s) rather than starting when the previous
# step ends: a job of six pooled 0.5 s steps shaped like this one (4 → 1 → 1), importing this
# module, took 3.5 s in process and 28.2-28.4 s with the multiprocess executor (two runs each).
# Revisit if steps outside the pool appear (say, extraction split from loading). The executor
# only applies to runs the daemon launches (the schedule, the UI): `ltc run` uses
# execute_in_process, which always runs in process.
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

# The hourly CRM refresh, the finance-drop sensor, freshness checks and failure alerts
# (orchestration/defs/automation) join the core graph here.
defs = dg.Definitions.merge(
    dg.Definitions(
        assets=[*ingest_assets, ltc_dbt_models, report_edition, report_mail, ltc_docs],
        asset_checks=[mart_expectations],
        jobs=[ltc_full_refresh],
        schedules=[daily_full_refresh],
        resources={"dbt": dbt_resource()},
    ),
    automation_defs(),
)
