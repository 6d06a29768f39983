"""The in-database engine and the pandas/GX engine give the same `ValidationSummary` on the same
data: every raw suite on its good frame and on a frame broken in every column, the mart suites on
broken marts, and the edge cases where they could drift (float money, missing columns, null and
compound keys, more failures than `MAX_KEYS`, optional columns, an expectation SQL cannot do)."""

from __future__ import annotations

import datetime as dt
from dataclasses import fields
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from mart_fixture import build_marts
from raw_frames import GOOD_FRAMES

from expectations.runner import MAX_KEYS, ValidationSummary, validate_marts, validate_table
from expectations.suites import MART_SUITES, SUITES_BY_SYSTEM

RUN = dt.date(2026, 1, 1)
PII = "jane.private@example.org"


def assert_same(sql: ValidationSummary, pandas: ValidationSummary) -> None:
    diffs = {f.name: (getattr(sql, f.name), getattr(pandas, f.name))
             for f in fields(ValidationSummary) if getattr(sql, f.name) != getattr(pandas, f.name)}
    assert not diffs, f"engines disagree (sql, pandas): {diffs}"


def both(db: Path, table: str, suite_factory, key, **kwargs) -> ValidationSummary:
    sql = validate_table(db, table, suite_factory(), key, engine="sql", run_date=RUN, **kwargs)
    pandas = validate_table(db, table, suite_factory(), key, engine="pandas", run_date=RUN, **kwargs)
    assert_same(sql, pandas)
    return sql


def break_every_column(df: pd.DataFrame, key: tuple[str, ...]) -> pd.DataFrame:
    """Row 1 repeats row 0's key; row 2 gets a wrong value in every other column: unknown text,
    negative money and counts, dates and timestamps far in the future, null flags."""
    bad = df.copy()
    for col in bad.columns:
        bad[col] = bad[col].astype(object)
    for col in key:
        bad.at[1, col] = bad.at[0, col]
    for col in bad.columns:
        value = bad.at[2, col]
        if col in key or value is None or (isinstance(value, float) and value != value):
            continue
        if isinstance(value, bool):
            bad.at[2, col] = None
        elif isinstance(value, str):
            bad.at[2, col] = "???"
        elif isinstance(value, Decimal):
            bad.at[2, col] = Decimal("-3.00")
        elif isinstance(value, pd.Timestamp):
            bad.at[2, col] = pd.Timestamp("2999-01-01T00:00:00Z")
        elif isinstance(value, dt.date):
            bad.at[2, col] = dt.date(2999, 1, 1)
        elif isinstance(value, (int, float)):
            bad.at[2, col] = -7
    return bad


def write(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    """Through Arrow: Decimal → DECIMAL, date → DATE, tz-aware → TIMESTAMPTZ, as dlt lands them."""
    arrow = pa.Table.from_pandas(df, preserve_index=False)  # noqa: F841 - read by DuckDB below
    schema = table.split(".")[0]
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"create or replace table {table} as select * from arrow")


