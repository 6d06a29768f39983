"""External validation: IBM's accounts-receivable sample (2,466 real-shaped invoices) through the AR marts.

The CSV (../shared/datasets/ibm_accounts_receivable, IBM sample terms, read in place, never copied)
is written as raw ERP and bank rows, the shapes of tests/dbt/raw_fixture.py:
* every row is an ERP invoice (raw_erp.invoices, invoice_row): issued on InvoiceDate, due on DueDate,
  total InvoiceAmount, status paid, customer customerID (raw_erp.customers, with countryCode as its
  country and net-30 terms). The file has no currency: amounts are taken as USD, the reporting
  currency (the published figures are in dollars), so every rate is 1.
  The file's invoiceNumber (e.g. 0000611365) becomes INV-<issue year>-<invoiceNumber>, the ERP
  number format the project's cash application looks for (var invoice_reference_pattern).
* every settlement is one bank credit (raw_finance.bank_transactions, receipt_row) booked on
  SettledDate for the full InvoiceAmount, its remittance text quoting that invoice number.
* Disputed and PaperlessBill have no place in the raw contract and are not loaded.

dbt builds fct_invoices, fct_cash_receipts and rpt_cash_collection with their parents (and their data
tests) as of 2014-01-31, after the last settlement (2014-01-09). The figures are compared three
ways: what the dataset's README publishes (average days to settle 26.44, average days late 3.44, ...),
the same figures computed independently with pandas from the CSV's own DaysToSettle / DaysLate columns
(its answer key), and what the marts say: days to settle = paid_date - issue_date, days late =
max(0, paid_date - due_date), from fct_invoices.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from conftest import query, run_dbt
from external_datasets import dataset_file, empty_raw_warehouse, insert_frame, insert_rows, round_half_up
from raw_fixture import invoice_row, receipt_row

from connectors.marts_file import connect_warehouse

pytestmark = [pytest.mark.slow, pytest.mark.extended]

# The models and their data tests run on the real data; dbt's unit tests (fixed mock inputs, no data
# from here) are left to test_dbt_build.py.
NO_UNIT_TESTS = ["--exclude-resource-type", "unit_test"]

AS_OF = "2014-01-31"
AR_CSV = "ibm_accounts_receivable/WA_Fn-UseC_-Accounts-Receivable.csv"
CURRENCY = "USD"  # no currency in the file; the reporting currency, so rates are 1
SELECT = ["+fct_invoices", "+fct_cash_receipts", "+rpt_cash_collection"]

# Published in /work/shared/datasets/README.md (ibm_accounts_receivable/ "Reproducible figures",
# from the Apeksha290529/IBM_Finance-Late_Payment_History README, plus baselines computed from the file)
PUBLISHED = {
    "invoices": 2466,
    "avg_days_to_settle": Decimal("26.44"),
    "avg_days_late": Decimal("3.44"),
    "avg_invoice": Decimal("59.90"),
    "late_share_pct": Decimal("35.56"),
    "amount_weighted_days_to_settle": Decimal("26.70"),
    "total_invoiced": Decimal("147703.18"),
}
PUBLISHED_BY_COUNTRY = {  # country: invoices (where published), average invoice, days to settle, days late
    "406": {"invoices": 561, "avg_invoice": Decimal("70.27")},
    "897": {"avg_invoice": Decimal("41.28")},
    "818": {"avg_days_to_settle": Decimal("28.80"), "avg_days_late": Decimal("4.82")},
    "391": {"invoices": 616},
    "770": {"invoices": 506},
}

INVOICE_FIGURES = """
    select
        count(*) as invoices,
        sum(paid_date - issue_date) as days_to_settle_sum,
        sum(greatest(paid_date - due_date, 0)) as days_late_sum,
        count(*) filter (where not is_paid_on_time) as late_invoices,
        sum((paid_date - issue_date) * total_amount) as amount_days_to_settle_sum,
        sum(total_amount) as total_invoiced
    from marts.fct_invoices
    where not is_deleted and not is_cancelled
