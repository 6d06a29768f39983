"""Late and out-of-order data (issue 9 item 4, part b): a backdated receipt changes the AR aging and
DSO only of the as-of dates it should.

A bank statement can reach the drop folder weeks after the day it covers (a late bank export, a
missing day re-sent). The sandbox company (seed 13, 250 leads) is landed through the real
connectors and `+fct_ar_aging +rpt_cash_collection` built as of its as-of date, and back-dated to
the day before the booking date B used below. Then a CAMT.053 statement, written by the sandbox's
own one-day statement writer (connectors/sandbox/mutate.py, the generator's entry format), lands
through `run_ingest("finance")`: one receipt booked on B, in an earlier month M, paying part of a
reporting-currency invoice that had no cash at all and was open at the month ends before M, with
a remittance naming the invoice (cash-application rule 1). Both builds are rerun and compared to
the cent with the ones before:

- rpt_cash_collection: the months before M are identical; from M on collections and cash applied
  rise by the receipt, ending AR falls by it (and beginning AR from M+1, current or overdue AR by
  the invoice's due date), billings do not move, DSO is ending AR / billings x days again;
- fct_ar_aging: every month-end row dated before B is identical; from B on only the paid invoice's
  rows change, its open amount down by the receipt; every other invoice's rows are identical;
- the build as of B - 1 is identical before and after: an as-of date before the booking date
  cannot see the receipt.

The comparison helpers are also run against a wrong booking month (M + 1) and must fail there,
so the test cannot pass by comparing nothing.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import types
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SEED, SCALE = 13, 250
SELECT = ["+fct_ar_aging", "+rpt_cash_collection"]
CENT = Decimal("0.01")
SHARE_PAID = Decimal("0.4")  # a part payment: the invoice stays open, with a smaller balance


def _dbt_helpers():
    """tests/dbt's conftest (run_dbt, dict_rows) and sandbox_pipeline (land_sandbox), loaded by
    path: tests/ has no packages and tests/reliability has a conftest of its own."""
    sys.path.insert(0, str(TESTS / "dbt"))
    spec = importlib.util.spec_from_file_location("dbt_test_helpers", TESTS / "dbt" / "conftest.py")
    helpers = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = helpers  # its dataclass looks its module up there
    spec.loader.exec_module(helpers)
    import sandbox_pipeline

    return helpers, sandbox_pipeline


def _month(d: dt.date) -> dt.date:
    return d.replace(day=1)


def _add_months(d: dt.date, n: int) -> dt.date:
    index = d.year * 12 + d.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def _snapshot(helpers, db: Path) -> dict:
    """rpt_cash_collection by month and fct_ar_aging by (as-of date, invoice), every column."""
    report = helpers.dict_rows(db, "select * from marts.rpt_cash_collection order by period_month")
    aging = helpers.dict_rows(db, "select * from marts.fct_ar_aging order by as_of_date, invoice_id")
    snap = {"report": {r["period_month"]: r for r in report},
            "aging": {(r["as_of_date"], r["invoice_id"]): r for r in aging}}
    assert len(snap["report"]) == len(report) and len(snap["aging"]) == len(aging)
    return snap


def _build(helpers, db: Path, work: Path, as_of: dt.date) -> dict:
    run = helpers.run_dbt(["run", "--select", *SELECT], db, work, as_of=as_of.isoformat())
    assert run.returncode == 0, run.output[-5000:]
    return _snapshot(helpers, db)


def _check_report(before: dict, after: dict, invoice: dict, booking: dt.date, amount: Decimal) -> None:
    """Months before the booking month identical; from it on, the receipt moves collections, cash
    applied and AR by exactly its amount (reporting currency = invoice currency), DSO follows."""
    month = _month(booking)
    assert before["report"].keys() == after["report"].keys()
    for period, old in before["report"].items():
        new = after["report"][period]
        if period < month:
            assert new == old, f"{period}: a month before the receipt's booking month changed"
            continue
        here = period == month
        assert new["invoiced_amount"] == old["invoiced_amount"], period
        assert new["collected_amount"] == old["collected_amount"] + (amount if here else 0), period
        assert new["applied_amount"] == old["applied_amount"] + (amount if here else 0), period
        assert new["beginning_ar"] == old["beginning_ar"] - (0 if here else amount), period
        assert new["ending_ar"] == old["ending_ar"] - amount, period
        overdue = invoice["due_date"] < new["period_end"]
        assert new["overdue_ar"] == old["overdue_ar"] - (amount if overdue else 0), period
        assert new["current_ar"] == old["current_ar"] - (0 if overdue else amount), period
        if new["invoiced_amount"]:
            want = (new["ending_ar"] * new["period_days"] / new["invoiced_amount"]).quantize(CENT, ROUND_HALF_UP)
            assert new["dso_days"] == want != old["dso_days"], period
        else:
            assert new["dso_days"] is None and old["dso_days"] is None, period


def _check_aging(before: dict, after: dict, invoice: dict, booking: dt.date, amount: Decimal) -> None:
    """Rows dated before the booking date identical; from it on, only the paid invoice's rows
    change: open amount down by the receipt, still open (a part payment)."""
    assert before["aging"].keys() == after["aging"].keys()
    paid_rows = 0
    for key, old in before["aging"].items():
        new = after["aging"][key]
        as_of, invoice_id = key
        if as_of < booking or invoice_id != invoice["invoice_id"]:
            assert new == old, f"{key}: an aging row the receipt cannot reach changed"
            continue
        paid_rows += 1
        assert new["applied_amount"] == old["applied_amount"] + amount, key
        assert new["outstanding_amount"] == old["outstanding_amount"] - amount, key
        assert new["outstanding_amount_reporting"] == old["outstanding_amount_reporting"] - amount, key
        assert new["last_payment_date"] == booking and old["last_payment_date"] is None, key
        assert {k: v for k, v in new.items() if k not in {"applied_amount", "outstanding_amount",
                                                        "outstanding_amount_reporting", "last_payment_date"}} \
            == {k: v for k, v in old.items() if k not in {"applied_amount", "outstanding_amount",
                                                        "outstanding_amount_reporting", "last_payment_date"}}, key
    assert paid_rows, "the paid invoice has no aging row on or after the booking date"


def _land_receipt(root: Path, invoice: dict, customer: dict, booking: dt.date, amount: Decimal) -> str:
    """A one-day CAMT.053 statement of the reporting-currency account with one receipt booked on
    `booking`, written by the sandbox's statement writer into the finance drop folder."""
    from connectors.sandbox import mutate

    entry = {"kind": "receipt", "booking": booking, "amount": amount,
             "ref": f"{invoice['currency']}{booking:%Y%m%d}LATE0001",
             "receipt": {"value": booking, "e2e": "E2EBACKDATED0001",
                         "reference": f"{invoice['invoice_number']} part payment",
                         "invoice": {"customer": {"payer_name": customer["name"], "iban": customer["iban"],
                                                  "acct_no": "987654321"}}}}
    # the writer reads only `day` from its sandbox mutation: the statement's date
    name = mutate._Mutation._statement(types.SimpleNamespace(day=booking), root / "finance" / "statements",
                                       invoice["currency"], [entry])
    assert name.startswith("camt053_"), name
    return name


