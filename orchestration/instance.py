"""The Dagster instance this project runs against.

Storage. SQLite under `$LTC_HOME/dagster` by default, so a laptop needs no server; the same folder
is `DAGSTER_HOME` for `make dev`, which is how runs started by `ltc run` show up in the UI. With
`LTC_DAGSTER_PG_HOST` set, run, event-log and schedule storage live in Postgres instead
(dagster-postgres; LTC_DAGSTER_PG_PORT/_DB/_USER/_PASSWORD), for a deployment where the UI, the
daemon and `ltc run` share one instance from several machines. The password is never written into
dagster.yaml: the file says `password: {env: LTC_DAGSTER_PG_PASSWORD}` and Dagster reads the
variable whenever it loads the instance, so every process that loads it needs the variable.
The scheme is `postgresql+psycopg2`: SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3,
which is not installed (the project ships psycopg2-binary).

One DuckDB writer at a time. DuckDB lets one process at a time open a file for writing, so every
step that writes the warehouse is in the `duckdb_writer` pool (orchestration/defs/ingest/assets.py)
and this instance gives pools a limit of 1 (`concurrency: pools: default_limit: 1`: Dagster 1.13
has no per-pool limit in dagster.yaml, only this default and limits stored in the instance's
database). Slots are claimed per step in the instance's event-log storage by whichever process runs
the step, so the limit holds across overlapping runs whatever started them: `ltc run`
(execute_in_process, which always uses the in-process executor and claims a slot before each
pooled step) as well as runs from the schedule or the UI, whose run worker claims the same way.
The daemon also keeps a queued run queued while all its first steps would wait for a slot, once
the pool has its row in the instance: `get_instance` creates it, Dagster itself only at the first
claim (before that the daemon launched two queued runs at once, and their steps took turns at
the claim; after, it held the second run back: they ran 3.2 s apart). tests/e2e/test_concurrency.py
runs two overlapping real runs against one warehouse file.

Two defects of Dagster 1.13.27's pools are fixed here (`fix_dagster_pools`, installed when this
module is imported; orchestration.definitions imports it too, so the run workers that the UI and
the schedule launch, which load the definitions rather than this CLI, have the fixes as well):
- The slot claim is not atomic. `SqlEventLogStorage._claim_concurrency_slot` reads a free slot row
  and then updates it by id without checking that it is still free, so two steps claiming at the
  same moment both get the one slot, both runs write DuckDB at once and one fails on its lock.
  Two runs started together double-claimed in 2 of 12 trials on SQLite and 1 of 12 on Postgres
  (whose SELECT … FOR UPDATE SKIP LOCKED holds its row lock only for that statement on Dagster's
  autocommit connection). The replacement takes the row only while it is still free, in one
  UPDATE: 0 of 16 (SQLite) and 0 of 14 (Postgres).
- A run waiting for a slot never sleeps (`interval_to_next_pending_claim_check` returns
  `min(0, …)`), so its process spins on a core for as long as the other run holds the slot:
  3.5 s of CPU in a 4.7 s run that waited 3.3 s, against 0.2 s with the fix, which sleeps until
  the next claim check is due (Dagster's back-off: 1 s, growing 10 % per check, at most 15 s).
  How soon a waiting run sees a freed slot does not change: that back-off governed it already.

Who owns dagster.yaml: a file that starts with `# Written by ltc` is ours and is rewritten whenever
it differs from what the current settings give (so a file written by an older ltc, which had no
pool limit, gets it; so does switching Postgres on or off). Any other file is the operator's and is
never touched; delete the first line of ours to take it over. If the operator's file leaves the
pool unlimited, `get_instance` stores the limit of 1 for `duckdb_writer` in the instance's database
(what `dagster instance concurrency set duckdb_writer 1` does) and warns; a limit the operator set
there on purpose is respected.

Telemetry is off: nothing at run time may need the internet.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import dagster as dg
import yaml

from connectors.settings import Settings

log = logging.getLogger(__name__)

MANAGED_HEADER = "# Written by ltc"
DAGSTER_PG_PASSWORD_ENV = "LTC_DAGSTER_PG_PASSWORD"
# The one pool today (orchestration.defs.ingest.assets.DUCKDB_WRITER_POOL; a unit test keeps the
# two equal), repeated so that loading the instance does not import the asset definitions.
DUCKDB_WRITER_POOL = "duckdb_writer"
# A run that ends without releasing its slot (e.g. its worker was killed and the run then marked
# failed or canceled) would block the pool for good; the daemon's monitoring frees such slots.
FREE_SLOTS_AFTER_RUN_END_S = 60
PG_POOL_RECYCLE_S = 3600  # a kept-open instance connection is renewed after an hour

_HEAD = f"""\
{MANAGED_HEADER} (orchestration/instance.py), which rewrites it when the settings change.
# Delete this header line to manage the file yourself: ltc will then leave it alone.
telemetry:
  enabled: false
