"""Read the test run's DuckDB warehouse (`Settings.from_env().duckdb_path`) read-only.

Kept here (on `sys.path` through tests/conftest.py) because tests/ has no packages: test modules
cannot import each other.
"""

from connectors.marts_file import connect_warehouse
from connectors.settings import Settings


def query(sql: str) -> list[tuple]:
    con = connect_warehouse(Settings.from_env().duckdb_path, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
