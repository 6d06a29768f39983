"""Suites on the marts and report datasets (schema `marts`, docs/contracts.md §3).

Why datasets, not tables: the rules that keep the reports honest are about money being conserved
*across* columns and rows — an invoice never settled beyond its total, a receipt fully split
into applied + unapplied, a reconciliation gap equal to the difference it names, a cohort funnel
that never grows from one stage to the next. GX's `UnexpectedRowsExpectation` would express them
as SQL, but it needs a SQL datasource, and GX has none for DuckDB here (no `duckdb_engine`). So
each spec carries a small query over the marts that turns the cross-row or cross-table rule into
columns (an aggregate joined on, a `lag()`, a difference), and the suite checks those with
ordinary column and column-pair expectations. Both engines run the same query; failing rows are
reported by key only.

`MART_SUITES[name]` → `MartSuiteSpec`; the suite is named ``marts__<name>``; `validate_marts`
(expectations/runner.py) runs them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from expectations.suites._common import ERROR, WARN, SuiteBuilder

if TYPE_CHECKING:
    import great_expectations as gx

SCHEMA = "marts"
APPLICATION_STATUSES = ("applied", "partially applied", "unapplied", "unidentified")
APPLICATION_METHODS = ("invoice reference", "exact amount", "oldest first", "tolerance")
AGING_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
RECONCILIATION_STATUSES = (
    "no contract", "over invoiced", "not ordered", "delivered not invoiced", "not fully invoiced",
    "open receivable", "partially ordered", "reconciled",
)
FUNNEL_MEASURES = ("cohort", "period")
FUNNEL_DIMENSIONS = ("total", "channel", "campaign", "region", "owner")
FUNNEL_STAGES = ("S1", "S2", "S3", "S4", "S5", "S6")


@dataclass(frozen=True)
class MartSuiteSpec:
    """How to check one report dataset.

    - `sql`: the dataset, a query over schema `marts` (derived columns carry the cross-row rules).
    - `key`: the column(s) identifying a dataset row; failing rows are reported by these only.
    - `tables`: the marts the query reads (a missing one fails the suite with ``table_exists``).
    - `suite`: factory of a fresh GX suite over the dataset's columns.
    """

    suite: Callable[[], "gx.ExpectationSuite"]
    key: tuple[str, ...]
    sql: str
    tables: tuple[str, ...]

    @property
    def key_columns(self) -> tuple[str, ...]:
        return self.key


def _builder(name: str, key: tuple[str, ...]) -> SuiteBuilder:
    return SuiteBuilder("marts", name, key, name=f"marts__{name}", layer="marts")


# --- fct_invoices: applied + written off <= total; outstanding = total - applied - written off --

INVOICES_SQL = """
select
    i.invoice_id, i.currency, i.total_amount, i.applied_amount, i.written_off_amount,
    i.outstanding_amount, i.is_cancelled,
    i.applied_amount + i.written_off_amount as settled_amount,
    case when i.is_cancelled then 0
         else i.total_amount - i.applied_amount - i.written_off_amount end as expected_outstanding_amount,
    coalesce(a.applied_amount, 0) as applications_applied_amount,
    coalesce(a.applied_amount, 0) + coalesce(a.write_off_amount, 0) as applications_settled_amount
from marts.fct_invoices as i
left join (
    select invoice_id, sum(applied_amount) as applied_amount, sum(write_off_amount) as write_off_amount
    from marts.fct_cash_applications
    group by invoice_id
) as a on a.invoice_id = i.invoice_id
"""


def invoices_suite() -> gx.ExpectationSuite:
    b = _builder("fct_invoices", ("invoice_id",))
    b.key_integrity()
    b.required_columns(["currency", "total_amount", "applied_amount", "written_off_amount", "outstanding_amount"])
    b.not_null("total_amount", "applied_amount", "written_off_amount", "outstanding_amount")
    b.currency("currency")
    b.money("total_amount", max_value=None)
    b.money("applied_amount", max_value=None)
    b.money("written_off_amount", max_value=None)
    b.money("outstanding_amount", max_value=None)
    b.ordered("total_amount", "settled_amount", severity=ERROR)  # applied + written off <= total
    b.ordered("total_amount", "applications_settled_amount", severity=ERROR)  # the same from the detail
    b.equal("applied_amount", "applications_applied_amount")  # the header agrees with its applications
    b.equal("outstanding_amount", "expected_outstanding_amount")
    return b.build()


# --- fct_cash_receipts: amount = applied + unapplied per receipt -------------------------------

RECEIPTS_SQL = """
select
    r.receipt_id, r.currency, r.amount, r.applied_amount, r.unapplied_amount, r.application_status,
    r.applied_amount + r.unapplied_amount as applied_plus_unapplied_amount,
    coalesce(a.applied_amount, 0) as applications_applied_amount
