"""Automation (issue 6): what starts runs besides the daily full refresh, and what watches them.

Why a package of its own, exposed as one function: `orchestration/definitions.py` (the code
location) is owned elsewhere; it merges `automation_defs()` in with `dg.Definitions.merge`. Nothing
here redefines an asset, the `ltc_full_refresh` job or the `daily_full_refresh` schedule: jobs
select assets by key prefix and checks target asset keys.

- `jobs`: `ltc_crm_incremental` (raw/salesforce/*) and `ltc_finance_ingest` (raw/finance/*).
- `schedules`: `hourly_crm_refresh`, cron `LTC_CRM_CRON` in `LTC_TIMEZONE`.
- `finance_sensor`: `finance_drop_sensor`, a run per new settled bank/FX file (content-hash keyed).
- `freshness`: last-update freshness checks on every raw asset and `raw_freshness_checks_sensor`.
- `retries`: transient vs permanent failure classification, used by the ingest ops.
- `alerts`: `run_failure_alerts`, a JSON line per failed run plus SMTP and/or webhook delivery.

Settings are read when `automation_defs()` is called (never at import), like the rest of the
project, so tests set the environment first.
"""

from __future__ import annotations

import dagster as dg

from connectors.settings import Settings
from orchestration.defs.automation.alerts import ALERT_SENSOR, run_failure_alert_sensor
from orchestration.defs.automation.finance_sensor import FINANCE_SENSOR, finance_drop_sensor
from orchestration.defs.automation.freshness import FRESHNESS_SENSOR, freshness_sensor, raw_freshness_checks
from orchestration.defs.automation.jobs import CRM_JOB, FINANCE_JOB, crm_refresh_job, finance_ingest_job
from orchestration.defs.automation.retries import classify_failure, retry_or_fail
from orchestration.defs.automation.schedules import CRM_SCHEDULE, crm_refresh_schedule

__all__ = [
    "ALERT_SENSOR", "CRM_JOB", "CRM_SCHEDULE", "FINANCE_JOB", "FINANCE_SENSOR", "FRESHNESS_SENSOR",
    "automation_defs", "classify_failure", "retry_or_fail",
]


def automation_defs(settings: Settings | None = None) -> dg.Definitions:
    """The jobs, schedule, sensors and freshness checks of issue 6, to merge into the code location."""
    settings = settings or Settings.from_env()
    crm_job, finance_job = crm_refresh_job(), finance_ingest_job()
    checks = raw_freshness_checks(settings)
    return dg.Definitions(
        jobs=[crm_job, finance_job],
        schedules=[crm_refresh_schedule(settings, crm_job)],
        sensors=[finance_drop_sensor(settings, finance_job), freshness_sensor(checks), run_failure_alert_sensor()],
        asset_checks=checks,
    )
