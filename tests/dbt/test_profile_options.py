"""The DuckDB targets' options (dbt_project/profiles.yml) reach every query dbt runs.

They are DuckDB config options, taken once when dbt-duckdb opens the database, not per-cursor SET
statements; a node's query runs on a cursor of that connection. If a cursor did not inherit them,
timestamps would fall on the machine's local date and the memory limit (where DuckDB spills
instead of dying) would be DuckDB's default.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from conftest import run_dbt  # noqa: E402

pytestmark = pytest.mark.slow


def test_a_node_query_runs_in_utc_under_the_profile_memory_limit(tmp_path: Path, dbt_work: Path):
    db = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(db)).close()
    sql = ("select current_setting('TimeZone') as time_zone, current_setting('memory_limit') as memory_limit, "
           "current_setting('autoinstall_known_extensions') as autoinstall")
    run = run_dbt(["show", "--inline", sql, "--output", "json", "--log-format", "json"], db, dbt_work,
                  extra_env={"TZ": "Pacific/Auckland", "LTC_DBT_MEMORY_LIMIT": "123MB"})
    assert run.returncode == 0, run.output[-3000:]
    previews = [json.loads(line)["data"]["preview"] for line in run.output.splitlines()
                if line.startswith("{") and '"preview"' in line]
    assert previews, run.output[-3000:]
    (row,) = json.loads(previews[-1])
    with duckdb.connect() as con:  # how DuckDB shows a 123MB limit
        limit = con.execute("set memory_limit = '123MB'; select current_setting('memory_limit')").fetchone()[0]
    # without the options: the machine's zone (from TZ) and DuckDB's default limit, 80 % of memory
    assert row == {"time_zone": "UTC", "memory_limit": limit, "autoinstall": False}
