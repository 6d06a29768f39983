"""Dagster's SQLite event log, with its connections kept open between events.

Why it exists: Dagster 1.13's `SqliteEventLogStorage` builds a new SQLAlchemy engine (NullPool),
opens the file, commits and disposes the engine for every statement group, and closing the last
connection of a WAL file makes SQLite checkpoint it into the database file. A full refresh writes
about 1,800 events (one planned and one result event per asset and per check, step outputs), each
of them one to three such connections: 16-18 ms per asset event on a 2-core machine, against
2.4-3.1 ms here with one pooled connection per shard (`python -m benchmarks.event_log`: asset
materialisations into a fresh instance, stock vs this class, side by side). That was most of the
orchestration overhead that issue 6 measures (benchmarks/orchestration.py).

What it keeps from the stock storage: the files and schema (a drop-in for an existing
`$LTC_HOME/dagster/history/runs` folder), the thread lock around every connection, the WAL
journal, and the lazy creation of each run's shard. What it changes:
- one engine per shard, holding one connection, for the index shard and the 4 most recently
  used run shards (a daemon or UI that touches many runs does not keep their files open);
- `PRAGMA synchronous=NORMAL` on its own connections: in WAL mode a commit then does not wait for
  an fsync (with SQLite's default FULL, the planned events that Dagster writes before a run took
  24.7 s of a 110 s run at scale 200, 8.7 s with NORMAL, measured side by side); a crash of the
  process loses nothing, a power cut can lose the last events, which for run history is an
  acceptable trade (the warehouse is not written through here). Run and schedule storage keep
  FULL: they commit about 100 times a run, 0.2 s in all;
- a table found in the index shard is remembered (Dagster asks before every check event);
- the run's shard file has its modification time touched after each write. Without a close, SQLite
  writes the database file only at checkpoints, yet Dagster's event watcher (the UI's live run
  view, `SqliteEventLogStorageWatchdog`) reacts only to changes of `<run_id>.db`.

dagster.yaml names this class (orchestration/instance.py); an operator's own file may too.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, QueuePool

# Run shards whose engines stay open; the index shard always does. A run writes its own shard
# only, so 4 covers a run plus the UI or daemon looking at a few others.
OPEN_RUN_SHARDS = 4


def _on_connect(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with a kept-open connection per shard (see the module docstring)."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()  # before super(): it connects
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):  # the parent's names its own class
        return cls(inst_data=inst_data, **config_value)

    def _new_engine(self, shard: str) -> Engine:
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,  # every use holds self._db_lock, so one connection is never contended
            # the lock, not SQLite, keeps one thread at a time on the connection
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        event.listen(engine, "connect", _on_connect)
        return engine

    def _drop_engine(self, shard: str) -> None:
        engine = self._engines.pop(shard, None)
        if engine is not None:
            engine.dispose()

    def _engine(self, shard: str) -> Engine:
        """The shard's engine; call with self._db_lock held."""
        if shard not in self._initialized_dbs:
            # first use, or after wipe()/upgrade(), which may have deleted or migrated the file
            self._drop_engine(shard)
            init = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=NullPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            self._initdb(init)
            init.dispose()
            self._initialized_dbs.add(shard)
        engine = self._engines.get(shard)
        if engine is None:
            engine = self._engines[shard] = self._new_engine(shard)
        self._engines.move_to_end(shard)
        run_shards = [name for name in self._engines if name != INDEX_SHARD_NAME]
        for name in run_shards[: max(0, len(run_shards) - OPEN_RUN_SHARDS)]:
            self._drop_engine(name)
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            with self._engine(shard).connect() as conn:
                with conn.begin():
                    yield conn
            if shard != INDEX_SHARD_NAME:
                self._touch(shard)

    def _touch(self, shard: str) -> None:
        try:
            os.utime(self.path_for_shard(shard))
        except FileNotFoundError:  # deleted by another process (a wipe): no watcher to wake
            pass

    def has_table(self, table_name: str) -> bool:
        # Asked before every asset check event (`supports_asset_checks`), each time through a new
        # engine: 2.8 s of a profiled full run. A table, once there, stays (a wipe deletes rows).
        # Not under self._db_lock: it is also asked while a connection holds the lock.
        if table_name in self._tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables.add(table_name)
        return found

    def upgrade(self) -> None:
        self._tables.clear()
        super().upgrade()

    def dispose(self) -> None:
        with self._db_lock:
            for shard in list(self._engines):
                self._drop_engine(shard)
        super().dispose()
