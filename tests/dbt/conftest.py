"""Helpers for the dbt tests: run dbt against a throwaway DuckDB file, in isolation.

Every run gets its own warehouse file, target path and log path under pytest's tmp dir, so dbt
runs in parallel (pytest-xdist, other engineers' runs) never share a manifest or a database.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.marts_file import connect_warehouse
from orchestration.prepare import dbt_executable  # the dbt the pipeline runs (ltc-dbt)

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"


@dataclass
class DbtRun:
    returncode: int
    output: str
    seconds: float


def run_dbt(args: list[str], duckdb_path: Path, work: Path, as_of: str = "2025-12-31",
            extra_env: dict[str, str] | None = None, project_dir: Path = DBT_PROJECT,
            reporting_currency: str | None = None) -> DbtRun:
    """Run `dbt <args>` on the project (or a copy of it, `project_dir`) with the ci target against
    `duckdb_path`; `reporting_currency` sets that var (a sandbox's ground truth says which)."""
    env = {
        **os.environ,
        "DBT_TARGET": "ci",
        "LTC_DUCKDB_PATH": str(duckdb_path),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
        "DO_NOT_TRACK": "1",
        **(extra_env or {}),
    }
    cmd = [
        dbt_executable(), *args,
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project_dir),
        "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"),
        "--vars", json.dumps({"as_of": as_of, **({"reporting_currency": reporting_currency}
                                                    if reporting_currency else {})}),
    ]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=900)
    return DbtRun(proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - started)


def query(duckdb_path: Path, sql: str):
    con = connect_warehouse(duckdb_path, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def dict_rows(duckdb_path: Path, sql: str) -> list[dict]:
    """`query`, each row a dict by column name."""
    con = connect_warehouse(duckdb_path, read_only=True)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()


def pg_dsn(dbname: str) -> str:
    """libpq DSN of database `dbname` on the test Postgres server (127.0.0.1, trust auth by default)."""
    host = os.environ.get("LTC_PG_HOST", "127.0.0.1")
    user = os.environ.get("LTC_PG_USER", "postgres")
    password = os.environ.get("DBT_ENV_SECRET_PG_PASSWORD", "")
    return f"host={host} user={user} dbname={dbname}" + (f" password={password}" if password else "")


@pytest.fixture
def dbt_work(tmp_path: Path) -> Path:
    work = tmp_path / "dbt_work"
    work.mkdir()
    return work
