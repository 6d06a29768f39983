"""Run the full lead-to-cash refresh in-process through Dagster.

`ltc run` and `ltc demo` go through the same job that the schedule launches, so the checks that
guard the scheduled runs guard the CLI runs too: a failing blocking check stops dbt and the
report, and the run fails with the check's name.

A run killed outright (kill -9, OOM killer, a lost machine) cannot end itself: Dagster keeps it
"started" and, worse, keeps its `duckdb_writer` pool slot claimed, so every later `ltc run`
waited for that slot forever, silently (tests/reliability/test_crash_anywhere.py found it; the
daemon's run monitoring does not see in-process runs, and `ltc run` has no daemon). So each run
is tagged with the process that executes it (host, pid and the pid's start time, which tells a
reused pid apart), and before a run starts, `recover_dead_runs` marks the in-progress runs of
this host whose process is gone as failed and frees their slots. A run whose process is alive
keeps its slot: the new run then waits its turn, and says so (`notify`).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from connectors.settings import Settings, apply_offline_defaults
from orchestration.instance import get_instance
from orchestration.prepare import prepare_dbt_manifest


log = logging.getLogger(__name__)

HOST_TAG, PROCESS_TAG = "ltc/host", "ltc/process"


class PipelineError(RuntimeError):
    """The run failed; the message names the failed steps and checks."""


@dataclass
class RunSummary:
    run_id: str
    success: bool
    materialized: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    step_errors: dict[str, str] = field(default_factory=dict)  # failed step → its error's first line


def _step_error(event) -> str:
    error = event.step_failure_data.error if event.step_failure_data else None
    lines = (error.message if error else "").strip().splitlines()
    return lines[0][:300] if lines else "no error message"


def _failed_steps(summary: RunSummary) -> str:
    return "; ".join(f"{key} ({summary.step_errors.get(key, 'no error message')})" for key in summary.failed_steps)


def _summarise(result) -> RunSummary:
    materialized = sorted(
        e.asset_key.to_user_string() for e in result.get_asset_materialization_events() if e.asset_key
    )
    failed_checks = sorted(
        f"{ev.asset_key.to_user_string()}:{ev.check_name}"
        for ev in result.get_asset_check_evaluations()
        if not ev.passed
    )
    failures = {e.step_key: _step_error(e) for e in result.all_events if e.is_step_failure and e.step_key}
    return RunSummary(result.run_id, result.success, materialized, failed_checks, sorted(failures), failures)


def _process_identity(pid: int) -> str | None:
    """`<pid>:<start time>` of a live process, or None when there is none with that pid. The start
    time (clock ticks since boot, /proc/<pid>/stat field 22) tells a reused pid apart; without
    /proc (not Linux) the pid alone is used."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return f"{pid}:{stat.rsplit(')', 1)[1].split()[19]}"
    except (OSError, IndexError):
        pass
    if Path("/proc/self/stat").exists():
        return None  # /proc works, and this pid is not in it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return str(pid)


def run_tags() -> dict[str, str]:
    """The tags that say which process executes a run (see the module docstring)."""
    return {HOST_TAG: socket.gethostname(), PROCESS_TAG: _process_identity(os.getpid()) or str(os.getpid())}


def recover_dead_runs(instance) -> tuple[list[str], list[str]]:
    """Fail the in-progress `ltc run` runs of this host whose process is gone and free their pool
    slots. Returns (the recovered run ids, the ids of runs still alive)."""
    from dagster import DagsterRunStatus, RunsFilter

    in_progress = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
    runs = instance.get_runs(filters=RunsFilter(statuses=in_progress, tags={HOST_TAG: socket.gethostname()}))
    recovered, alive = [], []
    for run in runs:
        process = run.tags.get(PROCESS_TAG, "")
        if not process or _process_identity(int(process.split(":")[0])) == process:
            alive.append(run.run_id)
            continue
        # slots first: killed between the two, a run marked failed would keep its slot (seen)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        instance.report_run_failed(run, message=f"its process ({process} on this host) died without ending the run")
        recovered.append(run.run_id)
    _free_slots_of_ended_runs(instance)
    return recovered, alive


def _free_slots_of_ended_runs(instance) -> None:
    """A run that ended cannot use a slot; one still holding it (its process died mid-recovery, or
    it ended without releasing) would block the pool for good: free it."""
    from orchestration.instance import DUCKDB_WRITER_POOL

    storage = instance.event_log_storage
    for run_id in storage.get_concurrency_info(DUCKDB_WRITER_POOL).active_run_ids:
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)


def run_full_refresh(settings: Settings | None = None, *, log_level: str = "INFO",
                     notify: Callable[[str], None] | None = None) -> RunSummary:
    """Materialise every asset of the full-refresh job in this process; raise on failure.

    `log_level` is the Dagster console logger's level; the CLI passes WARNING so that the
    terminal shows progress lines rather than every Dagster event (they are in the UI).
    `notify(message)` tells the user about runs recovered or waited for (default: the log).
    """
    apply_offline_defaults()
    settings = settings or Settings.from_env()
    settings.export_paths()
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    prepare_dbt_manifest()
    from orchestration.definitions import FULL_REFRESH_JOB, defs

    job = defs.resolve_job_def(FULL_REFRESH_JOB)
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    instance = get_instance(settings)
    notify = notify or log.warning
    recovered, alive = recover_dead_runs(instance)
    for run_id in recovered:
        notify(f"run {run_id} was killed before it ended: marked failed, its warehouse slot freed")
    if alive:
        notify(f"run(s) {', '.join(alive)} in progress: this run waits for its turn on the warehouse")
    result = job.execute_in_process(
        run_config=run_config, instance=instance, raise_on_error=False, tags=run_tags()
    )
    summary = _summarise(result)
    if not summary.success:
        raise PipelineError(
            "the full refresh failed"
            + (f"; failed checks: {', '.join(summary.failed_checks)}" if summary.failed_checks else "")
            + (f"; failed steps: {_failed_steps(summary)}" if summary.failed_steps else "")
            + f". See run {summary.run_id} in the Dagster UI (make dev)."
        )
    return summary
