"""Every raw suite passes a good, contract-shaped frame and fails a crafted bad one, reporting
failing rows by key only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest
from raw_frames import GOOD_FRAMES

from expectations.runner import ValidationSummary, validate_frame
from expectations.suites import SUITES_BY_SYSTEM, SuiteSpec

CASES = [
    pytest.param(system, table, spec, id=f"{system}.{table}")
    for system, suites in SUITES_BY_SYSTEM.items()
    for table, spec in suites.items()
]

REQUIRED_TABLES = {
    ("salesforce", "lead"),
    ("salesforce", "opportunity"),
    ("salesforce", "account"),
    ("salesforce", "opportunity_history"),
    ("erp", "customers"),
    ("erp", "sales_orders"),
    ("erp", "invoices"),
    ("finance", "bank_transactions"),
    ("finance", "fx_rates"),
    ("marketing", "ad_spend"),
}


# ERP document details may be empty (and absent): a young company has no deliveries or credit notes.
MAY_BE_EMPTY = {("erp", "sales_order_lines"), ("erp", "deliveries"), ("erp", "invoice_lines"), ("erp", "credit_notes")}


def _key_text(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _with_duplicate_key(df: pd.DataFrame, key: tuple[str, ...]) -> pd.DataFrame:
    """Row 1 gets row 0's key; every other value stays distinct."""
    bad = df.copy()
    for col in key:
        bad[col] = bad[col].astype(object)
        bad.at[1, col] = bad.at[0, col]
    return bad


def _non_key_values(df: pd.DataFrame, key: tuple[str, ...]) -> set[str]:
    """String forms of values that must never appear in a summary."""
    key_texts = {_key_text(v) for col in key for v in df[col] if v is not None}
    values: set[str] = set()
    for col in df.columns:
        if col in key:
            continue
        for v in df[col]:
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                continue
            if isinstance(v, (bool, int, float)) and not isinstance(v, Decimal):
                continue  # 0/1/True/False are not distinguishable from counts and flags
            text = _key_text(v)
            if len(text) >= 4 and not any(text in k for k in key_texts):
                values.add(text)
    return values


def test_required_tables_have_suites_and_frames():
    covered = {(s, t) for s, suites in SUITES_BY_SYSTEM.items() for t in suites}
    assert REQUIRED_TABLES <= covered
    assert covered <= set(GOOD_FRAMES), "every suite needs a good frame in raw_frames.py"


