"""The rules issue 6 added to every raw suite: ISO 4217 currencies, dates not in the future beyond
the tolerance, and row counts that may not shrink against the last validated load."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from raw_frames import GOOD_FRAMES

from connectors.finance.checks import iso4217
from expectations.core import FUTURE_TOLERANCE_DAYS, run_parameters
from expectations.runner import validate_frame, validate_table
from expectations.state import RowCountState, min_rows
from expectations.suites import SUITES_BY_SYSTEM

RUN = dt.date(2025, 7, 1)
ENGINES = ("sql", "pandas")


# --- ISO 4217 ------------------------------------------------------------------------------------


def _invoices_with_currency(code) -> pd.DataFrame:
    df = GOOD_FRAMES[("erp", "invoices")]()
    df["currency"] = df["currency"].astype(object)
    df.at[1, "currency"] = code
    return df


@pytest.mark.parametrize("code", ["XYZ", "usd", "US", "EURO", "€"])
def test_unknown_currency_is_an_error(code):
    """XYZ has the shape of a code (the old ^[A-Z]{3}$ rule let it through) but is none."""
    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    summary = validate_frame(_invoices_with_currency(code), spec.suite(), spec.key, run_date=RUN)
    assert summary.failed == ("expect_column_values_to_be_in_set(currency)",)
    assert summary.severity == "error"
    assert summary.failing_keys[summary.failed[0]] == ("INV-2",)
    assert code not in repr(summary).replace("currency", "")


@pytest.mark.parametrize("code", ["CHF", "JPY", "DEM", "XAU"])
def test_real_iso_codes_pass_including_historic(code):
    """The list is connectors/finance/checks.py's iso4217() (Babel/CLDR, historic codes kept)."""
    assert code in iso4217()
    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    assert validate_frame(_invoices_with_currency(code), spec.suite(), spec.key, run_date=RUN).success


def test_every_currency_check_uses_the_iso_list():
    """No suite falls back to a shape regex for currencies."""
    codes = sorted(iso4217())
    found = 0
    for suites in SUITES_BY_SYSTEM.values():
        for spec in suites.values():
            for exp in spec.suite().expectations:
                config = exp.configuration
                column = config.kwargs.get("column", "")
                if column in ("currency", "currency_iso_code", "account_currency", "reporting_currency", "iso_code"):
                    if config.type == "expect_column_values_to_match_regex":
                        pytest.fail(f"{spec.suite().name}: regex on {column}")
                    if config.type == "expect_column_values_to_be_in_set":
                        assert list(config.kwargs["value_set"]) == codes
                        found += 1
    assert found >= 12


# --- future dates --------------------------------------------------------------------------------


def test_run_parameters_tolerance():
    params = run_parameters(RUN)
    assert params["future_date_limit"] == RUN + dt.timedelta(days=FUTURE_TOLERANCE_DAYS) == dt.date(2025, 7, 3)
    assert params["future_timestamp_limit"] == dt.datetime(2025, 7, 4, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("issue_date", "passes"),
    [(dt.date(2025, 7, 1), True), (dt.date(2025, 7, 3), True), (dt.date(2025, 7, 4), False), (dt.date(2031, 1, 1), False)],
)
def test_future_date_tolerance_on_dates(issue_date, passes):
    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    df = GOOD_FRAMES[("erp", "invoices")]()
    df.at[0, "issue_date"] = issue_date
    df.at[0, "due_date"] = issue_date + dt.timedelta(days=30)
    summary = validate_frame(df, spec.suite(), spec.key, run_date=RUN)
    label = "expect_column_values_to_be_between(issue_date)[not_future]"
    if passes:
        assert summary.success, summary.failed
    else:
        assert summary.failed == (label,)
        assert summary.severity == "warn"  # a future date is suspicious, not wrong money
        assert summary.failing_keys[label] == ("INV-1",)


@pytest.mark.parametrize(
    ("stamp", "passes"),
    [("2025-07-03T23:59:59Z", True), ("2025-07-04T00:00:00Z", False), ("2025-07-03T23:30:00-02:00", False)],
)
def test_future_date_tolerance_on_timestamps(stamp, passes):
    """A timestamp may fall anywhere on the last tolerated day (UTC), not after."""
    spec = SUITES_BY_SYSTEM["salesforce"]["lead"]
    df = GOOD_FRAMES[("salesforce", "lead")]()
    df["created_date"] = df["created_date"].astype(object)
    df.at[2, "created_date"] = pd.Timestamp(stamp).tz_convert("UTC")
    df["created_date"] = pd.to_datetime(df["created_date"], utc=True)
    summary = validate_frame(df, spec.suite(), spec.key, run_date=RUN)
    assert summary.success is passes
    if not passes:
        assert summary.failed == ("expect_column_values_to_be_between(created_date)[not_future]",)
        assert summary.severity == "warn"


