"""The DuckDB file the reports read, and the published copy of the marts that other tools read.

Why a copy: every report reads the marts through short read-only DuckDB connections, in DuckDB
SQL (reports/datasets.py and the report modules), opened by path, many per edition. Each edition
takes one copy of the `marts` schema into a new DuckDB file beside
`$LTC_HOME/published/ltc_marts.duckdb`, builds the edition from that copy, and when the edition is
published the copy replaces the published one (an atomic rename). So:
- the edition and the published marts show the same build, and the warehouse is held only while
  the copy is taken, not while the edition renders;
- a Postgres warehouse (`LTC_WAREHOUSE=postgres`) needs no second dialect of every report query;
- whoever reads the marts outside a run (a BI tool, a notebook, the DuckDB shell) opens the
  published copy, which no build ever locks or half-writes: it holds the marts of the last
  published edition, all of them from the same build (issue 9, item 5). The warehouse files
  belong to the pipeline: DuckDB lets no process read one while a step writes it, and a reader
  holding one makes writers wait (connectors/warehouse_lock.py).
On DuckDB the copy is a file copy: dbt builds the marts into a file of their own beside the
warehouse (connectors/marts_file.py). Before that, the copy re-wrote every mart through SQL, 9.5-10
s of wall at 1M leads; `copy_duckdb_marts` still does for a warehouse built before. The copy is part
of the measured reports phase of `python -m benchmarks.scale`.

The Postgres copy (types kept, NUMERIC money exact) is connectors/warehouse.py, shared with the
checks; `warehouse_as_of` (the mail step's edition date) copies one column of three marts.
Nothing here writes to Postgres.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.marts_file import MARTS_CATALOG, MARTS_SCHEMA, marts_path, wal_path
from connectors.warehouse import copy_postgres_schema, is_postgres, postgres_dsn
from connectors.warehouse_lock import lock_path, read_connection, warehouse_lock

if TYPE_CHECKING:
    from connectors.settings import Settings

PUBLISHED_NAME = "ltc_marts.duckdb"


def copy_postgres_marts(dsn: str, path: Path, schema: str = MARTS_SCHEMA) -> list[str]:
    """Write every table and view of the Postgres `schema` into a new DuckDB file at `path`; return
    their names."""
    return copy_postgres_schema(dsn, path, schema)


def warehouse_as_of(settings: "Settings") -> dt.date:
    """The as-of date the warehouse's marts were built for (checked against `settings.as_of`, as
    `reports.datasets.read_as_of` does), read from the configured warehouse; on Postgres only the
    `as_of_date` column of the marts that state it is copied, not the whole schema."""
    from connectors.warehouse import duckdb_reader
    from reports.datasets import EXECUTIVE_AS_OF_MARTS, resolve_as_of

    tables = {f"{MARTS_SCHEMA}.{name}": ["as_of_date"] for name in EXECUTIVE_AS_OF_MARTS}
    with duckdb_reader(settings, tables) as con:
        return resolve_as_of(con, EXECUTIVE_AS_OF_MARTS, settings.as_of)


def published_marts_path(settings: "Settings") -> Path:
    """The published copy of the marts (not `marts.duckdb`: its catalog would shadow schema `marts`)."""
    return settings.home / "published" / PUBLISHED_NAME


def copy_duckdb_marts(warehouse: Path, path: Path, schema: str = MARTS_SCHEMA) -> list[str]:
    """Write every table and view of the DuckDB warehouse's `schema` (in its marts file when it has
    one, connectors/marts_file.py) into a new DuckDB file at `path` (views as tables); return their
    names. The slow way (a scan and a compressed write of every mart): `publish_duckdb_marts`
    takes it only when a file copy would not do."""
    with read_connection(warehouse) as source:
        catalogs = [row[0] for row in source.execute(
            "select database_name from duckdb_databases() where database_name in (current_database(), ?) "
            "order by database_name = current_database()", [MARTS_CATALOG]).fetchall()]
        catalog = catalogs[0]  # the marts file when attached, else the warehouse itself
        names = [row[0] for row in source.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = ? and table_schema = ? order by table_name",
            [catalog, schema]).fetchall()]
        # the connection is read-only, the new file must not be
        source.execute(f"attach '{_sql_string(path)}' as published (read_only false)")
        try:
            source.execute(f'create schema published."{schema}"')
            for name in names:
                source.execute(f'create table published."{schema}"."{name}" as '
                               f'select * from "{catalog}"."{schema}"."{name}"')
        finally:
            source.execute("detach published")  # checkpoints the copy and closes its file
    return names


def publish_duckdb_marts(warehouse: Path, path: Path) -> None:
    """A copy of the DuckDB warehouse's marts at `path`, taken under the warehouse's shared lock
    (no build writes meanwhile): the marts file itself, copied, when dbt left it closed and whole
    (no write-ahead log), with the pipeline's bookkeeping (`main`, connectors/marts_file.py) left
    out; else, from a warehouse built before the marts had a file of their own or a marts file with
    a log to replay, `copy_duckdb_marts`. At 1M leads: 0.5 s against 9.5-10 s."""
    import duckdb

    source = marts_path(warehouse)
    with warehouse_lock(warehouse, write=False):
        if not source.exists() or wal_path(source).exists():
            copy_duckdb_marts(warehouse, path)
            return
        shutil.copyfile(source, path)
    con = duckdb.connect(str(path))
    try:
        for (name,) in con.execute("select table_name from information_schema.tables "
                                   "where table_catalog = current_database() and table_schema = 'main'").fetchall():
            con.execute(f'drop table main."{name}"')
    finally:
        con.close()


def _sql_string(path: Path) -> str:
    return str(path).replace("'", "''")


def _leftovers(folder: Path) -> None:
    """Remove the unpublished copies of runs that died (their pid is in the name)."""
    for stale in folder.glob(f".{PUBLISHED_NAME}.*.tmp*"):
        pid = stale.name.removeprefix(f".{PUBLISHED_NAME}.").split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


@contextmanager
def reporting_warehouse(settings: "Settings") -> Iterator[Path]:
    """The DuckDB file to build reports from: a new copy of the warehouse's marts, published as
    `published_marts_path` when the block ends without an error (removed otherwise). The copy is
    taken first (`publish_duckdb_marts`, or from Postgres `copy_postgres_marts`), so the edition
    and the published marts show the same build, and the warehouse is not held while the edition
    renders: a run's next writer step need not wait for it."""
    target = published_marts_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    _leftovers(target.parent)
    staging = target.with_name(f".{PUBLISHED_NAME}.{os.getpid()}.tmp")  # DuckDB creates it
    try:
        if is_postgres(settings):
            copy_postgres_marts(postgres_dsn(settings), staging)
        else:
            publish_duckdb_marts(settings.duckdb_path, staging)
        yield staging
        os.chmod(staging, 0o644)
        os.replace(staging, target)  # readers of the old copy keep it until they close it
    finally:  # the readers' advisory lock file too (connectors/warehouse_lock.py)
        for leftover in (staging, wal_path(staging), lock_path(staging)):
            leftover.unlink(missing_ok=True)
