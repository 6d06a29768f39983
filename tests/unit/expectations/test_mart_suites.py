"""The mart suites on a small hand-made `marts` schema: the balanced data passes every suite, and
each money-conservation or funnel rule, broken once, fails with the right severity and the key of
the offending row only. Both engines run every case (they must agree: test_engines.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mart_fixture import build_marts

from expectations.runner import validate_marts
from expectations.suites import MART_SUITES

ENGINES = ("sql", "pandas")


def _by_name(summaries):
    return {s.suite_name.removeprefix("marts__"): s for s in summaries}


def test_specs_shape():
    assert set(MART_SUITES) >= {"fct_invoices", "fct_cash_receipts", "fct_cash_applications", "fct_ar_aging",
                                "rpt_contract_reconciliation", "rpt_funnel_conversion", "rpt_cash_collection"}
    for name, spec in MART_SUITES.items():
        suite = spec.suite()
        assert suite.name == f"marts__{name}"
        assert list(suite.meta["key"]) == list(spec.key)
        assert all(t.startswith("marts.") for t in spec.tables)


@pytest.mark.parametrize("engine", ENGINES)
def test_balanced_marts_pass(tmp_path: Path, engine: str):
    db = build_marts(tmp_path / "w.duckdb")
    summaries = validate_marts(db, engine=engine)
    assert [s.suite_name for s in summaries] == [f"marts__{n}" for n in MART_SUITES]
    for s in summaries:
        assert s.success, (s.suite_name, s.failed, s.errored)
        assert s.evaluated > 0 and s.row_count > 0


# (break, dataset, failed label, severity, failing keys)
BREAKS = [
    pytest.param(
        ["update marts.fct_cash_applications set applied_amount = 250 where application_id = 'A2'"],
        "fct_invoices",
        {"expect_column_pair_values_a_to_be_greater_than_b(total_amount,applications_settled_amount)": ("I2",),
         "expect_column_pair_values_to_be_equal(applied_amount,applications_applied_amount)": ("I2",)},
        "error",
        id="invoice-over-applied-by-its-applications",
    ),
    pytest.param(
        ["update marts.fct_invoices set applied_amount = 75, outstanding_amount = -5 where invoice_id = 'I3'"],
        "fct_invoices",
        {"expect_column_values_to_be_between(outstanding_amount)": ("I3",),
         "expect_column_pair_values_a_to_be_greater_than_b(total_amount,settled_amount)": ("I3",),
         "expect_column_pair_values_to_be_equal(applied_amount,applications_applied_amount)": ("I3",)},
        "error",
        id="applied-plus-written-off-above-total",
    ),
    pytest.param(
        ["update marts.fct_invoices set outstanding_amount = 60 where invoice_id = 'I2'"],
        "fct_invoices",
        {"expect_column_pair_values_to_be_equal(outstanding_amount,expected_outstanding_amount)": ("I2",)},
        "error",
        id="outstanding-not-total-minus-settled",
    ),
    pytest.param(
        ["update marts.fct_cash_receipts set unapplied_amount = 40 where receipt_id = 'R2'"],
        "fct_cash_receipts",
        {"expect_column_pair_values_to_be_equal(amount,applied_plus_unapplied_amount)": ("R2",)},
        "error",
        id="receipt-not-applied-plus-unapplied",
    ),
    pytest.param(
        ["update marts.fct_cash_receipts set application_status = 'matched' where receipt_id = 'R4'"],
        "fct_cash_receipts",
        {"expect_column_values_to_be_in_set(application_status)": ("R4",)},
        "warn",
        id="unknown-application-status",
    ),
    pytest.param(
        ["update marts.fct_cash_applications set invoice_id = 'I9' where application_id = 'A3'"],
        "fct_cash_applications",
        {"expect_column_values_to_be_in_set(invoice_exists)": ("A3",)},
        "error",
        id="application-to-unknown-invoice",
    ),
    pytest.param(
        ["update marts.fct_ar_aging set outstanding_amount = -1 where as_of_date = '2025-12-31'"],
        "fct_ar_aging",
        {"expect_column_values_to_be_between(outstanding_amount)": ("I2|2025-12-31",)},
        "error",
        id="negative-outstanding-in-aging",
    ),
    pytest.param(
        ["update marts.rpt_contract_reconciliation set uncollected_amount = 0 where section = 'no contract'"],
        "rpt_contract_reconciliation",
        {"expect_column_pair_values_to_be_equal(uncollected_amount,expected_uncollected_amount)": ("no contract:EUR",)},
        "error",
        id="reconciliation-gap-not-its-difference",
    ),
    pytest.param(
        ["update marts.rpt_contract_reconciliation set undelivered_amount_reporting = 1 where reconciliation_key = 'C1'"],
        "rpt_contract_reconciliation",
        {"expect_column_pair_values_to_be_equal(undelivered_amount_reporting,expected_undelivered_amount_reporting)":
         ("C1",)},
        "error",
        id="reporting-gap-not-its-difference",
    ),
    pytest.param(
        ["update marts.rpt_funnel_conversion set journeys = 9, conversion_from_previous = 1.8 "
         "where measure_type = 'cohort' and dimension = 'total' and stage_code = 'S3'"],
        "rpt_funnel_conversion",
        {"expect_column_pair_values_a_to_be_greater_than_b(previous_stage_journeys,journeys)":
         ("cohort|total|all|2025-01-01|S3",),
         "expect_column_values_to_be_between(cohort_conversion)": ("cohort|total|all|2025-01-01|S3",)},
        "error",
        id="cohort-funnel-grows",
    ),
    pytest.param(
        ["update marts.rpt_cash_collection set current_ar = 10 where period_month = '2025-12-01'"],
        "rpt_cash_collection",
        {"expect_column_pair_values_to_be_equal(ending_ar,current_plus_overdue_ar)": ("2025-12-01",)},
        "error",
        id="ending-ar-not-current-plus-overdue",
    ),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("breaks", "dataset", "expected", "severity"), BREAKS)
def test_each_broken_rule_fails_by_key(tmp_path: Path, engine, breaks, dataset, expected, severity):
    db = build_marts(tmp_path / "w.duckdb", breaks)
    summaries = _by_name(validate_marts(db, engine=engine))
    s = summaries[dataset]
    assert dict(s.failing_keys) == expected
    assert set(s.failed) == set(expected)
    assert s.severity == severity
    others = [n for n, o in summaries.items() if not o.success and n != dataset]
    if dataset not in ("fct_invoices", "fct_cash_applications", "fct_cash_receipts"):  # those share marts
        assert others == []


def test_period_funnel_rows_may_grow(tmp_path: Path):
    """Period rows compare two populations: only cohort rows must shrink stage by stage."""
    db = build_marts(tmp_path / "w.duckdb", [
        "update marts.rpt_funnel_conversion set journeys = 40 where measure_type = 'period' and stage_code = 'S3'"])
    (s,) = validate_marts(db, names=["rpt_funnel_conversion"])
    assert s.success


def test_missing_mart_fails_as_error(tmp_path: Path):
    db = build_marts(tmp_path / "w.duckdb", drop=["fct_cash_applications"])
    summaries = _by_name(validate_marts(db))
    for name in ("fct_invoices", "fct_cash_receipts", "fct_cash_applications"):
        assert summaries[name].failed == ("table_exists",) and summaries[name].severity == "error"
    assert summaries["rpt_funnel_conversion"].success
