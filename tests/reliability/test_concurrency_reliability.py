"""Concurrency as the user meets it: two `ltc run` at once, and a report reader during a build
(issue 9, item 5).

Why, beyond tests/e2e/test_concurrency.py (which proves that the `duckdb_writer` pool makes two
small in-process jobs take turns on the DuckDB file): that is the mechanism; here is the promise,
with the real refresh as a user starts it.

1. Two real `ltc run` processes on one LTC_HOME, the second started once the first is inside a
   step: both succeed, the second says that it waits for the other run, and no DuckDB lock error
   ("Could not set lock on file", "Conflicting lock") appears anywhere: not in either command's
   output, not in any run's Dagster event log. The two runs' writer steps never overlap.
2. Readers during a build. A BI-style reader opens the published copy of the marts
   (`$LTC_HOME/published/ltc_marts.duckdb`) over and over while a second `ltc run` rebuilds
   everything: each look sees every mart of the old build or every mart of the new one, never a
   mix and never an error. Beside it, a reader of the warehouse file itself through the
   platform's reader (`reports.datasets.read_only`, the connection every report and check uses)
   keeps opening it: the run still succeeds with no lock error, because readers and writers wait
   for each other (connectors/warehouse_lock.py). Found by this test's first version (stop 19): a
   reader's one-second read-only connection made the next ingest fail on DuckDB's file lock.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from full_runs import finish, mart_hashes, run_to_completion, running_steps, served_sandbox, start_run

pytestmark = pytest.mark.timeout(600)

SCALE = 100
LOCK_ERRORS = ("Could not set lock", "Conflicting lock")
WRITER_STEPS = ("ingest_", "ltc_dbt_models", "reports__edition")  # the steps in the duckdb_writer pool


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    with served_sandbox(tmp_path_factory.mktemp("concurrency_sources"), SCALE) as env:
        yield env


def _day_before(sources: dict) -> dict:
    as_of = dt.date.fromisoformat(sources["LTC_AS_OF"])
    return {**sources, "LTC_AS_OF": (as_of - dt.timedelta(days=1)).isoformat()}


def _lock_errors_in_event_logs(home: Path) -> list[str]:
    hits = []
    for db in (home / "dagster" / "history" / "runs").glob("*.db"):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            for text in LOCK_ERRORS:
                hits += [f"{db.name}: {text}" for (n,) in con.execute(
                    "select count(*) from event_logs where event like ?", [f"%{text}%"]).fetchall() if n]
        except sqlite3.Error:  # index.db has another schema
            pass
        finally:
            con.close()
    return hits


@pytest.fixture(scope="module")
def overlapped(sources, tmp_path_factory):
    """Two `ltc run` on one home, the second started while the first is inside its first step."""
    root = tmp_path_factory.mktemp("overlapped")
    home = root / "ltc_home"
    env = _day_before(sources)
    started = time.time()
    first = start_run(home, env, root / "first.log")
    deadline = time.monotonic() + 300
    while not running_steps(home) and first.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    second_started = time.time()
    second = start_run(home, env, root / "second.log")
    codes = finish(first), finish(second)
    return home, (first, second), codes, (started, second_started)


def test_two_overlapping_ltc_runs_both_succeed_without_a_lock_error(overlapped):
    home, (first, second), codes, (started, second_started) = overlapped
    outputs = first.output(), second.output()
    assert codes == (0, 0), f"exit codes {codes}:\n--- first\n{outputs[0][-3000:]}\n--- second\n{outputs[1][-3000:]}"
    for output in outputs:
        assert not any(text in output for text in LOCK_ERRORS), output[-3000:]
    assert not _lock_errors_in_event_logs(home)
    assert "waits for its turn" in outputs[1], f"the second run did not say that it waits:\n{outputs[1]}"
    # the two runs' writer steps took turns: no writer window of one run overlaps one of the other
    windows = [w for db in sorted((home / "dagster" / "history" / "runs").glob("*.db"))
               if db.name != "index.db" for w in _windows_of(home, db)]
    runs = {}
    for run_id, begin, end, step in windows:
        runs.setdefault(run_id, []).append((begin, end, step))
    assert len(runs) == 2, runs.keys()
    (a, wa), (b, wb) = runs.items()
    overlaps = [(x, y) for x in wa for y in wb if x[0] < y[1] and y[0] < x[1]]
    assert not overlaps, f"writer steps of the two runs overlapped: {overlaps}"
    print(f"\ntwo overlapping `ltc run`: both exit 0, second started {second_started - started:.1f} s after "
          f"the first; {len(wa)} + {len(wb)} writer steps, none overlapping")


def _windows_of(home: Path, db: Path) -> list[tuple[str, float, float, str]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("select run_id, dagster_event_type, step_key, timestamp from event_logs where "
                           "dagster_event_type in ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') order by id").fetchall()
    finally:
        con.close()
    starts, out = {}, []
    for run_id, kind, step, ts in rows:
        at = dt.datetime.fromisoformat(ts).timestamp()
        if kind == "STEP_START":
            starts[step] = at
        elif step in starts and step.startswith(WRITER_STEPS):
            out.append((run_id, starts[step], at, step))
    return out


# --------------------------------------------------------------------------- readers during a build


class Readers:
    """Two reader threads until `stop`: looks at the published marts copy (their hashes), and
    short reads of the warehouse file through the platform's reader; errors are kept, not raised."""

    def __init__(self, home: Path):
        self.published = home / "published" / "ltc_marts.duckdb"
        self.warehouse = home / "warehouse.duckdb"
        self.looks: list[dict] = []
        self.warehouse_reads = 0
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._published, daemon=True),
                        threading.Thread(target=self._warehouse, daemon=True)]

    def __enter__(self) -> "Readers":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        looked = len(self.looks)  # one more look once the run is over
        deadline = time.monotonic() + 60
        while len(self.looks) <= looked and not self.errors and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def _published(self) -> None:
        while not self.stop.is_set():
            try:
                self.looks.append(mart_hashes(self.published))
            except Exception as exc:  # noqa: BLE001 - every failure is a finding
                self.errors.append(f"published copy: {type(exc).__name__}: {exc}")
            time.sleep(0.05)

    def _warehouse(self) -> None:
        from reports.datasets import read_only

        while not self.stop.is_set():
            try:
                with read_only(self.warehouse) as con:
                    con.execute("select count(*) from information_schema.tables").fetchone()
                    time.sleep(0.2)  # a report's read: held for a moment
                self.warehouse_reads += 1
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"warehouse: {type(exc).__name__}: {exc}")
            time.sleep(0.3)


