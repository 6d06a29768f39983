"""Two overlapping runs that write the same DuckDB file take turns instead of failing on its lock.

DuckDB lets one process at a time open a file for writing; a second process gets "Could not set
lock on file". The project's answer is the `duckdb_writer` concurrency pool with a limit of 1,
set on the instance that `orchestration.instance` builds. This test starts two real processes,
each running a small job in process (as `ltc run` does) against that instance under one temp
LTC_HOME; each job's single op is in the pool and opens the real warehouse file for writing.

To make the overlap certain rather than a matter of timing, each op first waits (up to
RENDEZVOUS_S) at a rendezvous for the other run's op to enter its body too, then holds the write
connection for HOLD_S and writes a row. With the limit of 1 the second op cannot enter while the
first holds the slot, so the first one's wait times out, and the two runs write one after the
other. The companion case raises the pool's limit to 2 (an explicit limit in the instance, which
`orchestration.instance` respects): both ops enter together and one run fails on DuckDB's lock,
which is what the pool is for.

Dagster 1.13.27's own slot claim lets two steps that claim at the same moment both win (2 of 12
pairs of these runs on SQLite), and its waiting run spins on a CPU; orchestration.instance fixes both,
so this test runs with the fixes. A single pair of runs cannot catch the claim race reliably:
tests/unit/orchestration/test_instance*.py interleave two claims deterministically instead.

The file is also the child's script: `python test_concurrency.py <label> <parties> <sync_dir>`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two real runs in two processes, about 10 s

REPO_ROOT = Path(__file__).resolve().parents[2]
HOLD_S = 1.0
RENDEZVOUS_S = 2.0
LABELS = ("run_a", "run_b")


# --------------------------------------------------------------------------- the child process


def _wait_for(folder: Path, count: int, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(list(folder.iterdir())) >= count:
            return True
        time.sleep(0.02)
    return False


def _error_chain(error) -> str:
    """The message of a Dagster error and of every error that caused it."""
    messages = []
    while error is not None:
        messages.append(error.message.strip())
        error = error.cause or error.context
    return " <- ".join(messages)


def _child(label: str, parties: int, sync_dir: Path) -> dict:
    import dagster as dg
    import duckdb

    from connectors.settings import Settings
    from orchestration.instance import DUCKDB_WRITER_POOL, get_instance

    settings = Settings.from_env()
    ready, entered = sync_dir / "ready", sync_dir / "entered"
    report: dict = {"label": label}

    @dg.op(pool=DUCKDB_WRITER_POOL)
    def write_warehouse() -> None:
        report["entered"] = time.time()
        (entered / label).touch()
        report["met"] = _wait_for(entered, parties, RENDEZVOUS_S)
        con = duckdb.connect(str(settings.duckdb_path))  # read-write: DuckDB's file lock
        try:
            report["started"] = time.time()
            time.sleep(HOLD_S)
            report["ended"] = time.time()
            con.execute("insert into writes values (?, ?, ?)", [label, report["started"], report["ended"]])
        finally:
            con.close()

    @dg.job(name=f"write_{label}")
    def write_job():
        write_warehouse()

    with get_instance(settings) as instance:
        (ready / label).touch()  # both processes are loaded: start the runs together
        assert _wait_for(ready, parties, 60), "the other process never got ready"
        wall, cpu = time.perf_counter(), time.process_time()
        result = write_job.execute_in_process(instance=instance, raise_on_error=False)
        report["run_wall_s"], report["run_cpu_s"] = time.perf_counter() - wall, time.process_time() - cpu
        report["success"] = result.success
        report["errors"] = [
            _error_chain(e.step_failure_data.error)
            for e in result.all_events
            if e.is_step_failure and e.step_failure_data and e.step_failure_data.error
        ]
    return report


# --------------------------------------------------------------------------- the test


def _run_two_overlapping(ltc_home: Path, tmp_path: Path) -> dict[str, dict]:
    sync_dir = tmp_path / "sync"
    for sub in ("ready", "entered"):
        (sync_dir / sub).mkdir(parents=True)
    env = {**os.environ, "LTC_HOME": str(ltc_home), "PYTHONPATH": str(REPO_ROOT)}
    env.pop("DAGSTER_HOME", None)
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, label, str(len(LABELS)), str(sync_dir)],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for label in LABELS
    ]
    reports = {}
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, f"child process failed:\n{err[-3000:]}"
        report = json.loads(out.strip().splitlines()[-1])
        reports[report["label"]] = report
    return reports


@pytest.fixture
def warehouse(ltc_home: Path, monkeypatch: pytest.MonkeyPatch):
    """The temp LTC_HOME's instance (made here as the CLI makes it) and its warehouse file."""
    import duckdb

    from connectors.settings import Settings
    from orchestration.instance import get_instance

    settings = Settings.from_env()
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))  # get_instance sets it; undo after
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute("create table writes (label varchar, started double, ended double)")
    # made before the two runs start: two processes creating a fresh SQLite instance at the same
    # moment can collide on its schema setup ("UNIQUE constraint failed: alembic_version")
    instance = get_instance(settings)
    yield settings, instance
    instance.dispose()


def _rows(path: Path) -> list[tuple]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select label, started, ended from writes order by started").fetchall()


def test_overlapping_runs_take_turns_on_the_duckdb_writer_pool(warehouse, ltc_home, tmp_path):
    settings, instance = warehouse
    started = time.perf_counter()
    reports = _run_two_overlapping(ltc_home, tmp_path)
    elapsed = time.perf_counter() - started

    assert all(r["success"] for r in reports.values()), reports
    rows = _rows(settings.duckdb_path)
    assert sorted(label for label, *_ in rows) == sorted(LABELS)
    (_, _, first_end), (_, second_start, _) = rows
    assert first_end <= second_start, f"the writes overlapped: {rows}"
    # Not only the DuckDB connections: the whole pooled steps ran one after the other, and the
    # first one waited at the rendezvous in vain (the pool kept the other run out).
    first, second = sorted(reports.values(), key=lambda r: r["entered"])
    assert first["ended"] <= second["entered"]
    assert first["met"] is False and second["met"] is True
    # The waiting run slept rather than spun (Dagster's own wait: 3.5 s of CPU in a 4.7 s run
    # that waited 3.3 s; with orchestration.instance's fix 0.2 s).
    assert second["run_cpu_s"] < 0.5 * second["run_wall_s"], second
    # the slot was released by both runs
    assert instance.event_log_storage.get_concurrency_info("duckdb_writer").active_slot_count == 0
    runs = {r["label"]: f'{r["run_wall_s"]:.1f} s wall, {r["run_cpu_s"]:.1f} s CPU' for r in reports.values()}
    print(f"two serialised runs in {elapsed:.1f} s: {runs}")


def test_without_the_limit_the_second_writer_fails_on_duckdbs_lock(warehouse, ltc_home, tmp_path):
    settings, instance = warehouse
    # an explicit limit overrides dagster.yaml's default_limit, and get_instance keeps it
    instance.event_log_storage.set_concurrency_slots("duckdb_writer", 2)

    reports = _run_two_overlapping(ltc_home, tmp_path)

    assert all(r["met"] for r in reports.values()), "both steps were in their bodies at once"
    failed = [r for r in reports.values() if not r["success"]]
    assert len(failed) == 1, reports
    assert any("Could not set lock on file" in message for message in failed[0]["errors"]), failed
    assert len(_rows(settings.duckdb_path)) == 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    label, parties, sync = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    print(json.dumps(_child(label, parties, sync)))
