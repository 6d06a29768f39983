"""The hourly incremental CRM refresh schedule.

Why: Salesforce is the one source that changes all day and whose connector is incremental by
itself (SystemModstamp cursor in the warehouse), so landing it every hour costs a few API calls
and keeps pipeline data fresh between two daily full refreshes. Cron and time zone come from the
environment (`LTC_CRM_CRON`, `LTC_TIMEZONE`) like the daily schedule's.

A tick is skipped while a CRM run or the full refresh (which lands Salesforce too) is queued or
running: both would write the same DuckDB file and Salesforce cursors, and the next tick is an
hour away anyway.
"""

from __future__ import annotations

import dagster as dg

from connectors.settings import Settings
from orchestration.defs.automation.jobs import CRM_JOB, FULL_REFRESH_JOB

CRM_SCHEDULE = "hourly_crm_refresh"
_BUSY_STATUSES = [
    dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def runs_in_progress(instance: dg.DagsterInstance, job_names: list[str]) -> list[str]:
    """Ids of the queued or running runs of `job_names`."""
    return [run.run_id for name in job_names
            for run in instance.get_runs(filters=dg.RunsFilter(job_name=name, statuses=_BUSY_STATUSES))]


def crm_refresh_schedule(settings: Settings, job) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=CRM_SCHEDULE,
        job=job,
        cron_schedule=settings.crm_cron,
        execution_timezone=settings.timezone,
        description=f"Incremental Salesforce landing on `{settings.crm_cron}` ({settings.timezone}); "
        "skipped while a CRM run or the full refresh is in progress.",
    )
    def _hourly(context: dg.ScheduleEvaluationContext):
        busy = runs_in_progress(context.instance, [CRM_JOB, FULL_REFRESH_JOB])
        if busy:
            return dg.SkipReason(f"a run that lands Salesforce is still in progress ({', '.join(busy)})")
        tick = context.scheduled_execution_time
        return dg.RunRequest(
            run_key=tick.isoformat() if tick else None,
            tags={"ltc/trigger": CRM_SCHEDULE},
        )

    return _hourly
