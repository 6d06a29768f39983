"""The DuckDB file the reports read: the warehouse itself, or a copy of a Postgres warehouse's marts.

Why: every report reads the marts through short read-only DuckDB connections, in DuckDB SQL
(reports/datasets.py and the report modules), opened by path, many per edition. With the
warehouse on Postgres (`LTC_WAREHOUSE=postgres`), rather than keep a second dialect of every report
query, an edition is built from a copy of the `marts` schema taken once per edition into a DuckDB
file under `$LTC_HOME`, deleted when the edition is done. Marts are the small end of the warehouse
(one row per lead, invoice, account-month...), and the copy is part of the measured reports phase
of `python -m benchmarks.scale --warehouse postgres`.

The copy itself (types kept, NUMERIC money exact) is connectors/warehouse.py, shared with the
checks; `warehouse_as_of` (the mail step's edition date) copies one column of three marts.
Nothing here writes to Postgres.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.warehouse import copy_postgres_schema, is_postgres, postgres_dsn

if TYPE_CHECKING:
    from connectors.settings import Settings

MARTS_SCHEMA = "marts"


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


@contextmanager
def reporting_warehouse(settings: "Settings") -> Iterator[Path]:
    """The DuckDB file to build reports from: the warehouse file itself, or (Postgres warehouse)
    a copy of its marts under `$LTC_HOME`, removed on exit."""
    if not is_postgres(settings):
        yield settings.duckdb_path
        return
    dsn = postgres_dsn(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="marts-", dir=settings.home))
    try:
        path = folder / "reporting.duckdb"  # not marts.duckdb: its catalog would shadow schema `marts`
        copy_postgres_marts(dsn, path)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)
