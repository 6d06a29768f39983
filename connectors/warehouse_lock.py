"""Readers and writers of the DuckDB warehouse take turns instead of failing on its file lock.

Why: DuckDB lets one process hold a database file read-write, or any number of processes hold it
read-only, never both. Every step of this platform opens the warehouse by path for as long as it
needs it: the ingests (dlt) and the dbt build write, while the checks, the report edition and the
docs read through short read-only connections. Dagster's `duckdb_writer` pool keeps two writers
apart, but not a reader and a writer: a check or a docs step of one run (outside the pool), or a
person's `ltc report`, holding its read-only connection for a second, made the next run's ingest
fail with DuckDB's "Could not set lock on file" (issue 9, item 5; found by
tests/reliability/test_concurrency_reliability.py). Retrying DuckDB's own lock would race: a
reader can take the file between a writer's probe and dlt's or dbt's own connect.

So every process of ours first takes an advisory lock on a file beside the warehouse
(`<warehouse>.lock`, `fcntl.flock`): shared to read, exclusive to write, held for the whole
connection (a reader) or step (a writer). Writers then wait for readers and readers for writers,
up to `LTC_WAREHOUSE_LOCK_WAIT_S` (default 300 s: the longest writer step at 1M leads, the
marketing ingest, took 77 s), and a wait
says so once in the log. A process that does not know the advisory lock (a DuckDB shell, a
notebook, a BI tool on the warehouse file) still takes DuckDB's own lock: `wait_for_duckdb_file`
lets a writer wait for it too and then fail with what to do. Such readers should open the
published copy of the marts instead (reports/warehouse.py), which no build ever locks.

The lock of the warehouse file covers its marts file too (connectors/marts_file.py): dbt writes
both in one step, and `read_connection` attaches the marts file to the warehouse's connection.

Nested use in one process is allowed (an edition's many short reads inside its step's lock): the
lock is counted per warehouse file, and a read inside a held write lock is already covered.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from connectors.marts_file import attach_marts

log = logging.getLogger(__name__)

DEFAULT_WAIT_S = 300.0
_POLL_S = (0.05, 0.1, 0.2, 0.5, 1.0)  # back-off between attempts, the last one repeated
LOCK_ERRORS = ("Could not set lock", "Conflicting lock")

_held: dict[str, tuple[bool, int, int]] = {}  # lock file -> (write, depth, fd)
_guard = threading.Lock()


class WarehouseBusy(RuntimeError):
    """The warehouse stayed locked by another process for longer than the wait allowed."""


def lock_path(duckdb_path: Path | str) -> Path:
    path = Path(duckdb_path)
    return path.with_name(path.name + ".lock")


def wait_seconds() -> float:
    raw = os.environ.get("LTC_WAREHOUSE_LOCK_WAIT_S", "").strip()
    if not raw:
        return DEFAULT_WAIT_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"LTC_WAREHOUSE_LOCK_WAIT_S must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"LTC_WAREHOUSE_LOCK_WAIT_S must not be negative, got {raw!r}")
    return value


def _poll(attempt: int) -> float:
    return _POLL_S[min(attempt, len(_POLL_S) - 1)]


def _busy(duckdb_path: Path, write: bool, waited: float, holder: str) -> WarehouseBusy:
    want = "write to" if write else "read"
    return WarehouseBusy(
        f"could not {want} the warehouse {duckdb_path}: {holder} for {waited:.1f} s "
        "(LTC_WAREHOUSE_LOCK_WAIT_S). Let that run finish, or close the program holding the file "
        "(a DuckDB shell, a notebook or a BI tool?), then run again. Tools that read the marts "
        "should open $LTC_HOME/published/ltc_marts.duckdb, which no build locks."
    )


@contextmanager
def warehouse_lock(duckdb_path: Path | str, *, write: bool, wait_s: float | None = None,
                   on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the advisory lock of the DuckDB warehouse at `duckdb_path` for the block: shared
    (`write=False`) or exclusive; wait for other processes up to `wait_s` (default
    LTC_WAREHOUSE_LOCK_WAIT_S), then raise `WarehouseBusy`."""
    key = str(lock_path(duckdb_path).resolve())
    with _guard:
        held = _held.get(key)
        if held is not None:
            held_write, depth, fd = held
            if write and not held_write:
                raise RuntimeError(f"a write lock on {duckdb_path} was asked for inside a read lock")
            _held[key] = (held_write, depth + 1, fd)
    if held is not None:
        try:
            yield
        finally:
            _release(key)
        return
    fd = _acquire(Path(duckdb_path), key, write, wait_seconds() if wait_s is None else wait_s, on_wait)
    with _guard:
        _held[key] = (write, 1, fd)
    try:
        yield
    finally:
        _release(key)


