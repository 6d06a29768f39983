"""fct_opportunity_stage_history and fct_ar_aging checked against answers computed independently.

The hand-made raw fixture (raw_fixture.py) is extended with the cases these marts exist for:
OpportunityHistory with a same-stage repeat, a regression, a row after the as-of date, a deleted
history row, a deleted and a tombstoned opportunity; invoices 91+ days past due, partly paid, paid
only after the as-of date, paid in another currency, cancelled, not yet issued. dbt builds the two
marts and what they stand on once per module (dbt's own unit and data tests run with it); the tests
then recompute both marts in plain Python from the raw tables alone and compare row by row, and
tie the aging totals to rpt_cash_collection. The same recomputation runs once more on the sandbox
company (short and over-payments, wrong references, three currencies), when its generator is there.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import os

import pytest

from conftest import dict_rows, query, run_dbt
from raw_fixture import AS_OF, build_raw_fixture, insert_invoices, insert_receipts, invoice_row, receipt_row

from connectors.marts_file import connect_warehouse

pytestmark = pytest.mark.slow

AS_OF_DATE = dt.date.fromisoformat(AS_OF)
CENT = Decimal("0.01")
INVOICE_REFERENCE = re.compile(r"INV-[0-9]{4}-[0-9]+")  # var invoice_reference_pattern
STAGE_RANK = {"Prospecting": 1, "Qualification": 2, "Needs Analysis": 3, "Proposal/Price Quote": 4,
              "Negotiation/Review": 5, "Closed Won": 6, "Closed Lost": 6}
BUCKETS = ["current", "1-30", "31-60", "61-90", "90+"]

O3, O4, O5, O6 = "006000000000003AAA", "006000000000004AAA", "006000000000005AAA", "006000000000006AAA"
_SF = "id, is_deleted, created_date, last_modified_date, system_modstamp"


def _ts(value: str) -> str:
    return value if " " in value else f"{value} 09:00:00"


def _history(hid: str, opp: str, created: str, stage: str, deleted: bool = False) -> tuple:
    t = _ts(created) + "+00"
    return (hid, deleted, t, t, t, opp, stage, "100.00", 10, "Pipeline", "2026-03-31", "005000000000002AAA")


EXTRA_HISTORY = [
    # O3 (lost): a same-stage repeat (amount edit), then a regression Qualification -> Prospecting
    _history("008000000000011AAA", O3, "2025-03-01", "Prospecting"),
    _history("008000000000012AAA", O3, "2025-03-04 16:30:00", "Prospecting"),
    _history("008000000000013AAA", O3, "2025-03-10", "Qualification"),
    _history("008000000000014AAA", O3, "2025-03-15 11:00:00", "Prospecting"),
    _history("008000000000015AAA", O3, "2025-03-20", "Needs Analysis"),
    _history("008000000000016AAA", O3, "2025-04-01", "Closed Lost"),
    # O4 (open): a deleted history row, and a stage change after the as-of date
    _history("008000000000021AAA", O4, "2025-06-01", "Prospecting"),
    _history("008000000000022AAA", O4, "2025-07-01", "Qualification"),
    _history("008000000000023AAA", O4, "2025-08-01", "Negotiation/Review", deleted=True),
    _history("008000000000024AAA", O4, "2026-01-05", "Needs Analysis"),
    # O5 is deleted (IsDeleted), O6 hard-deleted (getDeleted tombstone): their history is left out
    _history("008000000000031AAA", O5, "2025-06-01", "Prospecting"),
    _history("008000000000041AAA", O6, "2025-07-01", "Prospecting"),
]

EXTRA_OPPORTUNITY = (O6, False, "2025-07-01 09:00:00+00", "2025-07-01 09:00:00+00", "2025-07-01 09:00:00+00",
                     "001000000000001AAA", "Purged", "Prospecting", "400.00", "USD", 10, "Pipeline",
                     "2025-09-01", False, False, "Other", None, "005000000000001AAA", "New Business")


def _invoice(iid, n, *args, **kwargs):
    return invoice_row(iid, f"INV-2025-{n:06d}", *args, **kwargs)


EXTRA_INVOICES = [
    _invoice("I5", 5, "CU1", "SO1", "2025-09-01", "2025-10-01", "USD", "500.00"),   # 91 days, part paid
    _invoice("I6", 6, "CU1", "SO1", "2025-12-05", "2026-01-04", "USD", "250.00"),   # not yet due
    _invoice("I7", 7, "CU2", "SO2", "2025-10-15", "2025-11-14", "EUR", "400.00"),   # paid after as-of
    _invoice("I8", 8, "CU1", "SO1", "2025-10-01", "2025-10-31", "USD", "300.00", status="cancelled"),
    _invoice("I9", 9, "CU1", "SO1", "2025-08-01", "2025-08-31", "USD", "120.00"),   # paid in GBP
    _invoice("I10", 10, "CU1", "SO1", "2026-01-03", "2026-02-02", "USD", "80.00"),  # issued after as-of
    _invoice("I11", 11, "CU2", "SO2", "2025-10-02", "2025-10-02", "EUR", "90.00"),  # exactly 90 days
]


EXTRA_RECEIPTS = [
    receipt_row("R7", "2025-11-15", "USD", "200.00", "INV-2025-000005 part", "y", "S9"),
    receipt_row("R8", "2026-01-10", "EUR", "400.00", "INV-2025-000007", "y", "S9"),
    receipt_row("R9", "2025-09-10", "GBP", "100.00", "INV-2025-000009", "y", "S9"),
    receipt_row("R10", "2025-12-31", "USD", "60.00", "INV-2025-000006 deposit", "y", "S9"),
]


def _extend_fixture(db: Path) -> None:
    con = connect_warehouse(db, read_only=False)
    try:
        con.executemany(
            "insert into raw_salesforce.opportunity_history select *, 'load2', gen_random_uuid()::varchar, "
            "timestamptz '2026-01-01 00:00:00+00' from (select ?, ?, ?::timestamptz, ?::timestamptz, "
            "?::timestamptz, ?, ?, ?::decimal(18,2), ?, ?, ?::date, ?)", EXTRA_HISTORY)
        con.execute(
            "insert into raw_salesforce.opportunity select *, 'load2', gen_random_uuid()::varchar, "
            "timestamptz '2026-01-01 00:00:00+00' from (select ?, ?, ?::timestamptz, ?::timestamptz, "
            "?::timestamptz, ?, ?, ?, ?::decimal(18,2), ?, ?, ?, ?::date, ?, ?, ?, ?, ?, ?)",
            EXTRA_OPPORTUNITY)
        con.execute("create table raw_salesforce.deleted_records (sobject varchar, id varchar, "
                    "deleted_date timestamp with time zone, detected_at timestamp with time zone)")
        con.execute("insert into raw_salesforce.deleted_records values "
                    "('Opportunity', ?, timestamptz '2025-08-01 00:00:00+00', timestamptz '2025-08-02 00:00:00+00')",
                    [O6])
        insert_invoices(con, EXTRA_INVOICES, "load2")
        insert_receipts(con, EXTRA_RECEIPTS, "load2")
    finally:
        con.close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("history_aging")
    db = build_raw_fixture(tmp / "warehouse.duckdb")
    _extend_fixture(db)
    work = tmp / "dbt_work"
    work.mkdir()
    # only these marts and their parents (tests of unselected models are not run: cautious)
    run = run_dbt(["build", "--select", "+fct_opportunity_stage_history", "+fct_ar_aging", "+rpt_cash_collection",
                   "+fct_opportunities", "--indirect-selection", "cautious"], db, work, as_of=AS_OF)
    assert run.returncode == 0, run.output[-5000:]
    for node in ("fct_opportunity_stage_history", "fct_ar_aging"):
        assert f"PASS {node}::test_" in run.output.replace("\x1b[32m", "").replace("\x1b[0m", ""), node
    return db


# -- fct_opportunity_stage_history ------------------------------------------------------------------

def _expected_intervals(db: Path) -> dict[str, list[dict]]:
    """Stage intervals recomputed from the raw tables: live opportunities, live history rows up to
    the as-of date, consecutive same-stage rows collapsed, open interval measured to the as-of date."""
    deleted = {r["id"] for r in dict_rows(db, "select id from raw_salesforce.opportunity where is_deleted")}
    if dict_rows(db, "select 1 from information_schema.tables "
                 "where table_schema = 'raw_salesforce' and table_name = 'deleted_records'"):
        deleted |= {r["id"] for r in dict_rows(db, "select id from raw_salesforce.deleted_records "
                                               "where sobject = 'Opportunity'")}
    live = {r["id"] for r in dict_rows(db, "select id from raw_salesforce.opportunity")} - deleted
    history = dict_rows(db, "select id, opportunity_id, stage_name, created_date at time zone 'UTC' as created_at "
                        "from raw_salesforce.opportunity_history where not is_deleted")
    by_opp = defaultdict(list)
    for h in history:
        if h["opportunity_id"] in live and h["created_at"].date() <= AS_OF_DATE:
            by_opp[h["opportunity_id"]].append(h)
    expected = {}
    for opp, rows in by_opp.items():
        rows.sort(key=lambda h: (h["created_at"], h["id"]))
        intervals = []
        for h in rows:
            if intervals and intervals[-1]["stage_name"] == h["stage_name"]:
                intervals[-1]["history_row_count"] += 1
                continue
            intervals.append({"stage_interval_id": h["id"], "stage_name": h["stage_name"],
                              "entered_at": h["created_at"], "history_row_count": 1})
        for i, iv in enumerate(intervals):
            nxt = intervals[i + 1]["entered_at"] if i + 1 < len(intervals) else None
            prev = intervals[i - 1]["stage_name"] if i else None
            iv.update(
                stage_sequence=i + 1,
                exited_at=nxt,
                previous_stage_name=prev,
                days_in_stage=((nxt.date() if nxt else AS_OF_DATE) - iv["entered_at"].date()).days,
                is_current=nxt is None,
                is_regression=prev is not None and STAGE_RANK[iv["stage_name"]] < STAGE_RANK[prev],
            )
        expected[opp] = intervals
    return expected


def _model_intervals(db: Path) -> dict[str, list[dict]]:
    got = defaultdict(list)
    for r in dict_rows(db, "select * from marts.fct_opportunity_stage_history order by opportunity_id, stage_sequence"):
        got[r["opportunity_id"]].append(r)
    return dict(got)


def test_stage_history_matches_independent_recomputation(warehouse: Path):
    expected = _expected_intervals(warehouse)
    got = _model_intervals(warehouse)
    assert set(got) == set(expected) == {"006000000000001AAA", "006000000000002AAA", O3, O4}
    keys = ["stage_interval_id", "stage_sequence", "stage_name", "previous_stage_name", "entered_at", "exited_at",
            "days_in_stage", "is_current", "is_regression", "history_row_count"]
    for opp in expected:
        assert [{k: r[k] for k in keys} for r in got[opp]] == [{k: r[k] for k in keys} for r in expected[opp]], opp


def test_stage_history_worked_cases(warehouse: Path):
    got = _model_intervals(warehouse)
    # O3: Prospecting (two rows collapsed) -> Qualification -> Prospecting (regression) -> Needs Analysis
    #     -> Closed Lost (current since 2025-04-01: 274 days to the as-of date)
    assert [(r["stage_name"], r["days_in_stage"], r["is_regression"], r["history_row_count"]) for r in got[O3]] == [
        ("Prospecting", 9, False, 2), ("Qualification", 5, False, 1), ("Prospecting", 5, True, 1),
        ("Needs Analysis", 12, False, 1), ("Closed Lost", 274, False, 1)]
    # O4: the deleted Negotiation/Review row and the 2026 stage change are not seen as of 2025-12-31
    assert [(r["stage_name"], r["exited_at"], r["days_in_stage"], r["is_current"]) for r in got[O4]] == [
        ("Prospecting", dt.datetime(2025, 7, 1, 9), 30, False), ("Qualification", None, 183, True)]
    # deleted (IsDeleted) and hard-deleted (tombstone) opportunities are left out, as fct_opportunities flags them
    flagged = {r[0] for r in query(warehouse, "select opportunity_id from marts.fct_opportunities where is_deleted")}
    assert flagged == {O5, O6}
    assert not flagged & set(got)


def test_stage_intervals_tile_each_opportunity(warehouse: Path):
    """No gap, no overlap: each interval ends where the next starts, one open interval at the end,
    and the days add up to first entry -> as-of date."""
    for opp, rows in _model_intervals(warehouse).items():
        assert [r["stage_sequence"] for r in rows] == list(range(1, len(rows) + 1)), opp
        for this, nxt in zip(rows, rows[1:]):
            assert this["exited_at"] == nxt["entered_at"] and this["exited_at"] >= this["entered_at"], opp
            assert this["stage_name"] != nxt["stage_name"], opp
        assert [r["is_current"] for r in rows] == [False] * (len(rows) - 1) + [True], opp
        assert rows[-1]["exited_at"] is None
        assert sum(r["days_in_stage"] for r in rows) == (AS_OF_DATE - rows[0]["entered_at"].date()).days, opp


# -- fct_ar_aging -----------------------------------------------------------------------------------

def _month_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
        out.append(min(nxt - dt.timedelta(days=1), last))
        y, m = nxt.year, nxt.month
    return out


def _bucket(days: int) -> str:
    if days <= 0:
        return "current"
    return "1-30" if days <= 30 else "31-60" if days <= 60 else "61-90" if days <= 90 else "90+"


def _rate(fx: list[dict], currency: str, on: dt.date) -> Decimal:
    if currency == "USD":
        return Decimal(1)
    return max((r for r in fx if r["currency"] == currency and r["rate_date"] <= on),
               key=lambda r: r["rate_date"])["rate"]


def _expected_aging(db: Path) -> dict[tuple[str, dt.date], dict]:
    """Open AR per invoice per month end, from raw invoices and raw bank receipts only: a receipt
    counts for an invoice when its remittance names the invoice number and the currencies agree;
    cash applied by date D = min(total, receipts booked <= D)."""
    invoices = dict_rows(db, "select * from raw_erp.invoices")
    receipts = dict_rows(db, "select * from raw_finance.bank_transactions where credit_debit = 'CRDT'")
    fx = dict_rows(db, "select * from raw_finance.fx_rates where reporting_currency = 'USD'")
    numbers = {i["invoice_number"]: i for i in invoices if not i["is_deleted"]}
    paid_in = defaultdict(list)
    for r in receipts:
        found = INVOICE_REFERENCE.search(f"{r['remittance_unstructured'] or ''} {r['remittance_structured_reference'] or ''}")
        invoice = numbers.get(found.group(0)) if found else None
        if invoice and invoice["currency"] == r["currency"]:
            paid_in[invoice["invoice_id"]].append(r)
    live = [i for i in invoices if not i["is_deleted"] and i["status"] != "cancelled"]
    expected = {}
    for d in _month_ends(min(i["issue_date"] for i in live), AS_OF_DATE):
        for i in live:
            if i["issue_date"] > d:
                continue
            cash = sum((r["amount"] for r in paid_in[i["invoice_id"]] if r["booking_date"] <= d), Decimal(0))
            outstanding = i["total_amount"] - min(i["total_amount"], cash)
            if outstanding > 0:
                days = max(0, (d - i["due_date"]).days)
                expected[(i["invoice_id"], d)] = {
                    "outstanding_amount": outstanding,
                    "outstanding_amount_reporting": (outstanding * _rate(fx, i["currency"], i["issue_date"]))
                    .quantize(CENT, ROUND_HALF_UP),
                    "days_past_due": days,
                    "aging_bucket": _bucket(days),
                }
    return expected


def test_aging_matches_open_ar_recomputed_from_raw_invoices_and_receipts(warehouse: Path):
    expected = _expected_aging(warehouse)
    got = {(r["invoice_id"], r["as_of_date"]): {k: r[k] for k in ("outstanding_amount", "outstanding_amount_reporting",
                                                                  "days_past_due", "aging_bucket")}
           for r in dict_rows(warehouse, "select * from marts.fct_ar_aging")}
    assert got == expected
    # and the totals as of the as-of date, by bucket
    totals = defaultdict(Decimal)
    for (invoice, d), row in expected.items():
        if d == AS_OF_DATE:
            totals[row["aging_bucket"]] += row["outstanding_amount_reporting"]
    by_bucket = dict(query(warehouse, "select aging_bucket, sum(outstanding_amount_reporting) from marts.fct_ar_aging "
                                      "where is_latest_as_of group by aging_bucket"))
    assert by_bucket == dict(totals)


def test_aging_worked_cases_as_of_date(warehouse: Path):
    rows = {r["invoice_id"]: r for r in dict_rows(warehouse, "select * from marts.fct_ar_aging where is_latest_as_of")}
    assert {i: (r["days_past_due"], r["aging_bucket"], r["outstanding_amount"]) for i, r in rows.items()} == {
        "I4": (30, "1-30", Decimal("110.00")),    # exactly 30 days past due
        "I5": (91, "90+", Decimal("300.00")),     # 91 days, 200 of 500 paid
        "I6": (0, "current", Decimal("190.00")),  # not yet due; deposit booked on the as-of date counts
        "I7": (47, "31-60", Decimal("400.00")),   # paid 2026-01-10: still open as of 2025-12-31
        "I9": (122, "90+", Decimal("120.00")),    # paid in GBP: nothing applied (v1)
        "I11": (90, "61-90", Decimal("90.00")),   # exactly 90 days
    }
    assert rows["I7"]["outstanding_amount_reporting"] == Decimal("448.00")  # EUR at the issue-date rate 1.12
    assert rows["I5"]["last_payment_date"] == dt.date(2025, 11, 15)
    assert {r["as_of_date"] for r in rows.values()} == {AS_OF_DATE}


def test_aging_history_ties_to_cash_collection_report(warehouse: Path):
    """Every month end of the aging sums to rpt_cash_collection's ending and overdue AR, and I2 is open
    as of 2025-04-30 (its second receipt is booked 2025-05-20), aged 11 days."""
    aging = dict(((d, (total, overdue)) for d, total, overdue in query(
        warehouse, "select as_of_date, sum(outstanding_amount_reporting), "
                   "sum(case when is_overdue then outstanding_amount_reporting else 0 end) "
                   "from marts.fct_ar_aging group by as_of_date")))
    report = query(warehouse, "select period_end, ending_ar, overdue_ar from marts.rpt_cash_collection")
    assert report, "rpt_cash_collection is empty"
    for period_end, ending_ar, overdue_ar in report:
        assert aging.get(period_end, (Decimal(0), Decimal(0))) == (ending_ar, overdue_ar), period_end
    assert set(aging) <= {r[0] for r in report}
    assert query(warehouse, "select outstanding_amount, days_past_due, aging_bucket from marts.fct_ar_aging "
                            "where invoice_id = 'I2' and as_of_date = '2025-04-30'") == [
        (Decimal("1200.00"), 11, "1-30")]
    assert query(warehouse, "select count(*) from marts.fct_ar_aging where invoice_id = 'I2' "
                            "and as_of_date > '2025-05-20'") == [(0,)]


# -- the sandbox company ----------------------------------------------------------------------------

@pytest.mark.extended
def test_sandbox_history_and_aging_match_independent_recomputation(tmp_path: Path, dbt_work: Path, monkeypatch):
    from sandbox_pipeline import land_sandbox

    db, truth = land_sandbox(tmp_path, seed=42, scale=int(os.environ.get("LTC_TEST_SCALE", "300")),
                             monkeypatch=monkeypatch)
    assert truth["as_of"] == AS_OF  # the recomputations age to AS_OF_DATE
    run = run_dbt(["build", "--select", "+fct_opportunity_stage_history", "+fct_ar_aging", "+rpt_cash_collection",
                   "--indirect-selection", "cautious"], db, dbt_work, as_of=truth["as_of"])
    assert run.returncode == 0, run.output[-5000:]

    expected_aging = _expected_aging(db)
    got_aging = {(r["invoice_id"], r["as_of_date"]): {k: r[k] for k in ("outstanding_amount",
                                                                        "outstanding_amount_reporting",
                                                                        "days_past_due", "aging_bucket")}
                 for r in dict_rows(db, "select * from marts.fct_ar_aging")}
    assert expected_aging and got_aging == expected_aging

    keys = ["stage_interval_id", "stage_sequence", "stage_name", "previous_stage_name", "entered_at", "exited_at",
            "days_in_stage", "is_current", "is_regression", "history_row_count"]
    expected = _expected_intervals(db)
    got = _model_intervals(db)
    assert expected and set(got) == set(expected)
    for opp in expected:
        assert [{k: r[k] for k in keys} for r in got[opp]] == [{k: r[k] for k in keys} for r in expected[opp]], opp
