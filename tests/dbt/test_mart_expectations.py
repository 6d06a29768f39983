"""The mart suites against marts that dbt really built from the raw fixture (tests/dbt/raw_fixture.py).

The unit tests (tests/unit/expectations/test_mart_suites.py) prove each rule on hand-made marts;
here the same suites meet the real models: the figures dbt builds must conserve money and keep the
cohort funnel monotonic, both engines must agree, and a mart corrupted after the build must be
caught by key. The raw suites run on the fixture too: contract-shaped raw data never blocks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path

import pytest

from conftest import run_dbt  # noqa: E402
from raw_fixture import AS_OF, build_raw_fixture

from connectors.marts_file import connect_warehouse, copy_warehouse
from expectations.runner import validate_marts, validate_table
from expectations.suites import MART_SUITES, SUITES_BY_SYSTEM

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("mart_gx")
    work = tmp / "dbt_work"
    work.mkdir()
    db = build_raw_fixture(tmp / "warehouse.duckdb")
    run = run_dbt(["build"], db, work, as_of=AS_OF)
    assert run.returncode == 0, run.output[-5000:]
    return db


def _by_name(summaries):
    return {s.suite_name.removeprefix("marts__"): s for s in summaries}


def test_built_marts_pass_every_suite_in_both_engines(built: Path):
    sql = validate_marts(built, engine="sql")
    pandas = validate_marts(built, engine="pandas")
    assert [asdict(s) for s in sql] == [asdict(s) for s in pandas]
    for s in sql:
        assert s.success, (s.suite_name, s.failed, dict(s.failing_keys))
    rows = {name: s.row_count for name, s in _by_name(sql).items()}
    assert set(rows) == set(MART_SUITES)
    assert rows["fct_cash_receipts"] == 6 and rows["fct_invoices"] == 4  # the fixture's planted cases
    assert rows["rpt_funnel_conversion"] > 100


def test_raw_fixture_never_blocks(built: Path):
    for system, suites in SUITES_BY_SYSTEM.items():
        for table, spec in suites.items():
            s = validate_table(built, f"raw_{system}.{table}", spec.suite(), spec.key, run_date=dt.date(2026, 6, 1))
            assert not s.blocking_failed, (system, table, s.failed, dict(s.failing_keys))


def test_corrupted_marts_are_caught_by_key(built: Path, tmp_path: Path):
    corrupted = tmp_path / "corrupted.duckdb"
    copy_warehouse(built, corrupted)  # the module's build stays clean for the other tests
    with connect_warehouse(corrupted, read_only=False) as con:
        receipt = con.execute("select receipt_id from marts.fct_cash_receipts "
                              "where application_status = 'partially applied' order by 1 limit 1").fetchall()[0][0]
        con.execute("update marts.fct_cash_receipts set unapplied_amount = unapplied_amount + 0.01 "
                    "where receipt_id = ?", [receipt])
        con.execute("update marts.rpt_funnel_conversion set journeys = journeys + 100 where measure_type = 'cohort' "
                    "and dimension = 'total' and period_month = '2025-01-01' and stage_code = 'S4'")
    for engine in ("sql", "pandas"):
        summaries = _by_name(validate_marts(corrupted, engine=engine))
        receipts = summaries["fct_cash_receipts"]
        assert receipts.severity == "error"
        assert receipts.failing_keys == {"expect_column_pair_values_to_be_equal(amount,applied_plus_unapplied_amount)":
                                         (receipt,)}
        funnel = summaries["rpt_funnel_conversion"]
        assert funnel.severity == "error"
        assert funnel.failing_keys["expect_column_pair_values_a_to_be_greater_than_b(previous_stage_journeys,journeys)"] \
            == ("cohort|total|all|2025-01-01|S4",)
        assert [n for n, s in summaries.items() if not s.success] == ["fct_cash_receipts", "rpt_funnel_conversion"]


@pytest.mark.extended
def test_sandbox_company_passes_raw_and_mart_suites(tmp_path: Path, monkeypatch):
    """The sandbox company landed by the real connectors and built by dbt: no raw suite blocks
    (the connectors' output is what the suites describe), every mart suite passes, both engines
    agree."""
    import os

    from sandbox_pipeline import land_sandbox

    db, truth = land_sandbox(tmp_path, seed=42, scale=int(os.environ.get("LTC_TEST_SCALE", "300")),
                             monkeypatch=monkeypatch)
    for system, suites in SUITES_BY_SYSTEM.items():
        for table, spec in suites.items():
            sql = validate_table(db, f"raw_{system}.{table}", spec.suite(), spec.key, engine="sql")
            pandas = validate_table(db, f"raw_{system}.{table}", spec.suite(), spec.key, engine="pandas")
            assert asdict(sql) == asdict(pandas), (system, table)
            assert not sql.blocking_failed, (system, table, sql.failed, dict(sql.failing_keys))
            assert sql.skipped != ("table_exists",) or table == "deleted_records", (system, table)
    work = tmp_path / "dbt_work"
    work.mkdir()
    run = run_dbt(["build"], db, work, as_of=truth["as_of"])
    assert run.returncode == 0, run.output[-5000:]
    summaries = validate_marts(db)
    assert [asdict(s) for s in summaries] == [asdict(s) for s in validate_marts(db, engine="pandas")]
    for s in summaries:
        assert s.success, (s.suite_name, s.failed, dict(s.failing_keys))