def test_run_date_defaults_to_today():
    """Without a run date the limit moves with the clock: a date 3 days ahead of today fails."""
    spec = SUITES_BY_SYSTEM["finance"]["fx_rates"]
    df = GOOD_FRAMES[("finance", "fx_rates")]()
    df.at[2, "rate_date"] = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=3)
    summary = validate_frame(df, spec.suite(), spec.key)
    assert summary.failed == ("expect_column_values_to_be_between(rate_date)[not_future]",)


@pytest.mark.parametrize("engine", ENGINES)
def test_future_dates_in_duckdb(tmp_path: Path, engine: str):
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema raw_finance")
        con.execute("create table raw_finance.fx_rates (rate_date date, currency varchar, "
                    "reporting_currency varchar, rate decimal(18,6))")
        con.execute("insert into raw_finance.fx_rates values ('2025-07-03','EUR','USD',1.1), ('2025-07-04','GBP','USD',1.3)")
    spec = SUITES_BY_SYSTEM["finance"]["fx_rates"]
    summary = validate_table(db, "raw_finance.fx_rates", spec.suite(), spec.key, engine=engine, run_date=RUN)
    assert summary.failing_keys == {"expect_column_values_to_be_between(rate_date)[not_future]": ("2025-07-04|GBP|USD",)}


# --- row-count bounds ----------------------------------------------------------------------------


def _bank_table(db: Path, rows: int) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("create schema if not exists raw_finance")
        con.execute(
            "create or replace table raw_finance.bank_transactions as select 'T' || g as transaction_id, "
            "'f.xml' as file_name, 'S1' as statement_id, 'USD' as account_currency, date '2025-05-01' as booking_date, "
            "'CRDT' as credit_debit, 10.00::decimal(18,2) as amount, 'USD' as currency from range(?) t(g)",
            [rows],
        )


def test_min_rows():
    assert min_rows(1000, 0.10) == 900
    assert min_rows(100, 0.29) == 71  # not 72: 100 × 0.29 is 28.999… in binary floating point
    assert min_rows(5, 0.10) == 5
    assert min_rows(0, 0.10) == 0
    with pytest.raises(ValueError):
        min_rows(10, 1.5)


@pytest.mark.parametrize("engine", ENGINES)
def test_row_count_bound_across_validations(tmp_path: Path, engine: str):
    db, state_dir = tmp_path / "w.duckdb", tmp_path / "state"
    spec = SUITES_BY_SYSTEM["finance"]["bank_transactions"]
    table = "raw_finance.bank_transactions"
    label = "expect_table_row_count_to_be_between[vs_previous]"

    _bank_table(db, 100)
    first = validate_table(db, table, spec.suite(), spec.key, engine=engine, run_date=RUN, state_dir=state_dir)
    assert first.success and label not in first.failed  # first run: no previous count, no bound
    assert first.evaluated == len(spec.suite().expectations)
    assert RowCountState(state_dir).previous(table) == 100

    _bank_table(db, 91)  # lost 9 %: within the 10 % default
    second = validate_table(db, table, spec.suite(), spec.key, engine=engine, run_date=RUN, state_dir=state_dir)
    assert second.success
    assert second.evaluated == first.evaluated + 1  # the bound ran
    assert RowCountState(state_dir).previous(table) == 91

    _bank_table(db, 80)  # lost 12 % of 91: blocked, and the count is NOT recorded
    third = validate_table(db, table, spec.suite(), spec.key, engine=engine, run_date=RUN, state_dir=state_dir)
    assert third.failed == (label,)
    assert third.severity == "error" and third.blocking_failed
    assert RowCountState(state_dir).previous(table) == 91

    _bank_table(db, 95)  # recovered (e.g. the truncated load was re-run)
    assert validate_table(db, table, spec.suite(), spec.key, engine=engine, run_date=RUN, state_dir=state_dir).success
    assert RowCountState(state_dir).previous(table) == 95


def test_row_count_bound_is_configurable_and_growth_is_fine(tmp_path: Path):
    db, state_dir = tmp_path / "w.duckdb", tmp_path / "state"
    spec = SUITES_BY_SYSTEM["finance"]["bank_transactions"]
    _bank_table(db, 100)
    validate_table(db, "raw_finance.bank_transactions", spec.suite(), spec.key, state_dir=state_dir, run_date=RUN)
    _bank_table(db, 99)
    strict = validate_table(db, "raw_finance.bank_transactions", spec.suite(), spec.key, state_dir=state_dir,
                            run_date=RUN, max_shrink=0.0)
    assert strict.failed == ("expect_table_row_count_to_be_between[vs_previous]",)
    _bank_table(db, 5000)
    assert validate_table(db, "raw_finance.bank_transactions", spec.suite(), spec.key, state_dir=state_dir,
                          run_date=RUN, max_shrink=0.0).success


def test_warnings_do_not_stop_the_count_being_recorded(tmp_path: Path):
    db, state_dir = tmp_path / "w.duckdb", tmp_path / "state"
    _bank_table(db, 10)
    with duckdb.connect(str(db)) as con:
        con.execute("update raw_finance.bank_transactions set booking_date = '2030-01-01' where transaction_id = 'T1'")
    spec = SUITES_BY_SYSTEM["finance"]["bank_transactions"]
    summary = validate_table(db, "raw_finance.bank_transactions", spec.suite(), spec.key, state_dir=state_dir,
                             run_date=RUN)
    assert summary.severity == "warn"
    assert RowCountState(state_dir).previous("raw_finance.bank_transactions") == 10


