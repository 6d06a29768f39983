"""Readers and writers of the DuckDB warehouse wait for each other (connectors/warehouse_lock.py),
and the marts are published as a copy no build locks (reports/warehouse.py).

Real processes hold the locks: the advisory lock is per open file description, so a holder in this
process would prove nothing about another."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from connectors.marts_file import marts_path
from connectors.warehouse_lock import (
    WarehouseBusy,
    read_connection,
    wait_seconds,
    warehouse_lock,
    write_access,
)

HOLD = """
import sys, time
{body}
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""
ADVISORY_READER = ("from connectors.warehouse_lock import read_connection\n"
                   "held = read_connection(sys.argv[1])\nc = held.__enter__()")  # referenced, or GC releases it
DUCKDB_SHELL = "import duckdb\nc = duckdb.connect(sys.argv[1], read_only=True)"


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create table marts.fct_a as select 1 as x; "
                "create view marts.rpt_b as select x + 1 as y from marts.fct_a; "
                "create table main.raw_thing as select 3 as z")
    con.close()
    return path


def _hold(path: Path, body: str, seconds: float) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLD.format(body=body), str(path), str(seconds)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "holding"
    return child


def test_a_writer_waits_for_a_reader_of_another_process_and_says_so(warehouse: Path):
    child = _hold(warehouse, ADVISORY_READER, 1.5)
    said: list[str] = []
    started = time.monotonic()
    with write_access(warehouse, on_wait=said.append):
        waited = time.monotonic() - started
        duckdb.connect(str(warehouse)).close()  # the writer's own connect succeeds at once
    child.wait()
    assert waited >= 1.0, waited
    assert len(said) == 1 and "waiting for another ltc step" in said[0]


def test_a_writer_waits_out_a_duckdb_shell_then_gives_up_with_what_to_do(warehouse: Path, monkeypatch):
    child = _hold(warehouse, DUCKDB_SHELL, 1.0)  # knows nothing of the advisory lock
    with write_access(warehouse):
        pass
    child.wait()
    monkeypatch.setenv("LTC_WAREHOUSE_LOCK_WAIT_S", "0.3")
    child = _hold(warehouse, DUCKDB_SHELL, 5)
    try:
        with pytest.raises(WarehouseBusy) as caught:
            with write_access(warehouse):
                pass
    finally:
        child.kill()
    message = str(caught.value)
    assert str(warehouse) in message and f"PID {child.pid}" in message
    assert "published/ltc_marts.duckdb" in message and "LTC_WAREHOUSE_LOCK_WAIT_S" in message


def test_a_reader_waits_for_a_writer_step(warehouse: Path):
    child = _hold(warehouse, "from connectors.warehouse_lock import warehouse_lock\n"
                             "held = warehouse_lock(sys.argv[1], write=True)\nheld.__enter__()", 1.0)
    started = time.monotonic()
    with read_connection(warehouse) as con:
        assert con.execute("select x from marts.fct_a").fetchone() == (1,)
    assert time.monotonic() - started >= 0.7
    child.wait()


def test_nested_locks_in_one_process_do_not_wait_on_themselves(warehouse: Path):
    with warehouse_lock(warehouse, write=True, wait_s=0):
        with read_connection(warehouse, wait_s=0) as con:  # a read inside the step's own write lock
            assert con.execute("select count(*) from marts.fct_a").fetchone() == (1,)
    with read_connection(warehouse, wait_s=0):
        with read_connection(warehouse, wait_s=0):
            pass
        with pytest.raises(RuntimeError, match="inside a read lock"):
            with warehouse_lock(warehouse, write=True, wait_s=0):
                pass
    with warehouse_lock(warehouse, write=True, wait_s=0):  # everything was released
        pass


def test_the_wait_setting_is_checked(monkeypatch):
    monkeypatch.setenv("LTC_WAREHOUSE_LOCK_WAIT_S", "soon")
    with pytest.raises(ValueError, match="LTC_WAREHOUSE_LOCK_WAIT_S"):
        wait_seconds()
    monkeypatch.setenv("LTC_WAREHOUSE_LOCK_WAIT_S", "-1")
    with pytest.raises(ValueError, match="negative"):
        wait_seconds()
    monkeypatch.setenv("LTC_WAREHOUSE_LOCK_WAIT_S", "12.5")
    assert wait_seconds() == 12.5


