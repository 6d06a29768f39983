"""A throwaway database on the local Postgres server (127.0.0.1:5432, trust auth), for tests.

Why shared: every Postgres test needs the same dance: connect as the admin, skip (or, under
LTC_REQUIRE_SERVICES=1, fail) when the server is not there, create a uniquely named database and
drop it afterwards, even when the test failed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def dsn(dbname: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{dbname}"


@contextmanager
def fresh_database(require_service: Callable[[bool, str], None], prefix: str) -> Iterator[str]:
    """Yield the name of a new, empty database `<prefix>_<random>`; drop it on exit."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(ADMIN_DSN, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        require_service(False, f"no Postgres on 127.0.0.1:5432: {exc}")
    admin.autocommit = True
    dbname = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin.cursor().execute(f"create database {dbname}")
    try:
        yield dbname
    finally:
        admin.cursor().execute(f"drop database if exists {dbname} with (force)")
        admin.close()
