"""The Dagster instance: SQLite under LTC_HOME by default, the DuckDB writer pool limited to 1
whoever wrote dagster.yaml, Postgres storage without the password in the file, and the two fixes
to Dagster's pools (a slot claim two steps cannot both win, a wait that sleeps), each shown
against Dagster's own method."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from connectors.settings import Settings
from slot_race import claim_the_last_slot_together
from orchestration import instance as ltc_instance
from orchestration.instance import (
    DUCKDB_WRITER_POOL,
    ensure_dagster_home,
    ensure_writer_pool_limit,
    get_instance,
    render_dagster_yaml,
)

# What ensure_dagster_home wrote before issue 6: no pool limit.
OLD_LTC_YAML = """\
# Written by ltc. Instance storage defaults to SQLite in this folder.
telemetry:
  enabled: false
"""


@pytest.fixture
def settings(ltc_home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = Settings.from_env()
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))  # get_instance sets it; undo after
    return settings


def _yaml(settings: Settings) -> str:
    return (settings.dagster_home / "dagster.yaml").read_text()


def test_the_default_instance_is_sqlite_under_ltc_home_with_the_writer_pool_limited(settings):
    from dagster._core.instance.config import PoolGranularity
    from dagster._core.storage.runs import SqliteRunStorage

    from orchestration.sqlite_event_log import PooledSqliteEventLogStorage

    with get_instance(settings) as instance:
        assert isinstance(instance.run_storage, SqliteRunStorage)
        assert instance.root_directory == str(settings.dagster_home)
        assert (settings.dagster_home / "history" / "runs.db").is_file()
        # the event log keeps Dagster's folder, through the kept-open connections class
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert (settings.dagster_home / "history" / "runs" / "index.db").is_file()
        config = instance.get_concurrency_config().pool_config
        assert config.default_pool_limit == 1
        assert config.pool_granularity == PoolGranularity.OP
        assert ensure_writer_pool_limit(instance) == 1
        # the pool is there before any step claimed it (the run queue and the UI see it)
        pools = {p.name: (p.limit, p.from_default) for p in instance.event_log_storage.get_pool_limits()}
        assert pools == {DUCKDB_WRITER_POOL: (1, True)}
    written = yaml.safe_load(_yaml(settings))
    assert "storage" not in written  # Dagster's default: SQLite in DAGSTER_HOME
    assert written["concurrency"] == {"pools": {"default_limit": 1, "granularity": "op"}}
    assert written["telemetry"] == {"enabled": False}


def test_the_pool_name_is_the_one_the_assets_use():
    from orchestration.defs.ingest.assets import DUCKDB_WRITER_POOL as assets_pool

    assert DUCKDB_WRITER_POOL == assets_pool


def test_a_file_written_by_an_older_ltc_gets_the_pool_limit(settings):
    settings.dagster_home.mkdir(parents=True)
    (settings.dagster_home / "dagster.yaml").write_text(OLD_LTC_YAML)

    ensure_dagster_home(settings)

    assert _yaml(settings) == render_dagster_yaml(settings)
    assert yaml.safe_load(_yaml(settings))["concurrency"]["pools"]["default_limit"] == 1


def test_an_operators_own_file_is_left_alone_and_the_pool_limit_goes_into_the_instance(settings, caplog):
    own = "# my instance\ntelemetry:\n  enabled: false\n"
    settings.dagster_home.mkdir(parents=True)
    (settings.dagster_home / "dagster.yaml").write_text(own)

    with caplog.at_level(logging.WARNING, logger=ltc_instance.__name__):
        with get_instance(settings) as instance:
            limits = {p.name: p for p in instance.event_log_storage.get_pool_limits()}
            assert limits[DUCKDB_WRITER_POOL].limit == 1
            # stored, as `dagster instance concurrency set duckdb_writer 1` does
            assert not limits[DUCKDB_WRITER_POOL].from_default

    assert _yaml(settings) == own
    assert "stored a limit of 1" in caplog.text


def test_a_limit_the_operator_set_in_the_instance_is_kept_with_a_warning(settings, caplog):
    with get_instance(settings) as instance:
        instance.event_log_storage.set_concurrency_slots(DUCKDB_WRITER_POOL, 2)
        with caplog.at_level(logging.WARNING, logger=ltc_instance.__name__):
            assert ensure_writer_pool_limit(instance) == 2
    assert "may fail on its lock" in caplog.text


def test_postgres_settings_write_postgres_storage_that_names_the_password_variable_only(
    settings, monkeypatch
):
    from dagster._core.instance.ref import InstanceRef

    password = "s3cr/et pa@ss"
    monkeypatch.setenv("LTC_DAGSTER_PG_HOST", "db.internal")
    monkeypatch.setenv("LTC_DAGSTER_PG_DB", "ltc_dagster")
    monkeypatch.setenv("LTC_DAGSTER_PG_USER", "dagster")
    monkeypatch.setenv("LTC_DAGSTER_PG_PASSWORD", password)
    pg = Settings.from_env()
    assert password in pg.secrets()

    ensure_dagster_home(pg)  # no server needed: nothing connects yet

    text = _yaml(pg)
    assert password not in text and "s3cr" not in text
    storage = yaml.safe_load(text)["storage"]["postgres"]["postgres_db"]
    assert storage == {
        "hostname": "db.internal",
        "port": 5432,
        "db_name": "ltc_dagster",
        "username": "dagster",
        "scheme": "postgresql+psycopg2",
        "password": {"env": "LTC_DAGSTER_PG_PASSWORD"},
    }
    assert yaml.safe_load(text)["concurrency"]["pools"]["default_limit"] == 1
    # Dagster accepts the file and resolves the variable when it loads it
    ref = InstanceRef.from_dir(str(pg.dagster_home))
    assert ref.storage_data.class_name == "DagsterPostgresStorage"
    assert ref.storage_data.config_dict["postgres_db"]["password"] == {"env": "LTC_DAGSTER_PG_PASSWORD"}

    # and back to SQLite when Postgres is switched off again: the file is ltc's, so it follows
    monkeypatch.delenv("LTC_DAGSTER_PG_HOST")
    ensure_dagster_home(Settings.from_env())
    assert "storage" not in yaml.safe_load(_yaml(pg))


def test_without_a_password_the_postgres_storage_names_none(settings, monkeypatch):
    monkeypatch.setenv("LTC_DAGSTER_PG_HOST", "127.0.0.1")
    pg = Settings.from_env()
    ensure_dagster_home(pg)
    assert "password" not in yaml.safe_load(_yaml(pg))["storage"]["postgres"]["postgres_db"]


# ---- the slot claim ---------------------------------------------------------------------------






@pytest.mark.parametrize(
    "claim, expected",
    [
        (ltc_instance._claim_concurrency_slot_atomically, ["BLOCKED", "CLAIMED"]),
        # Dagster 1.13.27's own claim: both steps get the one slot (what orchestration.instance fixes)
        (ltc_instance.DAGSTER_CLAIM_CONCURRENCY_SLOT, ["CLAIMED", "CLAIMED"]),
    ],
    ids=["ltc", "dagster"],
)
def test_two_steps_claiming_the_last_slot_together_cannot_both_win(settings, monkeypatch, claim, expected):
    with get_instance(settings) as one, get_instance(settings) as other:
        storages = [one.event_log_storage, other.event_log_storage]
        assert claim_the_last_slot_together(storages, claim, monkeypatch) == expected


def _context(pending: set[str], due_in: dict[str, float]) -> SimpleNamespace:
    """The two fields of an InstanceConcurrencyContext that the interval reads."""
    now = time.time()
    return SimpleNamespace(_pending_claims=pending, _pending_timeouts={k: now + s for k, s in due_in.items()})


def test_a_run_waiting_for_a_slot_sleeps_until_its_next_claim_check():
    ours = ltc_instance._interval_to_next_pending_claim_check
    dagsters = ltc_instance.DAGSTER_INTERVAL_TO_NEXT_PENDING_CLAIM_CHECK
    waiting = _context({"write_warehouse"}, {"write_warehouse": 5})
    assert 4 < ours(waiting) <= 5
    assert dagsters(waiting) == 0  # Dagster's own never sleeps: min(0, …)
    assert ours(_context({"a"}, {"a": -1, "no_longer_pending": 9})) == 0.0  # "a" is due now
    assert ours(_context(set(), {})) == 0.0


def test_the_fixes_are_installed():
    from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    assert SqlEventLogStorage._claim_concurrency_slot is ltc_instance._claim_concurrency_slot_atomically
    interval = InstanceConcurrencyContext.interval_to_next_pending_claim_check
    assert interval is ltc_instance._interval_to_next_pending_claim_check


def test_the_instance_event_log_uses_synchronous_normal_and_others_are_untouched(ltc_home, tmp_path):
    """The instance's event log is relaxed to synchronous=NORMAL (orchestration/sqlite_event_log.py);
    any other SQLite file opened through SQLAlchemy in the same process keeps SQLite's FULL (2)."""
    import sqlalchemy as sa

    from connectors.settings import Settings
    from orchestration.instance import get_instance

    instance = get_instance(Settings.from_env())
    storage = instance.event_log_storage
    with storage.index_connection() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    other = sa.create_engine(f"sqlite:///{tmp_path / 'erp.sqlite'}")
    with other.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL, SQLite's default