"""


def _date(us: pd.Series) -> pd.Series:
    return pd.to_datetime(us, format="%m/%d/%Y").dt.strftime("%Y-%m-%d")


def _read_csv() -> pd.DataFrame:
    frame = pd.read_csv(dataset_file(AR_CSV), dtype=str, keep_default_na=False)
    for column in ("InvoiceDate", "DueDate", "SettledDate"):
        frame[column] = _date(frame[column])
    frame["number"] = "INV-" + frame["InvoiceDate"].str[:4] + "-" + frame["invoiceNumber"]
    return frame


def _load(db: Path, ar: pd.DataFrame) -> None:
    customers = ar.groupby("customerID").agg(country=("countryCode", "first"),
                                             first_invoice=("InvoiceDate", "min")).reset_index()
    assert customers["customerID"].map(ar.groupby("customerID")["countryCode"].nunique()).eq(1).all()
    created = customers["first_invoice"] + " 10:00:00+00"
    invoices = [invoice_row(r.invoiceNumber, r.number, r.customerID, None, r.InvoiceDate, r.DueDate, CURRENCY,
                            r.InvoiceAmount, status="paid") for r in ar.itertuples()]
    receipts = [receipt_row(f"R{r.invoiceNumber}", r.SettledDate, CURRENCY, r.InvoiceAmount, f"Payment {r.number}")
                for r in ar.itertuples()]
    con = connect_warehouse(db, read_only=False)
    try:
        insert_frame(con, "raw_erp.customers", pd.DataFrame({
            "customer_id": customers["customerID"], "customer_number": customers["customerID"],
            "name": "Customer " + customers["customerID"], "country": customers["country"],
            "currency": CURRENCY, "payment_terms_days": 30, "created_at": created, "updated_at": created,
        }), "ibm")
        insert_rows(con, "raw_erp.invoices", invoices, "ibm")
        insert_rows(con, "raw_finance.bank_transactions", receipts, "ibm")
    finally:
        con.close()


@pytest.fixture(scope="module")
def ibm(tmp_path_factory) -> dict:
    ar = _read_csv()
    assert ar["invoiceNumber"].is_unique
    assert ar["SettledDate"].max() < AS_OF  # every settlement is in the marts
    tmp = tmp_path_factory.mktemp("ibm_ar")
    db = empty_raw_warehouse(tmp / "ibm_ar.duckdb")
    _load(db, ar)
    work = tmp / "work"
    work.mkdir()
    run = run_dbt(["build", "--select", *SELECT, "--indirect-selection", "cautious",
                   *NO_UNIT_TESTS], db, work, as_of=AS_OF)
    assert run.returncode == 0, run.output[-6000:]
    return {"db": db, "ar": ar}


def _independent(ar: pd.DataFrame) -> dict:
    """The dataset's own answer key, with exact (integer / Decimal) sums."""
    amounts = ar["InvoiceAmount"].map(Decimal)
    settle, late = ar["DaysToSettle"].astype(int), ar["DaysLate"].astype(int)
    return {
        "invoices": len(ar),
        "days_to_settle_sum": int(settle.sum()),
        "days_late_sum": int(late.sum()),
        "late_invoices": int((late > 0).sum()),
        "amount_days_to_settle_sum": sum((Decimal(int(s)) * a for s, a in zip(settle, amounts)), Decimal(0)),
        "total_invoiced": sum(amounts, Decimal(0)),
    }


def _ours(db: Path) -> dict:
    con = connect_warehouse(db, read_only=True)
    try:
        cursor = con.execute(INVOICE_FIGURES)
        names = [c[0] for c in cursor.description]
        row = cursor.fetchone()
    finally:
        con.close()
    out = dict(zip(names, row))
    return {k: (v if isinstance(v, Decimal) else int(v)) for k, v in out.items()}


def _averages(figures: dict) -> dict:
    n = Decimal(figures["invoices"])
    return {
        "invoices": figures["invoices"],
        "avg_days_to_settle": round_half_up(Decimal(figures["days_to_settle_sum"]) / n, 2),
        "avg_days_late": round_half_up(Decimal(figures["days_late_sum"]) / n, 2),
        "avg_invoice": round_half_up(figures["total_invoiced"] / n, 2),
        "late_share_pct": round_half_up(Decimal(figures["late_invoices"]) * 100 / n, 2),
        "amount_weighted_days_to_settle": round_half_up(
            figures["amount_days_to_settle_sum"] / figures["total_invoiced"], 2),
        "total_invoiced": figures["total_invoiced"],
    }


def test_the_answer_key_is_consistent_with_the_dates(ibm):
    """The CSV's DaysToSettle / DaysLate are what its dates say (README: holds on all rows), so the
    marts, which only see the dates, can reproduce them."""
    ar = ibm["ar"]
    issue, due, settled = (pd.to_datetime(ar[c]) for c in ("InvoiceDate", "DueDate", "SettledDate"))
    assert ((settled - issue).dt.days == ar["DaysToSettle"].astype(int)).all()
    assert ((settled - due).dt.days.clip(lower=0) == ar["DaysLate"].astype(int)).all()