"""

_SQLITE_NOTE = """\
# Instance storage: SQLite files in this folder (Dagster's layout). LTC_DAGSTER_PG_HOST: Postgres.
# The event log is Dagster's SQLite event log with its connections kept open between events
# (orchestration/sqlite_event_log.py): about 6x less time per event than the stock class.
"""

_POSTGRES_NOTE = """\
# Instance storage (runs, event log, schedules): Postgres, from the LTC_DAGSTER_PG_* settings.
"""

_CONCURRENCY_NOTE = f"""\
# DuckDB allows one writer process per file: at most 1 step at a time in any pool (the only pool
# is {DUCKDB_WRITER_POOL}) across all runs of this instance, claimed per step (op granularity) so
# that `ltc run` (execute_in_process) is limited as well as runs launched by the daemon. The
# daemon (make dev) frees slots still held {FREE_SLOTS_AFTER_RUN_END_S} s after their run ended.
"""


def _postgres_storage(settings: Settings) -> dict:
    db = {
        "hostname": settings.dagster_pg_host,
        "port": settings.dagster_pg_port,
        "db_name": settings.dagster_pg_db,
        "username": settings.dagster_pg_user,
        "scheme": "postgresql+psycopg2",
    }
    if settings.dagster_pg_password:
        # Only named: Dagster reads the value from the environment when it loads the instance.
        # (Omitted without a password, e.g. trust auth or ~/.pgpass: a named variable that is not
        # set would make loading the instance fail.)
        db["password"] = {"env": DAGSTER_PG_PASSWORD_ENV}
    return {"storage": {"postgres": {"postgres_db": db}}}


def _sqlite_event_log(settings: Settings) -> dict:
    # Run and schedule storage keep Dagster's defaults (history/, schedules/ in this folder); the
    # event log keeps its default folder, so an existing instance carries on with its history.
    return {"event_log_storage": {
        "module": "orchestration.sqlite_event_log",
        "class": "PooledSqliteEventLogStorage",
        "config": {"base_dir": str(settings.dagster_home / "history" / "runs")},
    }}


def render_dagster_yaml(settings: Settings) -> str:
    """The dagster.yaml the settings call for; it never contains a secret's value."""
    dump = lambda data: yaml.safe_dump(data, default_flow_style=False, sort_keys=False)  # noqa: E731
    if settings.dagster_pg_host:
        storage = _POSTGRES_NOTE + dump(_postgres_storage(settings))
    else:
        storage = _SQLITE_NOTE + dump(_sqlite_event_log(settings))
    concurrency = {
        "concurrency": {"pools": {"default_limit": 1, "granularity": "op"}},
        "run_monitoring": {"enabled": True, "free_slots_after_run_end_seconds": FREE_SLOTS_AFTER_RUN_END_S},
    }
    return _HEAD + storage + _CONCURRENCY_NOTE + dump(concurrency)


def is_managed(text: str) -> bool:
    return text.startswith(MANAGED_HEADER)


def _write_atomically(path: Path, text: str) -> None:
    # Two runs starting together both call this; neither may read a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dagster.yaml.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_dagster_home(settings: Settings) -> Path:
    """Create `$LTC_HOME/dagster` with an up-to-date dagster.yaml (unless the operator owns the
    file) and point DAGSTER_HOME at it."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = render_dagster_yaml(settings)
    current = config.read_text(encoding="utf-8") if config.exists() else None
    if current is None or (is_managed(current) and current != wanted):
        _write_atomically(config, wanted)
    elif not is_managed(current) and settings.dagster_pg_host:
        log.warning(
            "LTC_DAGSTER_PG_HOST is set but %s is not managed by ltc (no '%s' line): its storage applies",
            config, MANAGED_HEADER,
        )
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def ensure_writer_pool_limit(instance: dg.DagsterInstance) -> int | None:
    """Make sure the `duckdb_writer` pool is limited in this instance; return its limit.

    An ltc-managed dagster.yaml already limits it (default_limit: 1). An operator's file may not:
    then the limit of 1 is stored in the instance's database. A limit above 1 set on purpose is
    kept, with a warning, since DuckDB will then refuse the second writer.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:  # an old schema without the slot tables
        log.warning("this Dagster instance cannot limit pools (run `dagster instance migrate`)")
        return None
    pool = next((p for p in storage.get_pool_limits() if p.name == DUCKDB_WRITER_POOL), None)
    limit = pool.limit if pool and not pool.from_default else instance.global_op_concurrency_default_limit
    if limit is None:
        storage.set_concurrency_slots(DUCKDB_WRITER_POOL, 1)
        log.warning("dagster.yaml sets no pool limit; stored a limit of 1 for %s", DUCKDB_WRITER_POOL)
        return 1
    if pool is None:
        # Dagster creates the pool's row at its first claim; until then the daemon's run queue
        # sees no limit (it launched two queued runs at once) and the UI lists no pool.
        storage.initialize_concurrency_limit_to_default(DUCKDB_WRITER_POOL)
    if limit > 1:
        log.warning(
            "the %s pool allows %d steps at once, but DuckDB allows one writer: runs may fail on its lock",
            DUCKDB_WRITER_POOL, limit,
        )
    return limit