def test_backdated_receipt_changes_only_the_as_of_dates_on_or_after_its_booking_date(ltc_home, tmp_path,
                                                                                     monkeypatch):
    from connectors.ingest import run_ingest

    helpers, sandbox_pipeline = _dbt_helpers()
    db, truth = sandbox_pipeline.land_sandbox(tmp_path, seed=SEED, scale=SCALE, monkeypatch=monkeypatch)
    root = tmp_path / "ltc_home" / "sandbox"
    as_of = dt.date.fromisoformat(truth["as_of"])
    work = tmp_path / "dbt_work"
    work.mkdir()
    before = _build(helpers, db, work, as_of)

    # the oldest reporting-currency invoice without any cash, open at least two month ends before
    # the as-of month; the receipt is booked mid-way between its issue month and the as-of month
    candidates = helpers.dict_rows(db, f"""
        select i.invoice_id, i.invoice_number, i.currency, i.issue_date, i.due_date, i.total_amount,
               c.name, c.iban
        from marts.fct_invoices as i
        inner join raw_erp.customers as c on c.customer_id = i.customer_id
        where not i.is_deleted and not i.is_cancelled and i.currency = i.reporting_currency
            and i.applied_amount = 0 and i.outstanding_amount = i.total_amount
            and i.issue_date < date '{_add_months(_month(as_of), -2).isoformat()}'
            and (select count(*) from marts.fct_invoices as o where o.invoice_number = i.invoice_number) = 1
        order by i.issue_date, i.invoice_id""")
    assert candidates, "the sandbox has no unpaid invoice open since two months before the as-of date"
    invoice = candidates[0]
    gap = (as_of.year - invoice["issue_date"].year) * 12 + as_of.month - invoice["issue_date"].month
    booking = _add_months(_month(invoice["issue_date"]), max(1, gap // 2)).replace(day=15)
    amount = (invoice["total_amount"] * SHARE_PAID).quantize(CENT, ROUND_HALF_UP)
    assert invoice["issue_date"] < booking and _month(booking) < _month(as_of)
    assert any(period < _month(booking) for period in before["report"])  # months that must not move
    assert any(a < booking and i == invoice["invoice_id"] for (a, i) in before["aging"])  # open before B

    back_dated = booking - dt.timedelta(days=1)
    back_before = _build(helpers, db, work, back_dated)

    n_receipts = helpers.query(db, "select count(*) from raw_finance.bank_transactions")[0][0]
    name = _land_receipt(root, invoice, {"name": invoice["name"], "iban": invoice["iban"]}, booking, amount)
    run_ingest("finance")
    landed = helpers.dict_rows(db, "select booking_date, amount, credit_debit, file_name "
                                   "from raw_finance.bank_transactions where file_name = '" + name + "'")
    assert landed == [{"booking_date": booking, "amount": amount, "credit_debit": "CRDT", "file_name": name}]
    assert helpers.query(db, "select count(*) from raw_finance.bank_transactions")[0][0] == n_receipts + 1

    after = _build(helpers, db, work, as_of)
    # cash application found the invoice by its reference (rule 1) and applied all of the receipt
    (receipt_id,), = helpers.query(db, f"select transaction_id from raw_finance.bank_transactions "
                                       f"where file_name = '{name}'")
    assert helpers.query(db, "select application_status, matched_invoice_id, applied_amount, amount_reporting "
                             f"from marts.fct_cash_receipts where receipt_id = '{receipt_id}'") == [
        ("applied", invoice["invoice_id"], amount, amount)]
    back_after = _build(helpers, db, work, back_dated)

    _check_report(before, after, invoice, booking, amount)
    _check_aging(before, after, invoice, booking, amount)
    assert back_after == back_before, "the build as of the day before the booking date saw the receipt"

    # the checks can fail: told the receipt was booked a month later, they must reject the same data
    later = _add_months(_month(booking), 1).replace(day=15)
    for check in (_check_report, _check_aging):
        with pytest.raises(AssertionError):
            check(before, after, invoice, later, amount)
