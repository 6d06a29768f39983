"""dbt on Spark gives the marts dbt on DuckDB gives (issue 8, "beyond one machine").

One sandbox company lands twice, into DuckDB and as Parquet files (dlt's filesystem destination);
dbt builds DuckDB (target `dev`) and Spark in local mode over the Parquet files (target `spark`,
dbt-spark's session method); every mart must then be equal on both: the same columns and every row,
as a multiset, Decimals exact and at the same scale (benchmarks/spark.py `run_equality_check`, which
`python -m benchmarks.spark --scale 10000` runs at the issue's 10k leads).

Marked `spark` (`make test-spark` installs the `spark` extra and runs these): needs pyspark,
dbt-spark and Java 17; skipped without them, failed under LTC_REQUIRE_SERVICES=1.
LTC_SPARK_TEST_SCALE sets the company's size (leads).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.spark import run_equality_check, spark_available

# The CI-budget scale. Spark's cost here is mostly per model (planning ~70 SQL statements and their
# jobs), not per row: see benchmarks/results/spark_10000.json for the 10k-lead run.
SCALE = int(os.environ.get("LTC_SPARK_TEST_SCALE", "2000"))
CORE_MARTS = ("fct_lead_to_cash", "fct_cash_applications", "fct_ar_aging", "rpt_funnel_conversion",
              "rpt_cash_collection")

pytestmark = [pytest.mark.spark, pytest.mark.timeout(3600)]


def test_spark_marts_equal_duckdb_marts(tmp_path: Path, require_service):
    available, reason = spark_available()
    require_service(available, reason)

    outcome = run_equality_check(tmp_path, SCALE)

    assert outcome["problems"] == [], "\n".join(outcome["problems"])
    # an equality of empty marts would prove nothing: the core marts hold rows
    empty = [name for name in CORE_MARTS if not outcome["marts"].get(name)]
    assert not empty, f"empty core marts: {empty}; built: {outcome['marts']}"
    assert len(outcome["marts"]) >= 20
