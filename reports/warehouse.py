"""The DuckDB file the reports read, and the published copy of the marts that other tools read.

Why a copy: every report reads the marts through short read-only DuckDB connections, in DuckDB
SQL (reports/datasets.py and the report modules), opened by path, many per edition. Each edition
takes one copy of the `marts` schema into a new DuckDB file beside
`$LTC_HOME/published/ltc_marts.duckdb`, and when the edition is published that copy replaces the
published one (an atomic rename). The edition is built from the same state of the marts: from the
copy on Postgres, from the warehouse itself (read while the copy is taken) on DuckDB. So:
- a Postgres warehouse (`LTC_WAREHOUSE=postgres`) needs no second dialect of every report query;
- whoever reads the marts outside a run (a BI tool, a notebook, the DuckDB shell) opens the
  published copy, which no build ever locks or half-writes: it holds the marts of the last
  published edition, all of them from the same build (issue 9, item 5). The warehouse file itself
  belongs to the pipeline: DuckDB lets no process read it while a step writes it, and a reader
  holding it makes writers wait (connectors/warehouse_lock.py).
Marts are the small end of the warehouse (one row per lead, invoice, account-month...), and the
copy is part of the measured reports phase of `python -m benchmarks.scale`.

The copy itself (types kept, NUMERIC money exact) is connectors/warehouse.py, shared with the
checks; `warehouse_as_of` (the mail step's edition date) copies one column of three marts.
Nothing here writes to Postgres.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.warehouse import copy_postgres_schema, is_postgres, postgres_dsn
from connectors.warehouse_lock import lock_path, warehouse_lock

if TYPE_CHECKING:
    from connectors.settings import Settings

MARTS_SCHEMA = "marts"
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
    """Write every table and view of the DuckDB warehouse's `schema` into a new DuckDB file at
    `path` (views as tables); return their names."""
    from connectors.warehouse_lock import read_connection

    with read_connection(warehouse) as source:
        names = [row[0] for row in source.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ? order by table_name",
            [schema]).fetchall()]
        # the connection is read-only, the new file must not be
        source.execute(f"attach '{_sql_string(path)}' as published (read_only false)")
        try:
            source.execute(f'create schema published."{schema}"')
            for name in names:
                source.execute(f'create table published."{schema}"."{name}" as '
                               f'select * from "{schema}"."{name}"')
        finally:
            source.execute("detach published")  # checkpoints the copy and closes its file
    return names


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
    """The DuckDB file to build reports from, with a new copy of the warehouse's marts published
    as `published_marts_path` when the block ends without an error (removed otherwise).

    On a Postgres warehouse the file is that copy, taken first. On DuckDB it is the warehouse itself,
    read under the shared advisory lock for the whole block, so no writer step changes it
    meanwhile; the copy is taken at the same time on a thread of its own (DuckDB works outside the
    GIL), and the block waits for it at its end. The copy and the edition show the same build.
    Why overlap them: at 1M leads the copy took 19 s of a 64 s reports phase when it came first
    (stop 21, cProfile under load); rendering is Python on one core, the copy runs on the other."""
    target = published_marts_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    _leftovers(target.parent)
    staging = target.with_name(f".{PUBLISHED_NAME}.{os.getpid()}.tmp")  # DuckDB creates it
    try:
        if is_postgres(settings):
            copy_postgres_marts(postgres_dsn(settings), staging)
            yield staging
        else:
            with warehouse_lock(settings.duckdb_path, write=False), _copying(settings.duckdb_path, staging):
                yield settings.duckdb_path
        os.chmod(staging, 0o644)
        os.replace(staging, target)  # readers of the old copy keep it until they close it
    finally:  # the readers' advisory lock file too (connectors/warehouse_lock.py)
        for leftover in (staging, staging.with_name(staging.name + ".wal"), lock_path(staging)):
            leftover.unlink(missing_ok=True)


@contextmanager
def _copying(warehouse: Path, staging: Path) -> Iterator[None]:
    """`copy_duckdb_marts(warehouse, staging)` on a thread while the block runs; at its end, wait
    for the copy and raise its error if it failed (the block's own error first, if it had one)."""
    failed: list[BaseException] = []

    def copy() -> None:
        try:
            copy_duckdb_marts(warehouse, staging)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            failed.append(exc)

    worker = threading.Thread(target=copy, name="ltc-publish-marts", daemon=True)
    worker.start()
    try:
        yield
    finally:
        worker.join()  # even when the block failed: the copy's connection must close first
    if failed:
        raise failed[0]