from marts.fct_cash_receipts as r
left join (
    select receipt_id, sum(applied_amount) as applied_amount
    from marts.fct_cash_applications
    group by receipt_id
) as a on a.receipt_id = r.receipt_id
"""


def receipts_suite() -> gx.ExpectationSuite:
    b = _builder("fct_cash_receipts", ("receipt_id",))
    b.key_integrity()
    b.required_columns(["currency", "amount", "applied_amount", "unapplied_amount", "application_status"])
    b.not_null("amount", "applied_amount", "unapplied_amount")
    b.currency("currency")
    b.money("amount")
    b.money("applied_amount", max_value=None)
    b.money("unapplied_amount", max_value=None)
    b.equal("amount", "applied_plus_unapplied_amount")  # receipts = applied + unapplied
    b.equal("applied_amount", "applications_applied_amount")
    b.in_set("application_status", APPLICATION_STATUSES)
    return b.build()


# --- fct_cash_applications: non-negative pieces, each pointing at a receipt and an invoice ----

APPLICATIONS_SQL = """
select
    a.application_id, a.receipt_id, a.invoice_id, a.applied_amount, a.write_off_amount,
    a.application_method, a.match_confidence,
    r.receipt_id is not null as receipt_exists,
    i.invoice_id is not null as invoice_exists
from marts.fct_cash_applications as a
left join marts.fct_cash_receipts as r on r.receipt_id = a.receipt_id
left join marts.fct_invoices as i on i.invoice_id = a.invoice_id
"""


def applications_suite() -> gx.ExpectationSuite:
    b = _builder("fct_cash_applications", ("application_id",))
    b.key_integrity()
    b.required_columns(["receipt_id", "invoice_id", "applied_amount", "write_off_amount", "application_method"])
    b.not_null("receipt_id", "invoice_id", "applied_amount", "write_off_amount")
    b.money("applied_amount", max_value=None)
    b.money("write_off_amount", max_value=None)
    b.in_set("receipt_exists", [True], severity=ERROR)  # cash applied from nowhere
    b.in_set("invoice_exists", [True], severity=ERROR)  # cash applied to nothing
    b.in_set("application_method", APPLICATION_METHODS)
    b.between("match_confidence", min_value=0, max_value=1)
    return b.build()


# --- fct_ar_aging: outstanding >= 0 and within the invoice total ------------------------------

AR_AGING_SQL = """
select invoice_id, as_of_date, total_amount, applied_amount, outstanding_amount, aging_bucket, days_past_due
from marts.fct_ar_aging
"""


def ar_aging_suite() -> gx.ExpectationSuite:
    b = _builder("fct_ar_aging", ("invoice_id", "as_of_date"))
    b.key_integrity()
    b.required_columns(["total_amount", "outstanding_amount", "aging_bucket"])
    b.not_null("outstanding_amount", "aging_bucket")
    b.money("outstanding_amount", max_value=None)
    b.ordered("total_amount", "outstanding_amount", severity=ERROR)
    b.in_set("aging_bucket", AGING_BUCKETS)
    return b.build()


# --- rpt_contract_reconciliation: every gap is the difference it names ------------------------

GAPS = {  # gap column: (minuend, subtrahend), as dbt_project/models/marts/rpt_contract_reconciliation.sql
    "unordered_amount": ("contract_value", "ordered_amount"),
    "undelivered_amount": ("ordered_amount", "delivered_amount"),
    "delivered_not_invoiced_amount": ("delivered_amount", "invoiced_amount"),
    "uncollected_amount": ("invoiced_total_amount", "received_amount"),
}


def _gap_columns() -> list[tuple[str, str]]:
    """(gap, its recomputation) for both currencies."""
    pairs = []
    for gap, (a, b) in GAPS.items():
        pairs.append((gap, f"{a} - {b}"))
        pairs.append((f"{gap}_reporting", f"{a}_reporting - {b}_reporting"))
    return pairs


CONTRACT_RECONCILIATION_SQL = (
    "select reconciliation_key, section, reconciliation_status, currency, "
    + ", ".join(f"{gap}, {expr} as expected_{gap}" for gap, expr in _gap_columns())
    + " from marts.rpt_contract_reconciliation"
)


def contract_reconciliation_suite() -> gx.ExpectationSuite:
    b = _builder("rpt_contract_reconciliation", ("reconciliation_key",))
    b.key_integrity()
    b.required_columns([gap for gap, _ in _gap_columns()] + ["reconciliation_status"])
    for gap, _ in _gap_columns():
        b.equal(gap, f"expected_{gap}")
    b.in_set("reconciliation_status", RECONCILIATION_STATUSES)
    b.in_set("section", ("contract", "no contract"))
    return b.build()


# --- rpt_funnel_conversion: a cohort never grows from one stage to the next --------------------

FUNNEL_KEY = ("measure_type", "dimension", "dimension_value", "period_month", "stage_code")
FUNNEL_SQL = """
select
    measure_type, dimension, dimension_value, period_month, stage_code, stage_order, journeys,
    conversion_from_previous,
    case when measure_type = 'cohort' then lag(journeys) over (
        partition by measure_type, dimension, dimension_value, period_month order by stage_order
    ) end as previous_stage_journeys,
    case when measure_type = 'cohort' then conversion_from_previous end as cohort_conversion
