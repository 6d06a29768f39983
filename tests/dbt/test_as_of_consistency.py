"""Every AR and cash figure is as of the as-of date (var as_of), also when it is back-dated.

ltc-metrics.md §0 and §3.4: AR is a balance *as of an explicit date*, after cash applied on or
before that date; an invoice issued later does not exist yet, a receipt booked later has not
arrived. The hand-made raw fixture (raw_fixture.py: I12 issued 2026-01-03, R11 booked 2026-01-15)
is extended here with the cash-application cases the review found:

- I13: a cancelled invoice, past due, that a receipt (R12) still pays: the cash is not applied
  (an unapplied receipt, an exception for finance) and the invoice is no receivable;
- I14 / I15: two live invoices sharing one number, paid by one receipt (R13): one receipt row,
  unapplied (ambiguous), both invoices stay open;
- I16 / I17: a cancelled invoice and its live reissue under the same number: R14 goes to the reissue;
- R15: a prepayment booked 2025-12-20 for I12, which is only issued 2026-01-03: unapplied as of
  2025-12-31 (a payment against a future-dated invoice);
- R16: part payment of I4 booked 2025-11-20, after the back-dated as-of date 2025-10-31.

dbt builds the AR marts twice, as of the fixture's as-of date and back-dated to 2025-10-31. Open AR
is then recomputed in plain Python from the raw tables alone and compared, per invoice and in
total, with fct_invoices, rpt_cash_collection, fct_ar_aging and fct_lead_to_cash.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from connectors.marts_file import connect_warehouse
from conftest import dict_rows, query, run_dbt
from raw_fixture import (AS_OF, EXPECTED, build_raw_fixture, insert_invoices, insert_receipts, invoice_row,
                         receipt_row)

pytestmark = pytest.mark.slow

BACK_DATED = "2025-10-31"
CENT = Decimal("0.01")
INVOICE_REFERENCE = re.compile(r"INV-[0-9]{4}-[0-9]+")  # var invoice_reference_pattern
SELECT = ["+fct_invoices", "+fct_cash_receipts", "+fct_ar_aging", "+rpt_cash_collection", "+fct_lead_to_cash"]


EXTRA_INVOICES = [
    invoice_row("I13", "INV-2025-000013", "CU1", "SO1", "2025-09-01", "2025-10-01", "USD", "300.00", "cancelled"),
    invoice_row("I14", "INV-2025-000014", "CU1", "SO1", "2025-10-05", "2025-11-04", "USD", "200.00"),
    invoice_row("I15", "INV-2025-000014", "CU1", "SO1", "2025-10-06", "2025-11-05", "USD", "200.00"),  # same number
    invoice_row("I16", "INV-2025-000016", "CU2", "SO2", "2025-10-10", "2025-11-09", "EUR", "150.00", "cancelled"),
    invoice_row("I17", "INV-2025-000016", "CU2", "SO2", "2025-10-12", "2025-11-11", "EUR", "150.00"),  # reissue
]

EXTRA_RECEIPTS = [
    receipt_row("R12", "2025-09-20", "USD", "300.00", "Payment INV-2025-000013", "z", "S8"),
    receipt_row("R13", "2025-10-20", "USD", "200.00", "INV-2025-000014", "z", "S8"),
    receipt_row("R14", "2025-10-25", "EUR", "150.00", "INV-2025-000016", "z", "S8"),
    receipt_row("R15", "2025-12-20", "USD", "80.00", "Prepayment INV-2026-000001", "z", "S8"),
    receipt_row("R16", "2025-11-20", "EUR", "50.00", "INV-2025-000004 part", "z", "S8"),
]


def _extend_fixture(db: Path) -> None:
    con = connect_warehouse(db, read_only=False)
    try:
        insert_invoices(con, EXTRA_INVOICES, "load3")
        insert_receipts(con, EXTRA_RECEIPTS, "load3")
    finally:
        con.close()


@pytest.fixture(scope="module", params=[AS_OF, BACK_DATED], ids=["as_of", "back_dated"])
def built(request, tmp_path_factory) -> tuple[Path, dt.date]:
    as_of = request.param
    tmp = tmp_path_factory.mktemp(f"as_of_{as_of}")
    db = build_raw_fixture(tmp / "warehouse.duckdb")
    _extend_fixture(db)
    work = tmp / "dbt_work"
    work.mkdir()
    # the AR marts and what they stand on (tests of unselected models are left out: cautious)
    run = run_dbt(["build", "--select", *SELECT, "--indirect-selection", "cautious"], db, work, as_of=as_of)
    assert run.returncode == 0, run.output[-5000:]
    return db, dt.date.fromisoformat(as_of)


# -- the independent recomputation, from the raw tables only ----------------------------------------

def _rate(fx: list[dict], currency: str, on: dt.date) -> Decimal:
    if currency == "USD":
        return Decimal(1)
    return max((r for r in fx if r["currency"] == currency and r["rate_date"] <= on),
               key=lambda r: r["rate_date"])["rate"]


def expected_as_of(db: Path, as_of: dt.date) -> dict:
    """Invoices and receipts as of `as_of`, from raw_erp.invoices and raw_finance.bank_transactions:
    an invoice exists once issued (deleted ones are left out), a receipt once booked; a receipt's
    cash goes to the invoice its remittance names when exactly one live (not cancelled) invoice
    carries that number and the currencies agree; cash applied = min(total, cash received)."""
    invoices = [i for i in dict_rows(db, "select * from raw_erp.invoices")
                if not i["is_deleted"] and i["issue_date"] <= as_of]
    receipts = [r for r in dict_rows(db, "select * from raw_finance.bank_transactions where credit_debit = 'CRDT'")
                if r["booking_date"] <= as_of]
    fx = dict_rows(db, "select * from raw_finance.fx_rates where reporting_currency = 'USD'")
    live = [i for i in invoices if i["status"] != "cancelled"]
    by_number = defaultdict(list)
    for i in live:
        by_number[i["invoice_number"]].append(i)
    cash = defaultdict(Decimal)
    for r in receipts:
        found = INVOICE_REFERENCE.search(
            f"{r['remittance_unstructured'] or ''} {r['remittance_structured_reference'] or ''}")
        candidates = by_number.get(found.group(0), []) if found else []
        if len(candidates) == 1 and candidates[0]["currency"] == r["currency"]:
            cash[candidates[0]["invoice_id"]] += r["amount"]
    outstanding, reporting, overdue = {}, Decimal(0), Decimal(0)
    for i in invoices:
        if i["status"] == "cancelled":
            outstanding[i["invoice_id"]] = Decimal("0.00")
            continue
        open_amount = i["total_amount"] - min(i["total_amount"], cash[i["invoice_id"]])
        outstanding[i["invoice_id"]] = open_amount
        in_reporting = (open_amount * _rate(fx, i["currency"], i["issue_date"])).quantize(CENT, ROUND_HALF_UP)
        reporting += in_reporting
        if i["due_date"] < as_of:
            overdue += in_reporting
    return {"outstanding": outstanding, "open_ar": reporting, "overdue_ar": overdue,
            "receipts": {r["transaction_id"] for r in receipts},
            "applied": {k: min(v, next(i["total_amount"] for i in live if i["invoice_id"] == k))
                        for k, v in cash.items() if v}}


# -- open AR ----------------------------------------------------------------------------------------

def test_open_ar_equals_independent_recomputation(built):
    """Per invoice and in total, on the as-of date and on a back-dated one: fct_invoices' open
    balances are the raw recomputation, and every AR mart agrees with it."""
    db, as_of = built
    want = expected_as_of(db, as_of)
    got = {r["invoice_id"]: r["outstanding_amount"]
           for r in dict_rows(db, "select invoice_id, outstanding_amount from marts.fct_invoices where not is_deleted")}
    assert got == want["outstanding"]

    (open_ar, overdue_ar), = query(db, """
        select coalesce(sum(outstanding_amount_reporting), 0),
               coalesce(sum(case when days_past_due > 0 then outstanding_amount_reporting else 0 end), 0)
        from marts.fct_invoices where not is_deleted and not is_cancelled""")
    assert (open_ar, overdue_ar) == (want["open_ar"], want["overdue_ar"])
    # sum(outstanding) over every row, cancelled included, is open AR too: nothing outside it is open
    (all_rows,), = query(db, "select sum(outstanding_amount_reporting) from marts.fct_invoices where not is_deleted")
    assert all_rows == want["open_ar"]

    month = as_of.replace(day=1).isoformat()
    assert query(db, "select ending_ar, overdue_ar, period_end from marts.rpt_cash_collection "
                     f"where period_month = '{month}'") == [(want["open_ar"], want["overdue_ar"], as_of)]
    (aging,), = query(db, "select coalesce(sum(outstanding_amount_reporting), 0) from marts.fct_ar_aging "
                          "where is_latest_as_of")
    assert aging == want["open_ar"]
    # every fixture invoice belongs to an opportunity's order, so the journeys carry all of it
    (journeys_open, journeys_overdue), = query(db, "select sum(outstanding_amount_reporting), "
                                                   "sum(overdue_amount_reporting) from marts.fct_lead_to_cash")
    assert (journeys_open, journeys_overdue) == (want["open_ar"], want["overdue_ar"])


def test_no_invoice_issued_after_as_of_is_counted(built):
    db, as_of = built
    rows = dict_rows(db, "select invoice_id, issue_date, as_of_date from marts.fct_invoices")
    assert rows and all(r["issue_date"] <= as_of and r["as_of_date"] == as_of for r in rows)
    assert not EXPECTED["invoices_issued_after_as_of"] & {r["invoice_id"] for r in rows}
    if as_of == dt.date.fromisoformat(BACK_DATED):
        # I4 is issued 2025-11-01: as of 2025-10-31 it is not open AR, nor anything else
        assert "I4" not in {r["invoice_id"] for r in rows}
        assert query(db, "select count(*) from marts.fct_ar_aging where invoice_id = 'I4'") == [(0,)]


def test_is_paid_on_time_not_applicable_to_a_cancelled_invoice(built):
    db, _ = built
    # I13 is cancelled and past due (due 2025-10-01) at both dates; R12 paid it
    assert query(db, "select applied_amount, outstanding_amount, days_past_due, is_fully_paid, is_paid_on_time "
                     "from marts.fct_invoices where invoice_id = 'I13'") == [
        (Decimal("0.00"), Decimal("0.00"), 0, False, None)]


# -- cash receipts ----------------------------------------------------------------------------------

def test_no_receipt_after_as_of_is_listed_or_applied(built):
    db, as_of = built
    want = expected_as_of(db, as_of)
    rows = dict_rows(db, "select * from marts.fct_cash_receipts")
    assert {r["receipt_id"] for r in rows} == want["receipts"]
    assert all(r["booking_date"] <= as_of and r["as_of_date"] == as_of for r in rows)
    assert not EXPECTED["receipts_booked_after_as_of"] & {r["receipt_id"] for r in rows}
    # the intermediate ledger the AR marts read is as of the date as well
    (late,), = query(db, f"select count(*) from intermediate.int_cash_receipts_matched "
                         f"where booking_date > date '{as_of.isoformat()}'")
    assert late == 0
    # cash applied per invoice: the receipts mart, the invoices mart and the recomputation agree
    by_invoice = defaultdict(Decimal)
    for r in rows:
        if r["applied_amount"]:
            by_invoice[r["matched_invoice_id"]] += r["applied_amount"]
    invoices = dict(query(db, "select invoice_id, applied_amount from marts.fct_invoices "
                              "where not is_deleted and applied_amount <> 0"))
    assert dict(by_invoice) == invoices == want["applied"]


def test_receipt_referencing_a_cancelled_invoice_is_unapplied(built):
    db, _ = built
    assert query(db, "select application_status, matched_invoice_id, applied_amount, unapplied_amount, "
                     "unapplied_reason from marts.fct_cash_receipts where receipt_id = 'R12'") == [
        ("unapplied", "I13", Decimal("0.00"), Decimal("300.00"), "invoice cancelled")]
    # the number shared by a cancelled invoice and its live reissue: the cash goes to the reissue
    assert query(db, "select application_status, matched_invoice_id, applied_amount from marts.fct_cash_receipts "
                     "where receipt_id = 'R14'") == [("applied", "I17", Decimal("150.00"))]


def test_duplicate_invoice_number_gives_one_unapplied_receipt_row(built):
    db, _ = built
    for relation in ("intermediate.int_cash_receipts_matched", "marts.fct_cash_receipts"):
        (n_rows, n_receipts), = query(db, f"select count(*), count(distinct receipt_id) from {relation}")
        assert n_rows == n_receipts, relation
        assert query(db, f"select application_status, matched_invoice_id, applied_amount, unapplied_reason "
                         f"from {relation} where receipt_id = 'R13'") == [
            ("unapplied", None, Decimal("0.00"), "ambiguous invoice number")], relation
    assert dict(query(db, "select invoice_id, outstanding_amount from marts.fct_invoices "
                          "where invoice_id in ('I14', 'I15')")) == {"I14": Decimal("200.00"),
                                                                    "I15": Decimal("200.00")}


def test_prepayment_for_an_invoice_not_yet_issued_is_unapplied(built):
    db, as_of = built
    rows = query(db, "select application_status, matched_invoice_id, applied_amount, unapplied_reason "
                     "from marts.fct_cash_receipts where receipt_id = 'R15'")
    if as_of == dt.date.fromisoformat(AS_OF):  # booked 2025-12-20, I12 issued 2026-01-03
        assert rows == [("unapplied", None, Decimal("0.00"), "invoice not yet issued")]
    else:  # not booked yet
        assert rows == []
