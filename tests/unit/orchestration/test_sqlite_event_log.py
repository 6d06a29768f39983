"""The kept-open SQLite event log (orchestration/sqlite_event_log.py) is a drop-in for Dagster's:
what it writes, Dagster's own class reads from the same folder (as the UI's process does), the
UI's live watcher still wakes on each write, a wipe still works, and it keeps few files open."""

from __future__ import annotations

import threading
import time

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage

from orchestration.sqlite_event_log import OPEN_RUN_SHARDS, PooledSqliteEventLogStorage

KEY = dg.AssetKey(["raw", "erp", "invoices"])


def _entry(run_id: str, event_type: DagsterEventType, data) -> EventLogEntry:
    event = DagsterEvent(event_type_value=event_type.value, job_name="job", event_specific_data=data)
    return EventLogEntry(error_info=None, level=20, user_message="", run_id=run_id,
                         timestamp=time.time(), dagster_event=event, job_name="job")


def _materialization(run_id: str) -> EventLogEntry:
    return _entry(run_id, DagsterEventType.ASSET_MATERIALIZATION,
                  StepMaterializationData(dg.AssetMaterialization(asset_key=KEY)))


def _engine_event(run_id: str) -> EventLogEntry:
    return _entry(run_id, DagsterEventType.ENGINE_EVENT, EngineEventData())


@pytest.fixture
def storage(tmp_path):
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    yield storage
    storage.dispose()


def test_what_it_writes_dagsters_own_storage_reads_from_the_same_folder(storage, tmp_path):
    storage.store_event(_engine_event("run-1"))
    storage.store_event(_materialization("run-1"))
    storage.store_event(_entry("run-1", DagsterEventType.ASSET_CHECK_EVALUATION,
                               dg.AssetCheckEvaluation(asset_key=KEY, check_name="unique", passed=False)))

    reader = SqliteEventLogStorage(str(tmp_path))  # another process, e.g. `make dev`
    try:
        records = reader.get_records_for_run("run-1").records
        assert [r.event_log_entry.dagster_event_type for r in records] == [
            DagsterEventType.ENGINE_EVENT, DagsterEventType.ASSET_MATERIALIZATION,
            DagsterEventType.ASSET_CHECK_EVALUATION]
        latest = reader.get_latest_materialization_events([KEY])[KEY]
        assert latest is not None and latest.run_id == "run-1"
        check = dg.AssetCheckKey(KEY, "unique")
        executions = reader.get_asset_check_execution_history(check, limit=5)
        assert [e.run_id for e in executions] == ["run-1"]
    finally:
        reader.dispose()


def test_its_connections_relax_synchronous_to_normal(storage):
    with storage.index_connection() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_the_uis_live_watcher_wakes_on_every_write(storage, tmp_path):
    """Dagster's watcher reacts to changes of `<run_id>.db` only; a kept-open WAL connection
    changes that file only at checkpoints, so the storage touches it after each write."""
    storage.store_event(_engine_event("run-w"))  # the shard exists before the watch starts
    reader = SqliteEventLogStorage(str(tmp_path))
    seen: list[DagsterEventType] = []
    woke = threading.Event()

    def callback(entry, _cursor):
        seen.append(entry.dagster_event_type)
        if entry.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION:
            woke.set()

    reader.watch("run-w", None, callback)
    try:
        time.sleep(0.5)  # the observer thread is up
        storage.store_event(_materialization("run-w"))
        assert woke.wait(10), f"the watcher saw {seen}"
    finally:
        reader.end_watch("run-w", callback)
        reader.dispose()


def test_it_keeps_the_index_and_the_latest_run_shards_open_only(storage):
    for i in range(OPEN_RUN_SHARDS + 3):
        storage.store_event(_engine_event(f"run-{i}"))
    assert list(storage._engines) == [INDEX_SHARD_NAME] + [
        f"run-{i}" for i in range(3, OPEN_RUN_SHARDS + 3)]
    # a closed shard opens again when written
    storage.store_event(_engine_event("run-0"))
    assert len(storage.get_records_for_run("run-0").records) == 2


def test_a_wipe_starts_the_shards_afresh(storage):
    storage.store_event(_materialization("run-1"))
    storage.wipe()
    assert storage.get_records_for_run("run-1").records == []
    storage.store_event(_materialization("run-2"))
    assert len(storage.get_records_for_run("run-2").records) == 1
    assert storage.get_latest_materialization_events([KEY])[KEY].run_id == "run-2"


def test_dispose_closes_its_engines(storage):
    storage.store_event(_engine_event("run-1"))
    storage.dispose()
    assert storage._engines == {}