from marts.rpt_funnel_conversion
"""


def funnel_suite() -> gx.ExpectationSuite:
    b = _builder("rpt_funnel_conversion", FUNNEL_KEY)
    b.key_integrity()
    b.required_columns(["stage_order", "journeys", "conversion_from_previous"])
    b.not_null("journeys")
    b.between("journeys", min_value=0, severity=ERROR)
    b.ordered("previous_stage_journeys", "journeys", severity=ERROR)  # monotonic within a cohort
    b.between("cohort_conversion", min_value=0, max_value=1, severity=ERROR)
    b.in_set("measure_type", FUNNEL_MEASURES)
    b.in_set("dimension", FUNNEL_DIMENSIONS)
    b.in_set("stage_code", FUNNEL_STAGES)
    return b.build()


# --- rpt_cash_collection: AR splits into current + overdue; rates are rates --------------------

CASH_COLLECTION_SQL = """
select period_month, ending_ar, current_ar, overdue_ar, collected_amount, on_time_collection_rate,
       current_ar + overdue_ar as current_plus_overdue_ar
from marts.rpt_cash_collection
"""


def cash_collection_suite() -> gx.ExpectationSuite:
    b = _builder("rpt_cash_collection", ("period_month",))
    b.key_integrity()
    b.required_columns(["ending_ar", "current_ar", "overdue_ar", "collected_amount"])
    b.money("ending_ar", max_value=None)
    b.money("collected_amount", max_value=None)
    b.equal("ending_ar", "current_plus_overdue_ar")
    b.between("on_time_collection_rate", min_value=0, max_value=1, severity=WARN)
    return b.build()


def _tables(*names: str) -> tuple[str, ...]:
    return tuple(f"{SCHEMA}.{n}" for n in names)


MART_SUITES: dict[str, MartSuiteSpec] = {
    "fct_invoices": MartSuiteSpec(
        invoices_suite, ("invoice_id",), INVOICES_SQL, _tables("fct_invoices", "fct_cash_applications")
    ),
    "fct_cash_receipts": MartSuiteSpec(
        receipts_suite, ("receipt_id",), RECEIPTS_SQL, _tables("fct_cash_receipts", "fct_cash_applications")
    ),
    "fct_cash_applications": MartSuiteSpec(
        applications_suite, ("application_id",), APPLICATIONS_SQL,
        _tables("fct_cash_applications", "fct_cash_receipts", "fct_invoices"),
    ),
    "fct_ar_aging": MartSuiteSpec(ar_aging_suite, ("invoice_id", "as_of_date"), AR_AGING_SQL, _tables("fct_ar_aging")),
    "rpt_contract_reconciliation": MartSuiteSpec(
        contract_reconciliation_suite, ("reconciliation_key",), CONTRACT_RECONCILIATION_SQL,
        _tables("rpt_contract_reconciliation"),
    ),
    "rpt_funnel_conversion": MartSuiteSpec(funnel_suite, FUNNEL_KEY, FUNNEL_SQL, _tables("rpt_funnel_conversion")),
    "rpt_cash_collection": MartSuiteSpec(
        cash_collection_suite, ("period_month",), CASH_COLLECTION_SQL, _tables("rpt_cash_collection")
    ),
}
