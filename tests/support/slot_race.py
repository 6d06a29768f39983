"""Two Dagster storages racing for one pool slot, on demand: the test helper behind
tests/unit/orchestration/test_instance.py (SQLite) and test_instance_postgres.py (Postgres), which
force two slot claims to interleave to show Dagster 1.13.27's non-atomic claim and our fix."""

from __future__ import annotations

import threading
from contextlib import contextmanager

_SELECT_LOCK = threading.Lock()


class _Buffered:
    """A statement's rows read at once, so a paused thread holds no SQLite read lock."""

    def __init__(self, result):
        self.rows, self.rowcount = (result.fetchall() if result.returns_rows else []), result.rowcount

    def fetchone(self):
        return self.rows[0] if self.rows else None


def pause_after_first_select(storage, barrier: threading.Barrier, monkeypatch) -> None:
    """Make `storage` stop after its first SELECT until the other storage has made its own: the
    moment two steps of two runs look for a free slot together."""
    real = storage.index_connection
    paused = []

    class Conn:
        def __init__(self, conn):
            self._conn = conn

        def execute(self, statement, *args, **kwargs):
            if paused or not statement.is_select:
                return _Buffered(self._conn.execute(statement, *args, **kwargs))
            paused.append(True)
            with _SELECT_LOCK:  # one SELECT after the other (overlapping ones would not race)
                result = _Buffered(self._conn.execute(statement, *args, **kwargs))
            barrier.wait()
            return result

    @contextmanager
    def index_connection():
        with real() as conn:
            yield Conn(conn)

    monkeypatch.setattr(storage, "index_connection", index_connection)


POOL = "duckdb_writer"  # orchestration.instance.DUCKDB_WRITER_POOL


def claim_the_last_slot_together(storages, claim, monkeypatch) -> list[str]:
    """Two storages on one instance database (two processes, in effect: the SQLite storage
    serialises the threads of one process) each claim the pool's one slot for a step at once."""
    storages[0].set_concurrency_slots(POOL, 1)
    barrier = threading.Barrier(len(storages), timeout=10)
    outcome: dict[str, str] = {}

    def step(storage, run_id: str) -> None:
        outcome[run_id] = claim(storage, POOL, run_id, "write_warehouse").value

    threads = []
    for storage, run_id in zip(storages, ("run_a", "run_b")):
        pause_after_first_select(storage, barrier, monkeypatch)
        threads.append(threading.Thread(target=step, args=(storage, run_id)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return sorted(outcome.values())