def test_state_file_holds_counts_only(tmp_path: Path):
    state = RowCountState(tmp_path)
    state.record("raw_erp.invoices", 42, dt.datetime(2025, 7, 1, 12, tzinfo=dt.timezone.utc))
    files = list((tmp_path / "row_counts").iterdir())
    assert [f.name for f in files] == ["raw_erp.invoices.json"]  # no temp file left behind
    assert json.loads(files[0].read_text()) == {"table": "raw_erp.invoices", "rows": 42,
                                                "recorded_at": "2025-07-01T12:00:00+00:00"}
    files[0].write_text("{not json")
    assert state.previous("raw_erp.invoices") is None  # unreadable: no bound rather than a crash


def test_no_state_dir_means_no_bound(tmp_path: Path):
    db = tmp_path / "w.duckdb"
    _bank_table(db, 3)
    spec = SUITES_BY_SYSTEM["finance"]["bank_transactions"]
    summary = validate_table(db, "raw_finance.bank_transactions", spec.suite(), spec.key, run_date=RUN)
    assert summary.success and summary.evaluated == len(spec.suite().expectations)
    assert not (tmp_path / "row_counts").exists()


# --- optional tables -----------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("system", "table"),
    [("salesforce", "currency_type"), ("salesforce", "dated_conversion_rate"), ("salesforce", "deleted_records"),
     ("erp", "sales_order_lines"), ("erp", "deliveries"), ("erp", "invoice_lines"), ("erp", "credit_notes")],
)
def test_optional_tables_may_be_absent(tmp_path: Path, engine: str, system: str, table: str):
    """Orgs without the currency objects, no tombstone yet, an ERP mapping without the entity."""
    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).close()
    spec = SUITES_BY_SYSTEM[system][table]
    summary = validate_table(db, f"raw_{system}.{table}", spec.suite(), spec.key, engine=engine)
    assert summary.success and summary.severity is None
    assert summary.skipped == ("table_exists",)


def test_optional_table_that_vanished_is_an_error(tmp_path: Path):
    """Absent because never created is fine; absent after holding rows is a dropped table."""
    db, state_dir = tmp_path / "w.duckdb", tmp_path / "state"
    spec = SUITES_BY_SYSTEM["salesforce"]["deleted_records"]
    with duckdb.connect(str(db)) as con:
        con.execute("create schema raw_salesforce")
        con.execute("create table raw_salesforce.deleted_records (sobject varchar, id varchar, "
                    "deleted_date timestamptz, detected_at timestamptz)")
        con.execute("insert into raw_salesforce.deleted_records values "
                    "('Lead', '00Q000000000007AAA', '2025-03-01 10:00+00', '2025-03-02 00:00+00')")
    first = validate_table(db, "raw_salesforce.deleted_records", spec.suite(), spec.key, state_dir=state_dir)
    assert first.success
    with duckdb.connect(str(db)) as con:
        con.execute("drop table raw_salesforce.deleted_records")
    gone = validate_table(db, "raw_salesforce.deleted_records", spec.suite(), spec.key, state_dir=state_dir)
    assert gone.failed == ("table_exists",) and gone.severity == "error"


def test_required_tables_may_not_be_absent(tmp_path: Path):
    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).close()
    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    summary = validate_table(db, "raw_erp.invoices", spec.suite(), spec.key)
    assert summary.failed == ("table_exists",) and summary.severity == "error"


def test_erp_detail_columns_the_mapping_left_out_are_skipped():
    """A mapping may leave out any canonical column but the key and cursor: money checks on an
    absent column are skipped, on a landed one they are errors."""
    spec = SUITES_BY_SYSTEM["erp"]["invoice_lines"]
    df = GOOD_FRAMES[("erp", "invoice_lines")]().drop(columns=["tax_amount", "line_number"])
    summary = validate_frame(df, spec.suite(), spec.key, run_date=RUN)
    assert summary.success
    assert "expect_column_values_to_be_between(tax_amount)" in summary.skipped
    df["net_amount"] = df["net_amount"].astype(object)
    df.at[0, "net_amount"] = Decimal("-1.00")
    assert validate_frame(df, spec.suite(), spec.key, run_date=RUN).severity == "error"


def test_money_plausible_maximum_is_a_warning():
    spec = SUITES_BY_SYSTEM["finance"]["bank_transactions"]
    df = GOOD_FRAMES[("finance", "bank_transactions")]()
    df.at[0, "amount"] = Decimal("1000000000.01")
    summary = validate_frame(df, spec.suite(), spec.key, run_date=RUN)
    assert summary.failed == ("expect_column_values_to_be_between(amount)[plausible_max]",)
    assert summary.severity == "warn"
