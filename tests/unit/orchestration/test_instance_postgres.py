"""The Dagster instance on Postgres (LTC_DAGSTER_PG_*): a run and its events land in the server's
tables, nothing in SQLite under LTC_HOME, the pool limit lives there too, and the slot claim is
atomic on Postgres as well. Each test gets its own database on 127.0.0.1:5432, dropped after."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.settings import Settings
from postgres_db import dsn, fresh_database
from slot_race import claim_the_last_slot_together
from orchestration import instance as ltc_instance
from orchestration.instance import DUCKDB_WRITER_POOL, get_instance

pytestmark = pytest.mark.postgres

# Sent by Dagster from the environment; the local server's trust auth ignores it.
PASSWORD = "never-in-dagster-yaml-7f3c"


@pytest.fixture
def pg_settings(ltc_home: Path, monkeypatch: pytest.MonkeyPatch, require_service):
    with fresh_database(require_service, "ltc_dagster_test") as dbname:
        monkeypatch.setenv("LTC_DAGSTER_PG_HOST", "127.0.0.1")
        monkeypatch.setenv("LTC_DAGSTER_PG_PORT", "5432")
        monkeypatch.setenv("LTC_DAGSTER_PG_DB", dbname)
        monkeypatch.setenv("LTC_DAGSTER_PG_USER", "postgres")
        monkeypatch.setenv("LTC_DAGSTER_PG_PASSWORD", PASSWORD)
        settings = Settings.from_env()
        monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))  # get_instance sets it; undo after
        yield settings, dbname


def _query(dbname: str, sql: str, *params):
    import psycopg2

    with psycopg2.connect(dsn(dbname), connect_timeout=3) as con:
        with con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()


def test_a_run_and_its_events_are_stored_in_postgres(pg_settings):
    import dagster as dg

    settings, dbname = pg_settings

    @dg.op(pool=DUCKDB_WRITER_POOL)
    def pooled_step() -> int:
        return 1

    @dg.job
    def small_job():
        pooled_step()

    with get_instance(settings) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        result = small_job.execute_in_process(instance=instance)
        assert result.success

    assert _query(dbname, "select pipeline_name, status from runs where run_id = %s", result.run_id) == [
        ("small_job", "SUCCESS")
    ]
    events = {row[0] for row in _query(dbname, "select dagster_event_type from event_logs where run_id = %s",
                                       result.run_id)}
    # (run-level events keep their legacy names in the table)
    assert {"PIPELINE_START", "STEP_START", "STEP_SUCCESS", "PIPELINE_SUCCESS"} <= events, events
    # the pooled step took its slot from the Postgres instance, with the default limit of 1
    limits = 'select "limit", using_default_limit from concurrency_limits where concurrency_key = %s'
    assert _query(dbname, limits, DUCKDB_WRITER_POOL) == [(1, True)]
    assert _query(dbname, "select count(*) from concurrency_slots where run_id is not null") == [(0,)]
    # nothing went to SQLite under LTC_HOME, and the password is only named in dagster.yaml
    assert not (settings.dagster_home / "history").exists()
    assert not list(settings.dagster_home.rglob("*.db"))
    text = (settings.dagster_home / "dagster.yaml").read_text()
    assert PASSWORD not in text and "env: LTC_DAGSTER_PG_PASSWORD" in text



def test_the_cli_instance_keeps_its_postgres_connections_open(pg_settings):
    """dagster-postgres connects anew for every statement group (NullPool) unless told otherwise;
    `get_instance` keeps one connection per storage open, as Dagster's UI does for itself."""
    settings, dbname = pg_settings
    with get_instance(settings) as instance:
        for storage in (instance.run_storage, instance.event_log_storage, instance.schedule_storage):
            assert type(storage._engine.pool).__name__ == "QueuePool", storage
        instance.event_log_storage.get_pool_limits()
        instance.run_storage.get_runs()
        mine = "select count(*) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()"
        assert _query(dbname, mine, dbname)[0][0] >= 1  # held open between calls
        # no statement timeout on the run's own queries
        with instance.event_log_storage.index_connection() as conn:
            assert conn.exec_driver_sql("show statement_timeout").scalar() == "0"


@pytest.mark.parametrize(
    "claim, expected",
    [
        (ltc_instance._claim_concurrency_slot_atomically, ["BLOCKED", "CLAIMED"]),
        # Dagster's own: its SELECT … FOR UPDATE SKIP LOCKED row lock ends with the SELECT (autocommit)
        (ltc_instance.DAGSTER_CLAIM_CONCURRENCY_SLOT, ["CLAIMED", "CLAIMED"]),
    ],
    ids=["ltc", "dagster"],
)
def test_two_steps_claiming_the_last_slot_together_cannot_both_win_on_postgres(
    pg_settings, monkeypatch, claim, expected
):
    settings, _ = pg_settings
    with get_instance(settings) as one, get_instance(settings) as other:
        storages = [one.event_log_storage, other.event_log_storage]
        outcome = claim_the_last_slot_together(storages, claim, monkeypatch)
    assert outcome == expected
