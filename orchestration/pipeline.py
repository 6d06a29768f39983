"""Run the full lead-to-cash refresh in-process through Dagster.

`ltc run` and `ltc demo` go through the same job that the schedule launches, so the checks that
guard the scheduled runs guard the CLI runs too: a failing blocking check stops dbt and the
report, and the run fails with the check's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.settings import Settings, apply_offline_defaults
from orchestration.instance import get_instance
from orchestration.prepare import prepare_dbt_manifest


class PipelineError(RuntimeError):
    """The run failed; the message names the failed steps and checks."""


@dataclass
class RunSummary:
    run_id: str
    success: bool
    materialized: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)


def _summarise(result) -> RunSummary:
    materialized = sorted(
        e.asset_key.to_user_string() for e in result.get_asset_materialization_events() if e.asset_key
    )
    failed_checks = sorted(
        f"{ev.asset_key.to_user_string()}:{ev.check_name}"
        for ev in result.get_asset_check_evaluations()
        if not ev.passed
    )
    failed_steps = sorted({e.step_key for e in result.all_events if e.is_step_failure and e.step_key})
    return RunSummary(result.run_id, result.success, materialized, failed_checks, failed_steps)


def run_full_refresh(settings: Settings | None = None, *, log_level: str = "INFO") -> RunSummary:
    """Materialise every asset of the full-refresh job in this process; raise on failure.

    `log_level` is the Dagster console logger's level; the CLI passes WARNING so that the
    terminal shows progress lines rather than every Dagster event (they are in the UI).
    """
    apply_offline_defaults()
    settings = settings or Settings.from_env()
    settings.export_paths()
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    prepare_dbt_manifest()
    from orchestration.definitions import FULL_REFRESH_JOB, defs

    job = defs.resolve_job_def(FULL_REFRESH_JOB)
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    result = job.execute_in_process(
        run_config=run_config, instance=get_instance(settings), raise_on_error=False
    )
    summary = _summarise(result)
    if not summary.success:
        raise PipelineError(
            "the full refresh failed"
            + (f"; failed checks: {', '.join(summary.failed_checks)}" if summary.failed_checks else "")
            + (f"; failed steps: {', '.join(summary.failed_steps)}" if summary.failed_steps else "")
            + f". See run {summary.run_id} in the Dagster UI (make dev)."
        )
    return summary
