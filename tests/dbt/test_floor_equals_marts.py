"""The floor (benchmarks/floor.sql) computes the five core marts exactly as the dbt pipeline does.

Issue 8 measures the pipeline's transform against a hand-tuned DuckDB script, the floor; the ratio
means something only while both compute the same marts. The floor runs here on a raw-only copy of
the sandbox company (`built_company`: every schema but raw_* dropped, so it can read nothing dbt
built) and each of its marts must equal the pipeline's `marts.<mart>`: the same columns and types,
the same rows (EXCEPT ALL both ways; DECIMAL money compares exactly). A model changed without the
floor following fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.floor import MARTS, compare_files, raw_only_copy, run_floor
from connectors.marts_file import connect_warehouse

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def floor_warehouse(built_company, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("floor") / "raw_only.duckdb"
    raw_only_copy(built_company.warehouse, db)
    run_floor(db, built_company.as_of, temp_directory=db.parent / "duckdb_tmp")
    return db


@pytest.fixture(scope="module")
def comparison(floor_warehouse: Path, built_company) -> dict[str, dict]:
    return compare_files(floor_warehouse, built_company.warehouse)


def test_the_floor_reads_only_raw_tables(floor_warehouse: Path):
    con = connect_warehouse(floor_warehouse, read_only=True)
    try:
        schemas = {r[0] for r in con.execute(
            "select distinct table_schema from information_schema.tables "
            "where table_catalog = current_database()").fetchall()}
    finally:
        con.close()
    assert schemas - {"floor"} and all(s.startswith("raw_") for s in schemas - {"floor"})


@pytest.mark.parametrize("mart", MARTS)
def test_floor_mart_equals_the_pipeline_mart(comparison: dict[str, dict], mart: str):
    result = comparison[mart]
    assert result["pipeline_rows"] > 0, f"marts.{mart} is empty: the comparison would prove nothing"
    assert result["columns_equal"], f"floor.{mart} has other columns or types than marts.{mart}"
    assert result["floor_rows"] == result["pipeline_rows"]
    assert (result["only_in_floor"], result["only_in_pipeline"]) == (0, 0), result