def test_days_to_settle_and_days_late_match_exactly(ibm):
    ours, independent = _ours(ibm["db"]), _independent(ibm["ar"])
    # exact sums (so exact averages), not just rounded ones
    assert ours == independent
    assert _averages(ours) == PUBLISHED


def test_every_invoice_paid_on_its_settled_date(ibm):
    """Per invoice: paid_date = SettledDate, fully paid, nothing outstanding, every receipt applied."""
    ar = ibm["ar"]
    expected = {(r.invoiceNumber, dt.date.fromisoformat(r.SettledDate)) for r in ar.itertuples()}
    rows = query(ibm["db"], "select invoice_id, paid_date from marts.fct_invoices "
                            "where is_fully_paid and outstanding_amount = 0 and total_amount_reporting = total_amount")
    assert set(rows) == expected
    statuses = query(ibm["db"], "select application_status, count(*) from marts.fct_cash_receipts group by 1")
    assert statuses == [("applied", len(ar))]


def test_per_country_figures(ibm):
    ar = ibm["ar"]
    rows = query(ibm["db"], """
        select
            customers.country,
            count(*),
            sum(invoices.total_amount),
            sum(invoices.paid_date - invoices.issue_date),
            sum(greatest(invoices.paid_date - invoices.due_date, 0))
        from marts.fct_invoices as invoices
        inner join raw_erp.customers as customers
            on invoices.customer_id = customers.customer_id
        group by customers.country
    """)
    ours = {country: (int(n), total, int(settle), int(late)) for country, n, total, settle, late in rows}
    independent = {
        country: (len(g), sum(g["InvoiceAmount"].map(Decimal), Decimal(0)), int(g["DaysToSettle"].astype(int).sum()),
                  int(g["DaysLate"].astype(int).sum()))
        for country, g in ar.groupby("countryCode")
    }
    assert ours == independent
    for country, published in PUBLISHED_BY_COUNTRY.items():
        n, total, settle, late = ours[country]
        figures = {"invoices": n, "avg_invoice": round_half_up(total / n, 2),
                   "avg_days_to_settle": round_half_up(Decimal(settle) / n, 2),
                   "avg_days_late": round_half_up(Decimal(late) / n, 2)}
        assert {k: figures[k] for k in published} == published, country
    # and the published rankings: 406 highest / 897 lowest average invoice, 818 longest settle and delay
    average = {country: (total / n, Decimal(settle) / n, Decimal(late) / n)
               for country, (n, total, settle, late) in ours.items()}
    assert max(average, key=lambda c: average[c][0]) == "406"
    assert min(average, key=lambda c: average[c][0]) == "897"
    assert max(average, key=lambda c: average[c][1]) == "818"
    assert max(average, key=lambda c: average[c][2]) == "818"


def test_cash_collection_by_month(ibm):
    """rpt_cash_collection: invoiced per issue month, collected per settlement month, and the on-time
    collection rate per due month (value paid by the due date, i.e. DaysLate = 0), against pandas;
    AR is zero once everything is settled."""
    ar = ibm["ar"].assign(amount=lambda f: f["InvoiceAmount"].map(Decimal))
    rows = query(ibm["db"], "select cast(period_month as varchar), invoiced_amount, collected_amount, amount_due, "
                            "collected_on_time_amount, on_time_collection_rate, ending_ar "
                            "from marts.rpt_cash_collection")
    by_month = {month: rest for month, *rest in rows}

    def monthly(column: str, amounts: pd.Series) -> dict:
        return {month: sum(g, Decimal(0)) for month, g in amounts.groupby(ar[column].str[:7] + "-01")}

    on_time = ar["amount"].where(ar["DaysLate"].astype(int) == 0, Decimal(0))
    expected = {
        "invoiced": monthly("InvoiceDate", ar["amount"]),
        "collected": monthly("SettledDate", ar["amount"]),
        "due": monthly("DueDate", ar["amount"]),
        "on_time": monthly("DueDate", on_time),
    }
    for index, name in enumerate(("invoiced", "collected", "due", "on_time")):
        ours = {month: values[index] for month, values in by_month.items() if values[index] != 0}
        assert ours == {m: v for m, v in expected[name].items() if v != 0}, name
    for month, due in expected["due"].items():
        rate = by_month[month][4]
        assert rate == round_half_up(expected["on_time"][month] / due, 6), month
    assert by_month[AS_OF[:7] + "-01"][5] == 0