@pytest.mark.parametrize(("system", "table", "spec"), CASES)
def test_spec_shape(system: str, table: str, spec: SuiteSpec):
    suite = spec.suite()
    assert suite.name == f"raw_{system}__{table}"
    assert spec.severity in ("error", "warn")
    assert list(suite.meta["key"]) == list(spec.key_columns)
    types = [e.expectation_type for e in suite.expectations]
    assert ("expect_table_row_count_to_be_between" in types) is ((system, table) not in MAY_BE_EMPTY)
    assert "expect_table_columns_to_match_set" in types
    assert "expect_column_values_to_not_be_null" in types
    assert {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"} & set(types)
    # a fresh suite on every call: runs never share mutable state
    assert spec.suite() is not suite


@pytest.mark.parametrize(("system", "table", "spec"), CASES)
def test_good_frame_passes(system: str, table: str, spec: SuiteSpec):
    df = GOOD_FRAMES[(system, table)]()
    summary = validate_frame(df, spec.suite(), spec.key)
    assert isinstance(summary, ValidationSummary)
    assert summary.success, (summary.failed, summary.errored)
    assert summary.failed == ()
    assert summary.severity is None
    assert summary.evaluated == len(spec.suite().expectations)
    assert summary.suite_name == f"raw_{system}__{table}"


@pytest.mark.parametrize(("system", "table", "spec"), CASES)
def test_duplicate_key_fails_with_key_only(system: str, table: str, spec: SuiteSpec):
    key = spec.key_columns
    bad = _with_duplicate_key(GOOD_FRAMES[(system, table)](), key)
    summary = validate_frame(bad, spec.suite(), spec.key)

    assert not summary.success
    assert summary.severity == "error"
    assert summary.blocking_failed
    unique = next(name for name in summary.failed if "to_be_unique" in name)
    assert summary.unexpected_counts[unique] >= 2
    dup = "|".join(_key_text(bad.at[0, c]) for c in key)
    assert dup in summary.failing_keys[unique]

    text = repr(summary) + str(summary.__dict__)
    leaked = {v for v in _non_key_values(bad, key) if v in text}
    assert not leaked, f"non-key values leaked into the summary: {leaked}"


@pytest.mark.parametrize(("system", "table", "spec"), CASES)
def test_empty_frame_fails_unless_it_may_be_empty(system: str, table: str, spec: SuiteSpec):
    df = GOOD_FRAMES[(system, table)]().iloc[0:0]
    summary = validate_frame(df, spec.suite(), spec.key)
    if (system, table) in MAY_BE_EMPTY:
        assert summary.success
        return
    assert not summary.success
    assert "expect_table_row_count_to_be_between" in summary.failed
    assert summary.severity == "error"


def test_missing_required_column_is_an_error():
    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    df = GOOD_FRAMES[("erp", "invoices")]().drop(columns=["due_date"])
    summary = validate_frame(df, spec.suite(), spec.key)
    assert not summary.success
    assert "expect_table_columns_to_match_set" in summary.failed
    assert summary.severity == "error"


def test_soft_failures_are_warnings():
    spec = SUITES_BY_SYSTEM["salesforce"]["opportunity"]
    df = GOOD_FRAMES[("salesforce", "opportunity")]()
    df["stage_name"] = df["stage_name"].astype(object)
    df.at[0, "stage_name"] = "Verbal Yes"  # not a known stage
    df.at[1, "probability"] = 130.0
    df.at[2, "amount"] = Decimal("2000000000.00")  # above the plausible maximum, not impossible
    summary = validate_frame(df, spec.suite(), spec.key)
    assert not summary.success
    assert summary.severity == "warn"
    assert not summary.blocking_failed
    assert summary.failing_keys["expect_column_values_to_be_in_set(stage_name)"] == (df.at[0, "id"],)
    assert summary.failing_keys["expect_column_values_to_be_between(probability)"] == (df.at[1, "id"],)
    assert summary.failing_keys["expect_column_values_to_be_between(amount)[plausible_max]"] == (df.at[2, "id"],)
    assert "Verbal Yes" not in repr(summary) and "2000000000" not in repr(summary)


def test_negative_money_is_an_error():
    """Money sign makes the numbers wrong: error, blocking (it was a warning before issue 6)."""
    spec = SUITES_BY_SYSTEM["salesforce"]["opportunity"]
    df = GOOD_FRAMES[("salesforce", "opportunity")]()
    df.at[2, "amount"] = Decimal("-5.00")
    summary = validate_frame(df, spec.suite(), spec.key)
    assert summary.failed == ("expect_column_values_to_be_between(amount)",)
    assert summary.severity == "error" and summary.blocking_failed
    assert summary.failing_keys["expect_column_values_to_be_between(amount)"] == (df.at[2, "id"],)
    assert "-5.00" not in repr(summary)


def test_float_money_is_an_error():
    """Money must land as exact decimals; a float column fails the type check (no row keys: it
    is the column that is wrong)."""
    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    df = GOOD_FRAMES[("erp", "invoices")]()
    df["total_amount"] = df["total_amount"].astype(float)
    summary = validate_frame(df, spec.suite(), spec.key)
    assert summary.failed == ("expect_column_values_to_be_of_type(total_amount)",)
    assert summary.severity == "error"
    assert summary.failing_keys == {}


def test_column_pair_order_and_value_sets_on_invoices():
    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    df = GOOD_FRAMES[("erp", "invoices")]()
    df["due_date"] = df["due_date"].astype(object)
    df.at[1, "due_date"] = dt.date(2025, 1, 1)  # before issue_date
    df["status"] = df["status"].astype(object)
    df.at[2, "status"] = "void"
    summary = validate_frame(df, spec.suite(), spec.key)
    assert summary.severity == "warn"
    assert summary.failing_keys["expect_column_pair_values_a_to_be_greater_than_b(due_date,issue_date)"] == ("INV-2",)
    assert summary.failing_keys["expect_column_values_to_be_in_set(status)"] == ("INV-3",)


def test_credit_debit_value_set():
    spec = SUITES_BY_SYSTEM["finance"]["bank_transactions"]
    df = GOOD_FRAMES[("finance", "bank_transactions")]()
    df["credit_debit"] = df["credit_debit"].astype(object)
    df.at[0, "credit_debit"] = "CR"
    summary = validate_frame(df, spec.suite(), spec.key)
    assert summary.failed == ("expect_column_values_to_be_in_set(credit_debit)",)
    assert summary.failing_keys[summary.failed[0]] == ("REF-1",)


def test_compound_key_reported_joined():
    spec = SUITES_BY_SYSTEM["finance"]["fx_rates"]
    df = GOOD_FRAMES[("finance", "fx_rates")]()
    df = pd.concat([df, df.iloc[[0]]], ignore_index=True)
    summary = validate_frame(df, spec.suite(), spec.key)
    assert summary.failing_keys["expect_compound_columns_to_be_unique(rate_date,currency,reporting_currency)"] == (
        "2025-05-02|EUR|USD",
    )


def test_optional_warn_columns_absent_are_skipped_not_failed():
    spec = SUITES_BY_SYSTEM["salesforce"]["opportunity"]
    df = GOOD_FRAMES[("salesforce", "opportunity")]().drop(columns=["amount"])  # all-null: not landed
    summary = validate_frame(df, spec.suite(), spec.key)
    assert summary.success
    # every check on the absent optional column is skipped, error-level money checks included
    assert summary.skipped == (
        "expect_column_values_to_be_of_type(amount)",
        "expect_column_values_to_be_between(amount)",
        "expect_column_values_to_be_between(amount)[plausible_max]",
    )


def test_absent_required_column_still_fails_its_error_checks():
    """`optional` is opt-in: an error check on a column that is not optional still runs (and
    errors) when the column is missing, next to the column-set check."""
    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    df = GOOD_FRAMES[("erp", "invoices")]().drop(columns=["currency"])
    summary = validate_frame(df, spec.suite(), spec.key)
    assert summary.severity == "error"
    assert "expect_table_columns_to_match_set" in summary.failed
    assert "expect_column_values_to_be_in_set(currency)" in summary.errored
    assert summary.skipped == ()


# --- the suites added in issue 6: each fails on its own rule, with the rule's severity ----------


def _set(column, row, value):
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        df[column] = df[column].astype(object)
        df.at[row, column] = value
        return df

    return mutate


NEW_SUITE_FAILURES = [
    # (system, table, mutation, failed label, severity, failing row(s))
    ("erp", "sales_order_lines", _set("unit_price", 1, Decimal("-1.00")),
     "expect_column_values_to_be_between(unit_price)", "error", 1),
    ("erp", "sales_order_lines", _set("quantity", 2, 0), "expect_column_values_to_be_between(quantity)", "warn", 2),
    ("erp", "deliveries", _set("status", 0, "lost"), "expect_column_values_to_be_in_set(status)", "warn", 0),
    ("erp", "deliveries", _set("delivered_date", 0, dt.date(2025, 4, 1)),
     "expect_column_pair_values_a_to_be_greater_than_b(delivered_date,shipped_date)", "warn", 0),
    ("erp", "invoice_lines", _set("tax_amount", 2, Decimal("-0.01")),
     "expect_column_values_to_be_between(tax_amount)", "error", 2),
    ("erp", "invoice_lines", _set("line_number", 1, 1),
     "expect_compound_columns_to_be_unique(invoice_id,line_number)", "warn", (0, 1)),
    ("erp", "credit_notes", _set("currency", 1, "XBT"), "expect_column_values_to_be_in_set(currency)", "error", 1),
    ("erp", "credit_notes", _set("issue_date", 2, dt.date(2999, 1, 1)),
     "expect_column_values_to_be_between(issue_date)[not_future]", "warn", 2),
    ("salesforce", "user", _set("department", 1, "APAC"), "expect_column_values_to_be_in_set(department)", "warn", 1),
    ("salesforce", "contact", _set("account_id", 0, "001-not-an-id"),
     "expect_column_values_to_match_regex(account_id)", "warn", 0),
    ("salesforce", "campaign_member", _set("campaign_id", 2, None),
     "expect_column_values_to_not_be_null(campaign_id)", "error", 2),
    ("salesforce", "currency_type", _set("conversion_rate", 1, Decimal("0")),
     "expect_column_values_to_be_between(conversion_rate)", "error", 1),
    ("salesforce", "currency_type", _set("iso_code", 2, "EUR"),
     "expect_column_values_to_be_unique(iso_code)", "error", (1, 2)),
    ("salesforce", "dated_conversion_rate", _set("start_date", 1, dt.date(2024, 12, 2)),
     "expect_compound_columns_to_be_unique(iso_code,start_date)", "error", (0, 1)),
    ("salesforce", "dated_conversion_rate", _set("iso_code", 2, "ZZZ"),
     "expect_column_values_to_be_in_set(iso_code)", "error", 2),
    ("salesforce", "deleted_records", _set("detected_at", 0, pd.Timestamp("2025-01-01T00:00:00Z")),
     "expect_column_pair_values_a_to_be_greater_than_b(detected_at,deleted_date)", "warn", 0),
    ("finance", "bank_transactions", _set("account_currency", 0, "ABC"),
     "expect_column_values_to_be_in_set(account_currency)", "error", 0),
    ("finance", "fx_rates", _set("rate", 0, Decimal("-1.083500")), "expect_column_values_to_be_between(rate)",
     "error", 0),
    ("marketing", "ad_spend", _set("spend", 1, Decimal("-0.01")), "expect_column_values_to_be_between(spend)",
     "error", 1),
]


@pytest.mark.parametrize(
    ("system", "table", "mutate", "label", "severity", "row"),
    [pytest.param(*case, id=f"{case[0]}.{case[1]}:{case[3]}") for case in NEW_SUITE_FAILURES],
)
def test_rule_fails_alone_with_its_severity(system, table, mutate, label, severity, row):
    spec = SUITES_BY_SYSTEM[system][table]
    good = GOOD_FRAMES[(system, table)]()
    bad = mutate(good.copy())
    summary = validate_frame(bad, spec.suite(), spec.key)
    assert summary.failed == (label,), summary.failed
    assert summary.severity == severity
    assert summary.blocking_failed is (severity == "error")
    rows = row if isinstance(row, tuple) else (row,)
    expected = tuple("|".join(_key_text(bad.at[r, c]) for c in spec.key_columns) for r in rows)
    assert summary.failing_keys[label] == expected
    assert summary.unexpected_counts[label] == len(rows)


def test_labels_are_unique_within_every_suite():
    """A label names one expectation: both engines then report the same labels, in suite order."""
    from expectations.core import config_label
    from expectations.suites import MART_SUITES

    specs = [s for suites in SUITES_BY_SYSTEM.values() for s in suites.values()] + list(MART_SUITES.values())
    for spec in specs:
        labels = [config_label(e.configuration) for e in spec.suite().expectations]
        assert len(labels) == len(set(labels)), spec.suite().name