def _marts_file(warehouse: Path, layout: str) -> None:
    """Lay `warehouse`'s marts out as `layout` says: `legacy`, in the warehouse itself (built before
    the marts had a file of their own); `file`, moved to the marts file as dbt builds it, with the
    incremental state in its `main` (connectors/marts_file.py); `file_with_log`, the same with its
    last writes still in the write-ahead log (a build that died before checkpointing)."""
    if layout == "legacy":
        return
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"attach '{marts_path(warehouse)}' as ltc_marts")
        con.execute("create schema ltc_marts.marts; create table ltc_marts.marts.fct_a as select * from marts.fct_a; "
                    "create view ltc_marts.marts.rpt_b as select x + 1 as y from ltc_marts.marts.fct_a; "
                    "create table ltc_marts.main.ltc_incremental_state as select 'fct_a' as model_name; "
                    "drop schema marts cascade")
    if layout == "file_with_log":
        with duckdb.connect(str(marts_path(warehouse))) as con:
            con.execute("set checkpoint_threshold = '1TB'; pragma disable_checkpoint_on_shutdown")
            con.execute("insert into marts.fct_a values (1)")
        assert marts_path(warehouse).with_name(marts_path(warehouse).name + ".wal").exists()


@pytest.mark.parametrize("layout", ["file", "file_with_log", "legacy"])
def test_the_marts_are_published_as_a_copy_only_when_the_edition_succeeds(warehouse: Path, tmp_path, monkeypatch,
                                                                         layout: str):
    from connectors.settings import Settings
    from reports.warehouse import published_marts_path, reporting_warehouse

    _marts_file(warehouse, layout)
    monkeypatch.setenv("LTC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LTC_DUCKDB_PATH", str(warehouse))
    settings = Settings.from_env()
    published = published_marts_path(settings)
    with pytest.raises(ZeroDivisionError):
        with reporting_warehouse(settings) as read_from:
            assert read_from.parent == published.parent  # the edition reads the copy to be published
            1 / 0
    assert not published.exists() and list(published.parent.iterdir()) == []  # no temp copy left

    with reporting_warehouse(settings) as read_from:
        with read_connection(read_from) as con:  # as the reports read it
            assert con.execute("select max(y), count(*) from marts.rpt_b").fetchone() == \
                (2, 2 if layout == "file_with_log" else 1)
        # the copy is taken: a writer step of another process need not wait for the edition
        writer = subprocess.run(
            [sys.executable, "-c", "import sys\nfrom connectors.warehouse_lock import warehouse_lock\n"
             "with warehouse_lock(sys.argv[1], write=True, wait_s=0.3): pass", str(warehouse)],
            capture_output=True, text=True)
        assert writer.returncode == 0, writer.stderr
    assert sorted(p.name for p in published.parent.iterdir()) == [published.name]  # no temp nor lock left
    with duckdb.connect(str(published), read_only=True) as con:
        tables = con.execute("select table_schema, table_name, table_type from information_schema.tables "
                             "order by all").fetchall()
    # the marts only, nothing of the other schemas (raw, the incremental state); the legacy and
    # logged layouts are copied table by table (the view as a table)
    view = "VIEW" if layout == "file" else "BASE TABLE"
    assert tables == [("marts", "fct_a", "BASE TABLE"), ("marts", "rpt_b", view)]


def test_a_failed_copy_fails_the_edition_and_keeps_the_last_published_marts(warehouse: Path, tmp_path, monkeypatch):
    from connectors.settings import Settings
    from reports.warehouse import published_marts_path, reporting_warehouse

    monkeypatch.setenv("LTC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LTC_DUCKDB_PATH", str(warehouse))
    settings = Settings.from_env()
    published = published_marts_path(settings)
    with reporting_warehouse(settings):
        pass
    # a copy that fails (here: its file already holds bytes that are no DuckDB file) fails the
    # edition before it renders, and the published copy stays the last good one
    published.with_name(f".ltc_marts.duckdb.{os.getpid()}.tmp").write_bytes(b"not a database")
    before = published.read_bytes()
    ran = []
    with pytest.raises(duckdb.Error):
        with reporting_warehouse(settings):
            ran.append(True)
    assert not ran and published.read_bytes() == before
    assert sorted(p.name for p in published.parent.iterdir()) == [published.name]

    # a dead run's unpublished copy is removed by the next edition; a live one's is left alone
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    leftover = published.with_name(f".ltc_marts.duckdb.{dead}.tmp")
    live = published.with_name(f".ltc_marts.duckdb.{os.getppid()}.tmp")
    leftover.write_bytes(b"half")
    live.write_bytes(b"half")
    with reporting_warehouse(settings):
        pass
    assert not leftover.exists() and live.exists()
