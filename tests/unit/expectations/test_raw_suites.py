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
    assert "expect_table_row_count_to_be_between" in types
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
def test_empty_frame_fails(system: str, table: str, spec: SuiteSpec):
    df = GOOD_FRAMES[(system, table)]().iloc[0:0]
    summary = validate_frame(df, spec.suite(), spec.key)
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
    df.at[2, "amount"] = Decimal("-5.00")
    summary = validate_frame(df, spec.suite(), spec.key)
    assert not summary.success
    assert summary.severity == "warn"
    assert not summary.blocking_failed
    assert summary.failing_keys["expect_column_values_to_be_in_set(stage_name)"] == (df.at[0, "id"],)
    assert summary.failing_keys["expect_column_values_to_be_between(probability)"] == (df.at[1, "id"],)
    assert summary.failing_keys["expect_column_values_to_be_between(amount)"] == (df.at[2, "id"],)
    assert "Verbal Yes" not in repr(summary) and "-5.00" not in repr(summary)


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
    assert summary.skipped == ("expect_column_values_to_be_between(amount)",)