@pytest.fixture(scope="module")
def raw_warehouse(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("engines") / "raw.duckdb"
    with duckdb.connect(str(db)) as con:
        for (system, table), make in GOOD_FRAMES.items():
            key = SUITES_BY_SYSTEM[system][table].key_columns
            write(con, f'raw_{system}."{table}"', make())
            write(con, f'raw_{system}."{table}_bad"', break_every_column(make(), key))
    return db


RAW_CASES = [pytest.param(s, t, id=f"{s}.{t}") for s, suites in SUITES_BY_SYSTEM.items() for t in suites]


@pytest.mark.parametrize(("system", "table"), RAW_CASES)
def test_same_summary_on_good_and_broken_tables(raw_warehouse: Path, system: str, table: str):
    spec = SUITES_BY_SYSTEM[system][table]
    good = both(raw_warehouse, f"raw_{system}.{table}", spec.suite, spec.key)
    assert good.success
    bad = both(raw_warehouse, f"raw_{system}.{table}_bad", spec.suite, spec.key)
    assert bad.severity == "error" and len(bad.failed) >= 2 and bad.failing_keys


@pytest.mark.parametrize(
    "breaks",
    [
        [],
        ["update marts.fct_cash_applications set applied_amount = 250 where application_id = 'A2'",
         "update marts.fct_cash_receipts set application_status = 'x', receipt_id = null where receipt_id = 'R4'",
         "update marts.fct_ar_aging set outstanding_amount = -1, aging_bucket = '0-1'",
         "update marts.rpt_funnel_conversion set journeys = 99 where stage_code = 'S2'",
         "update marts.rpt_contract_reconciliation set unordered_amount = 5",
         "insert into marts.rpt_cash_collection values ('2025-12-01', 1, 0, 0, -1, 2)"],
    ],
    ids=["balanced", "broken"],
)
def test_same_summary_on_marts(tmp_path: Path, breaks):
    db = build_marts(tmp_path / "w.duckdb", breaks)
    sql = validate_marts(db, engine="sql", run_date=RUN)
    pandas = validate_marts(db, engine="pandas", run_date=RUN)
    assert len(sql) == len(pandas) == len(MART_SUITES)
    for a, b in zip(sql, pandas):
        assert_same(a, b)
    assert all(s.success for s in sql) is (not breaks)


# --- edge cases ----------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "edge.duckdb"


def test_float_money_fails_the_type_check_in_both(db: Path):
    df = GOOD_FRAMES[("erp", "invoices")]()
    df["total_amount"] = df["total_amount"].astype(float)
    with duckdb.connect(str(db)) as con:
        write(con, "raw_erp.invoices", df)
    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    s = both(db, "raw_erp.invoices", spec.suite, spec.key)
    assert s.failed == ("expect_column_values_to_be_of_type(total_amount)",)
    assert s.unexpected_counts == {} and s.failing_keys == {}


def test_missing_required_column_errors_in_both(db: Path):
    df = GOOD_FRAMES[("erp", "invoices")]().drop(columns=["currency", "due_date"])
    with duckdb.connect(str(db)) as con:
        write(con, "raw_erp.invoices", df)
    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    s = both(db, "raw_erp.invoices", spec.suite, spec.key)
    assert s.failed[0] == "expect_table_columns_to_match_set"
    assert set(s.errored) == {"expect_column_values_to_not_be_null(due_date)",
                              "expect_column_values_to_be_in_set(currency)"}
    assert s.skipped == ("expect_column_pair_values_a_to_be_greater_than_b(due_date,issue_date)",)  # warn level


def test_null_and_compound_keys(db: Path):
    df = GOOD_FRAMES[("marketing", "ad_spend")]()
    df = pd.concat([df, df.iloc[[2]], df.iloc[[2]]], ignore_index=True)
    for col in ("platform", "campaign_id", "date"):
        df[col] = df[col].astype(object)
    df.at[3, "platform"] = None  # (date, None, id) twice: duplicates, nulls equal, as pandas sees them
    df.at[4, "platform"] = None
    df.at[1, "campaign_id"] = None
    with duckdb.connect(str(db)) as con:
        write(con, "raw_marketing.ad_spend", df)
    spec = SUITES_BY_SYSTEM["marketing"]["ad_spend"]
    s = both(db, "raw_marketing.ad_spend", spec.suite, spec.key)
    label = "expect_compound_columns_to_be_unique(date,platform,campaign_id)"
    assert s.unexpected_counts[label] == 2
    assert s.failing_keys[label] == (f"2025-05-02|<null>|{df.at[2, 'campaign_id']}",)
    assert s.failing_keys["expect_column_values_to_not_be_null(campaign_id)"] == ("2025-05-01|meta|<null>",)


def test_more_failures_than_max_keys_report_the_first_in_table_order(db: Path):
    n = 3 * MAX_KEYS
    with duckdb.connect(str(db)) as con:
        con.execute("create schema raw_finance")
        con.execute(
            "create table raw_finance.fx_rates as select date '2025-01-01' + g::int as rate_date, 'EUR' as currency, "
            "'USD' as reporting_currency, (case when g % 2 = 0 then -1 else 1 end)::decimal(18,6) as rate "
            "from range(?) t(g) order by g desc", [n])
    spec = SUITES_BY_SYSTEM["finance"]["fx_rates"]
    s = both(db, "raw_finance.fx_rates", spec.suite, spec.key)
    label = "expect_column_values_to_be_between(rate)"
    assert s.unexpected_counts[label] == n // 2
    keys = s.failing_keys[label]
    assert len(keys) == MAX_KEYS
    assert keys[0] == f"{dt.date(2025, 1, 1) + dt.timedelta(days=n - 2)}|EUR|USD"  # the first row inserted


def test_optional_column_absent_is_skipped_in_both(db: Path):
    with duckdb.connect(str(db)) as con:
        write(con, "raw_salesforce.opportunity", GOOD_FRAMES[("salesforce", "opportunity")]().drop(columns=["amount"]))
    spec = SUITES_BY_SYSTEM["salesforce"]["opportunity"]
    s = both(db, "raw_salesforce.opportunity", spec.suite, spec.key)
    assert s.success and len(s.skipped) == 3


def test_unsupported_expectation_falls_back_to_pandas(db: Path):
    import great_expectations as gx
    import great_expectations.expectations as gxe

    with duckdb.connect(str(db)) as con:
        con.execute("create table t as select * from (values (1, 3), (2, 2), (3, 5)) v(id, x)")

    def suite():
        return gx.ExpectationSuite(name="t", expectations=[
            gxe.ExpectColumnValuesToBeIncreasing(column="x", severity="warning"),
            gxe.ExpectColumnValuesToBeBetween(column="x", max_value=4, severity="critical")])

    s = both(db, "main.t", suite, "id")
    assert s.failed == ("expect_column_values_to_be_increasing(x)", "expect_column_values_to_be_between(x)")
    assert s.failing_keys["expect_column_values_to_be_between(x)"] == ("3",)


def test_sql_engine_reports_keys_never_values(db: Path):
    df = GOOD_FRAMES[("salesforce", "lead")]()
    for col in ("status", "email", "id"):
        df[col] = df[col].astype(object)
    df.at[1, "status"] = PII  # personal data in a checked column
    df.at[2, "email"] = PII
    df.at[2, "id"] = df.at[0, "id"]
    with duckdb.connect(str(db)) as con:
        write(con, "raw_salesforce.lead", df)
    spec = SUITES_BY_SYSTEM["salesforce"]["lead"]
    s = both(db, "raw_salesforce.lead", spec.suite, spec.key)
    assert s.failing_keys["expect_column_values_to_be_in_set(status)"] == (df.at[1, "id"],)
    assert PII not in repr(s) and "jane" not in repr(s).lower()