@pytest.fixture(scope="module")
def read_during_build(sources, tmp_path_factory):
    """A complete run for the day before, then the as-of day's run with both readers going."""
    root = tmp_path_factory.mktemp("readers")
    home = root / "ltc_home"
    run_to_completion(home, _day_before(sources), root / "first.log")
    old = mart_hashes(home / "published" / "ltc_marts.duckdb")
    old_warehouse = mart_hashes(home / "warehouse.duckdb")
    with Readers(home) as readers:
        run = start_run(home, sources, root / "second.log")
        code = finish(run)
    new = mart_hashes(home / "published" / "ltc_marts.duckdb")
    return home, run, code, readers, (old, old_warehouse), (new, mart_hashes(home / "warehouse.duckdb"))


def test_a_build_with_readers_succeeds_without_a_lock_error(read_during_build):
    home, run, code, readers, _, _ = read_during_build
    assert code == 0, f"exit {code}:\n{run.output()[-4000:]}"
    assert not any(text in run.output() for text in LOCK_ERRORS), run.output()[-3000:]
    assert not _lock_errors_in_event_logs(home)
    assert not readers.errors, readers.errors[:5]
    assert readers.warehouse_reads >= 5, readers.warehouse_reads


def test_readers_of_the_published_marts_see_one_whole_build_at_a_time(read_during_build):
    _, _, code, readers, (old, old_warehouse), (new, new_warehouse) = read_during_build
    assert code == 0
    # the published copy is the marts of the warehouse, mart for mart
    assert old == old_warehouse and new == new_warehouse
    assert old != new, "the as-of day's build changed no mart: the test would prove nothing"
    assert not readers.errors, readers.errors[:5]
    mixed = [look for look in readers.looks if look not in (old, new)]
    assert not mixed, [sorted(k for k in look if look[k] != old.get(k) and look[k] != new.get(k))
                       for look in mixed[:3]]
    seen = {"old" if look == old else "new" for look in readers.looks}
    assert seen == {"old", "new"}, f"{len(readers.looks)} looks saw only {seen}"
    print(f"\n{len(readers.looks)} looks at the published marts ({sum(l == old for l in readers.looks)} old, "
          f"{sum(l == new for l in readers.looks)} new, none mixed); {readers.warehouse_reads} reads of the "
          "warehouse file during the build, no lock error")