def _claim_concurrency_slot_atomically(self, concurrency_key: str, run_id: str, step_key: str):
    """Dagster 1.13.27's `SqlEventLogStorage._claim_concurrency_slot`, with the update made a
    compare-and-set: a slot row is taken only while it is still free, in one statement, which
    SQLite and Postgres both apply atomically. The loser sees BLOCKED and retries later, as for
    any blocked claim."""
    import sqlalchemy as db
    from dagster._core.storage.event_log.schema import ConcurrencySlotsTable
    from dagster._utils.concurrency import ConcurrencySlotStatus

    slots = ConcurrencySlotsTable.c
    with self.index_connection() as conn:
        free = conn.execute(
            db.select(slots.id)
            .where(slots.concurrency_key == concurrency_key, slots.step_key.is_(None))
            .where(slots.deleted == False)  # noqa: E712
            .limit(1)
        ).fetchone()
        if free is None:
            return ConcurrencySlotStatus.BLOCKED
        taken = conn.execute(
            ConcurrencySlotsTable.update()
            .values(run_id=run_id, step_key=step_key)
            .where(slots.id == free[0], slots.step_key.is_(None))
        ).rowcount
    return ConcurrencySlotStatus.CLAIMED if taken else ConcurrencySlotStatus.BLOCKED


def _interval_to_next_pending_claim_check(self) -> float:
    """Dagster 1.13.27's `InstanceConcurrencyContext.interval_to_next_pending_claim_check` returns
    `min(0, …)`, never more than 0, so a run whose steps wait for a pool slot never sleeps: its
    process spins at 100 % of a core for as long as the other run holds the slot. This returns
    the time until the next claim check is due (at most 15 s: Dagster's back-off), so it sleeps."""
    now = time.time()
    due = [self._pending_timeouts[key] - now for key in self._pending_claims if key in self._pending_timeouts]
    return max(0.0, min(due)) if due else 0.0


def _dagster_classes() -> tuple[type, type]:
    from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    return SqlEventLogStorage, InstanceConcurrencyContext


# Dagster's own methods, kept for tests/unit/orchestration/test_instance*.py to show the defects.
DAGSTER_CLAIM_CONCURRENCY_SLOT = _dagster_classes()[0]._claim_concurrency_slot
DAGSTER_INTERVAL_TO_NEXT_PENDING_CLAIM_CHECK = _dagster_classes()[1].interval_to_next_pending_claim_check


def fix_dagster_pools() -> None:
    """Install the atomic slot claim and the sleeping wait (see the module docstring); idempotent."""
    storage, context = _dagster_classes()
    storage._claim_concurrency_slot = _claim_concurrency_slot_atomically
    context.interval_to_next_pending_claim_check = _interval_to_next_pending_claim_check


fix_dagster_pools()


def get_instance(settings: Settings) -> dg.DagsterInstance:
    ensure_dagster_home(settings)
    instance = dg.DagsterInstance.get()
    if settings.dagster_pg_host:
        # dagster-postgres opens a new server connection (NullPool) for every statement group, about
        # 5,000 in a full run; this keeps one open per storage while the process runs, as Dagster's
        # UI does for itself (no statement timeout: a run's queries are not the UI's).
        instance.optimize_for_webserver(statement_timeout=0, pool_recycle=PG_POOL_RECYCLE_S, max_overflow=4)
    ensure_writer_pool_limit(instance)
    return instance
