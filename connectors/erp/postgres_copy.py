"""Put ERP data into Postgres: a throw-away database, and the sandbox ERP under another mapping's names.

Why it lives here: the integration tests (second mapping on Postgres) and `benchmarks/erp.py` both
need a real Postgres ERP, and `ltc`'s users can use it to try a mapping file against the sandbox data
before pointing it at their own ERP.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

PG_ADMIN = os.environ.get("LTC_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
_PG_TYPES = {"text": "TEXT", "currency": "TEXT", "date": "DATE", "timestamp": "TIMESTAMP",
             "money": "NUMERIC(18,2)", "int": "INTEGER", "flag": "INTEGER"}


@contextlib.contextmanager
def pg_database(name: str, admin_dsn: str = PG_ADMIN):
    """Create database `name`, yield its DSN, drop it afterwards."""
    import psycopg2

    con = psycopg2.connect(admin_dsn)
    con.autocommit = True
    try:
        con.cursor().execute(f'create database "{name}"')
        dsn = admin_dsn.rsplit("/", 1)[0] + f"/{name}"
        yield dsn
    finally:
        cur = con.cursor()
        cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()", (name,))
        cur.execute(f'drop database if exists "{name}"')
        con.close()


def copy_sqlite_to_postgres(sqlite_path: Path, dsn: str, mapping) -> None:
    """Write the sandbox ERP (canonical names) into Postgres under `mapping`'s table/column names."""
    import psycopg2
    from psycopg2.extras import execute_values

    from connectors.erp.mapping import CANONICAL

    src = sqlite3.connect(sqlite_path)
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        if mapping.schema:
            cur.execute(f'create schema if not exists "{mapping.schema}"')
        prefix = f'"{mapping.schema}".' if mapping.schema else ""
        for entity, e in mapping.entities.items():
            cols = ", ".join(f'"{s}" {_PG_TYPES[CANONICAL[entity][c]]}' for c, s in e.columns.items())
            cur.execute(f'create table {prefix}"{e.table}" ({cols}, primary key ("{e.source(e.key)}"))')
            select = ", ".join(f"cast({c} as text)" if CANONICAL[entity][c] == "money" else c for c in e.columns)
            rows = src.execute(f"select {select} from {entity}").fetchall()
            names = ", ".join(f'"{s}"' for s in e.columns.values())
            execute_values(cur, f'insert into {prefix}"{e.table}" ({names}) values %s', rows, page_size=5000)
    src.close()
