"""Read the warehouse with DuckDB, whichever it is: the DuckDB file, or copies of Postgres tables.

Why: everything that reads the warehouse after dbt speaks DuckDB SQL: the expectation engine
(expectations/sql_engine.py compiles the suites to DuckDB), the mart suites' dataset queries and
every report query. With the warehouse on Postgres (`LTC_WAREHOUSE=postgres`), rather than keep a
second dialect of each, the reader copies the tables it needs (and, for a check, only the columns
the suite reads) into DuckDB and the same code runs there. DuckDB's own `postgres` extension would
read Postgres in place, but it is downloaded at first use and runs must work offline.

The copy: Postgres → Arrow through connectorx (already the fast ERP reader) → DuckDB. connectorx
reads every NUMERIC as decimal(38,10), so a column declared numeric(p,s) is cast back to
DECIMAL(p,s) and money stays exact (dlt lands money as numeric(38,9), as it does in DuckDB, so a
suite's Decimal type checks see the same type on both warehouses); an unconstrained NUMERIC stays
DECIMAL(38,10). A Postgres type connectorx does not read is copied as text. Nothing here writes to
Postgres.

Users: the raw and mart checks (expectations/warehouse.py, one table or a few marts per
connection), the mail step's as-of date (reports/warehouse.py `warehouse_as_of`), and the reports,
which copy the whole `marts` schema into a DuckDB file once per edition (reports/warehouse.py).

Cost, measured on one sandbox company (seed 42, scale 2000) landed in both warehouses, the 23 raw
suites validated through `expectations.warehouse.validate_raw_table`, 3 alternating repeats on
2 cores shared with other benchmarks (load ~9): median 12.9 s on Postgres (copy included) against
8.3 s on the DuckDB file, and the same summaries for every suite (failures, counts, keys, rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from connectors.settings import Settings

# Postgres types connectorx reads into an Arrow type DuckDB keeps as is; anything else is read as text.
_ARROW_READABLE = {
    "smallint", "integer", "bigint", "numeric", "real", "double precision", "boolean", "text",
    "character varying", "character", "date", "timestamp without time zone",
    "timestamp with time zone", "json", "jsonb",
}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def split_table(table: str) -> tuple[str, str]:
    """``schema.table`` → (schema, table); a bare name is in schema ``main``."""
    if "." in table:
        schema, name = table.split(".", 1)
        return schema.strip('"'), name.strip('"')
    return "main", table.strip('"')


def is_postgres(settings: "Settings") -> bool:
    return settings.warehouse == "postgres"


def postgres_dsn(settings: "Settings") -> str:
    if not settings.pg_dsn:
        raise ValueError("LTC_WAREHOUSE=postgres needs LTC_PG_DSN (postgresql://user:pass@host:5432/db)")
    return settings.pg_dsn


def postgres_columns(dsn: str, schema: str, table: str) -> list[tuple[str, str, int | None, int | None]]:
    """(name, data_type, numeric_precision, numeric_scale) of a table or view, in column order;
    empty when it does not exist."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select column_name, data_type, numeric_precision, numeric_scale "
                "from information_schema.columns where table_schema = %s and table_name = %s "
                "order by ordinal_position",
                [schema, table],
            )
            return cur.fetchall()
    finally:
        conn.close()


def postgres_relations(dsn: str, schema: str) -> list[str]:
    """The tables and views of `schema`, by name."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select table_name from information_schema.tables where table_schema = %s "
                        "order by table_name", [schema])
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def _duckdb_type(data_type: str, precision: int | None, scale: int | None) -> str | None:
    """The DuckDB type to cast a copied column to, or None to keep what Arrow gave."""
    if data_type == "numeric" and precision is not None and precision <= 38:
        return f"DECIMAL({precision},{scale or 0})"
    return None


def copy_postgres_table(dsn: str, con: Any, schema: str, table: str,
                        columns: Iterable[str] | None = None) -> bool:
    """Copy `schema.table` from Postgres into the DuckDB connection `con`, under the same schema
    and name: only `columns` that exist (all when None; the first one when none of them does, so
    that the suite's own column checks report the missing ones). False, and nothing created, when
    the table does not exist in Postgres."""
    import connectorx as cx

    described = postgres_columns(dsn, schema, table)
    if not described:
        return False
    if columns is not None:
        wanted = set(columns)
        described = [c for c in described if c[0] in wanted] or described[:1]
    select = ", ".join(
        _quote(name) if data_type in _ARROW_READABLE else f"cast({_quote(name)} as text) as {_quote(name)}"
        for name, data_type, _, _ in described
    )
    arrow = cx.read_sql(dsn, f"select {select} from {_quote(schema)}.{_quote(table)}", return_type="arrow")
    casts = ", ".join(
        f"cast({_quote(name)} as {cast}) as {_quote(name)}" if (cast := _duckdb_type(t, p, s)) else _quote(name)
        for name, t, p, s in described
    )
    con.execute(f"create schema if not exists {_quote(schema)}")
    con.register("__ltc_copy", arrow)
    try:
        con.execute(f"create or replace table {_quote(schema)}.{_quote(table)} as select {casts} from __ltc_copy")
    finally:
        con.unregister("__ltc_copy")
    return True


def copy_postgres_tables(dsn: str, con: Any, tables: Mapping[str, Sequence[str] | None]) -> list[str]:
    """Copy each ``schema.table`` of `tables` (→ its columns, None for all) into `con`; return the
    ones that existed."""
    copied = []
    for table, columns in tables.items():
        if copy_postgres_table(dsn, con, *split_table(table), columns):
            copied.append(table)
    return copied


@contextmanager
def duckdb_reader(settings: "Settings",
                  tables: Mapping[str, Sequence[str] | None]) -> Iterator["duckdb.DuckDBPyConnection"]:
    """A DuckDB connection to read `tables` (``schema.table`` → the columns to read, None for all)
    of the configured warehouse, closed on exit.

    DuckDB: a read-only connection on the warehouse file, every table in it, inside the shared
    advisory lock (connectors/warehouse_lock.py: it waits for a writer step of another run, and
    holds writers off for the block). Postgres: an in-memory DuckDB holding copies of
    `tables`, only the columns asked for (never columns a check does not read, which may be personal
    data); a table Postgres does not have is not created, so readers see it missing as they would
    in DuckDB. The copy is the price (module docstring; at larger scales, the Postgres `checks`
    phase of `python -m benchmarks.scale --warehouse postgres`)."""
    import duckdb

    from connectors.warehouse_lock import read_connection

    if not is_postgres(settings):
        with read_connection(settings.duckdb_path) as con:
            yield con
        return
    con = duckdb.connect()
    try:
        copy_postgres_tables(postgres_dsn(settings), con, tables)
    except BaseException:
        con.close()
        raise
    try:
        yield con
    finally:
        con.close()


def copy_postgres_schema(dsn: str, path: Path, schema: str) -> list[str]:
    """Write every table and view of the Postgres `schema` into a new DuckDB file at `path`; return
    their names."""
    import duckdb

    names = postgres_relations(dsn, schema)
    con = duckdb.connect(str(path))
    try:
        con.execute(f"create schema if not exists {_quote(schema)}")
        copy_postgres_tables(dsn, con, {f"{schema}.{name}": None for name in names})
    finally:
        con.close()
    return names