def _acquire(duckdb_path: Path, key: str, write: bool, wait_s: float,
             on_wait: Callable[[str], None] | None) -> int:
    Path(key).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
    started = time.monotonic()
    attempt = 0
    try:
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if write else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= wait_s:
                    raise _busy(duckdb_path, write, waited, "another ltc step holds it") from None
                if attempt == 0:
                    _say(on_wait, f"waiting for another ltc step to finish with the warehouse {duckdb_path}")
                time.sleep(_poll(attempt))
                attempt += 1
    except BaseException:
        os.close(fd)
        raise


def _release(key: str) -> None:
    with _guard:
        write, depth, fd = _held[key]
        if depth > 1:
            _held[key] = (write, depth - 1, fd)
            return
        del _held[key]
    os.close(fd)  # closing the descriptor releases the flock


def _say(on_wait: Callable[[str], None] | None, message: str) -> None:
    log.info(message)
    if on_wait is not None:
        on_wait(message)


def connect_when_free(duckdb_path: Path | str, *, read_only: bool, wait_s: float | None = None,
                      on_wait: Callable[[str], None] | None = None):
    """`duckdb.connect`, retried while a process outside the advisory lock (a DuckDB shell, a BI
    tool) holds DuckDB's own file lock; `WarehouseBusy` after `wait_s`."""
    import duckdb

    wait_s = wait_seconds() if wait_s is None else wait_s
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return duckdb.connect(str(duckdb_path), read_only=read_only)
        except duckdb.IOException as exc:
            message = str(exc)
            if not any(marker in message for marker in LOCK_ERRORS):
                raise
            waited = time.monotonic() - started
            if waited >= wait_s:
                raise _busy(Path(duckdb_path), not read_only, waited, _holder(message)) from exc
            if attempt == 0:
                _say(on_wait, f"waiting for {_holder(message)} to release the warehouse {duckdb_path}")
            time.sleep(_poll(attempt))
            attempt += 1


def wait_for_duckdb_file(duckdb_path: Path | str, *, wait_s: float | None = None,
                         on_wait: Callable[[str], None] | None = None) -> None:
    """Return once this process could open the warehouse read-write (a writer, inside its advisory
    lock, about to hand the file to dlt or dbt); a missing file is free."""
    if not Path(duckdb_path).exists():
        return
    connect_when_free(duckdb_path, read_only=False, wait_s=wait_s, on_wait=on_wait).close()


def _holder(message: str) -> str:
    """DuckDB names the holder: '... Conflicting lock is held in /usr/bin/duckdb (PID 123) ...'."""
    found = re.search(r"Conflicting lock is held in (.+?) \(PID (\d+)\)", message)
    return f"another program ({found.group(1)}, PID {found.group(2)})" if found else "another program"


@contextmanager
def read_connection(duckdb_path: Path | str, *, wait_s: float | None = None):
    """A read-only DuckDB connection for the block, inside the shared advisory lock: it waits for a
    writer step instead of failing on the file lock, and no writer starts while it is open. The
    warehouse's marts file is attached (connectors/marts_file.py): `marts.<name>` reads it."""
    path = Path(duckdb_path)
    if not path.exists():
        raise FileNotFoundError(f"warehouse not found: {path}")
    with warehouse_lock(path, write=False, wait_s=wait_s):
        con = connect_when_free(path, read_only=True, wait_s=wait_s)
        try:
            attach_marts(con, path)  # `marts.<name>` lives in the marts file (connectors/marts_file.py)
            yield con
        finally:
            con.close()


@contextmanager
def write_access(duckdb_path: Path | str, *, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """The exclusive advisory lock for a writer step (an ingest, the dbt build), once DuckDB's own
    file lock is free too; whoever writes inside opens the file itself."""
    with warehouse_lock(duckdb_path, write=True, on_wait=on_wait):
        wait_for_duckdb_file(duckdb_path, on_wait=on_wait)
        yield
