"""rpt_cash_collection's AR and collection metrics checked against an independent recomputation.

The hand-made raw fixture (raw_fixture.py) is extended with a few clean collection cases (every
receipt names exactly one live invoice in its own currency): an invoice paid partly on time and
partly late, one paid on time in EUR, one short-paid in GBP after its due date, one long overdue and
unpaid, one not yet due. dbt builds rpt_cash_collection and what it stands on (its unit tests on
the ltc-metrics worked examples run with it) twice: as of the fixture's as-of date (2025-12-31) and
back-dated to mid-month (2025-11-20). Every month's figures are then recomputed in plain Python,
with Decimal arithmetic, from the raw tables alone (ltc-metrics.md §3.2-3.5):

- billings = invoices issued in the month at the issue-date rate; collections = receipts booked in
  the month at the booking-date rate; cash applied by invoice reference, in booking order, capped
  at what is still open, in the invoice's currency;
- AR at each month end (capped at the as-of date) = total - cash applied by then, at the invoice's
  rate; current = due on or after the period end;
- DSO, countback DSO (walking back month by month), BPDSO, ADD, CEI, on-time rate and days to pay
  by their textbook definitions, rounded half away from zero once.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from conftest import dict_rows, pg_dsn, query, run_dbt
from raw_fixture import AS_OF, build_raw_fixture, insert_invoices, insert_receipts, invoice_row, receipt_row

from connectors.marts_file import connect_warehouse

pytestmark = pytest.mark.slow

BACK_DATED = "2025-11-20"  # mid-month: November is a partial period of 20 days
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
INVOICE_REFERENCE = re.compile(r"INV-[0-9]{4}-[0-9]+")  # var invoice_reference_pattern

EXTRA_INVOICES = [
    # due ON the back-dated as-of date (not past due then); paid 250 on time (11-05) and 150 late
    # (11-25, after the back-dated as-of date)
    invoice_row("I20", "INV-2025-000020", "CU1", "SO1", "2025-10-10", "2025-11-20", "USD", "400.00"),
    # EUR, paid in full on time
    invoice_row("I21", "INV-2025-000021", "CU2", "SO2", "2025-11-15", "2025-12-15", "EUR", "300.00"),
    # not yet due at 2025-12-31
    invoice_row("I22", "INV-2025-000022", "CU1", "SO1", "2025-12-05", "2026-01-04", "USD", "500.00"),
    # due on a month end (current at 09-30, overdue from October on), unpaid
    invoice_row("I23", "INV-2025-000023", "CU1", "SO1", "2025-09-01", "2025-09-30", "USD", "120.00"),
    # GBP, half paid after its due date
    invoice_row("I24", "INV-2025-000024", "CU1", "SO1", "2025-12-01", "2025-12-20", "GBP", "200.00"),
]

EXTRA_RECEIPTS = [
    receipt_row("R20", "2025-11-05", "USD", "250.00", "INV-2025-000020", "c", "S7"),
    receipt_row("R21", "2025-11-25", "USD", "150.00", "INV-2025-000020 rest", "c", "S7"),
    receipt_row("R22", "2025-12-10", "EUR", "300.00", "INV-2025-000021", "c", "S7"),
    receipt_row("R23", "2025-12-28", "GBP", "100.00", "INV-2025-000024 part", "c", "S7"),
]

MY_UNIT_TESTS = [
    "rpt_cash_collection::test_rpt_cash_collection_countback_dso_worked_example",
    "rpt_cash_collection::test_rpt_cash_collection_countback_dso_walks_empty_months",
    "rpt_cash_collection::test_rpt_cash_collection_bpdso_and_add",
    "rpt_cash_collection::test_rpt_cash_collection_cei",
    "rpt_cash_collection::test_rpt_cash_collection_on_time_rate_and_days_to_pay",
    "int_ar_balances_summarized::test_int_ar_balances_summarized_as_of_mid_month",
]

METRICS = ["invoiced_amount", "collected_amount", "applied_amount", "amount_due", "collected_on_time_amount",
           "on_time_collection_rate", "beginning_ar", "ending_ar", "current_ar", "overdue_ar", "dso_days",
           "countback_dso_days", "best_possible_dso_days", "average_days_delinquent",
           "collection_effectiveness_index_pct", "application_count", "avg_days_to_pay_weighted",
           "avg_days_to_pay_simple", "days_in_month", "period_days", "period_end", "as_of_date"]


def _build(tmp: Path, as_of: str) -> Path:
    db = build_raw_fixture(tmp / "warehouse.duckdb")
    con = connect_warehouse(db, read_only=False)
    try:
        insert_invoices(con, EXTRA_INVOICES, "load_cc")
        insert_receipts(con, EXTRA_RECEIPTS, "load_cc")
    finally:
        con.close()
    work = tmp / "dbt_work"
    work.mkdir()
    run = run_dbt(["build", "--select", "+rpt_cash_collection", "--indirect-selection", "cautious"], db, work,
                  as_of=as_of)
    assert run.returncode == 0, run.output[-5000:]
    plain = re.sub(r"\x1b\[[0-9;]*m", "", run.output)
    for unit_test in MY_UNIT_TESTS:
        assert f"PASS {unit_test}" in plain, unit_test
    return db


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Path]:
    return {as_of: _build(tmp_path_factory.mktemp(f"cash_collection_{as_of}"), as_of)
            for as_of in (AS_OF, BACK_DATED)}


# -- the independent recomputation ------------------------------------------------------------------

def _q(value: Decimal, unit: Decimal = CENT) -> Decimal:
    return value.quantize(unit, ROUND_HALF_UP)  # half away from zero


def _month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def _next_month(d: dt.date) -> dt.date:
    return dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def _countback(months: list[dict], i: int) -> Decimal | None:
    """Walk back from months[i]: full months while the remaining AR exceeds their billings, then the
    fraction of the month where it runs out."""
    remaining, days = months[i]["ending_ar"], Decimal(0)
    if remaining == 0:
        return Decimal("0.00")
    for m in reversed(months[: i + 1]):
        if remaining > m["invoiced_amount"]:
            days += m["period_days"]
            remaining -= m["invoiced_amount"]
        else:
            return _q(days + remaining * m["period_days"] / m["invoiced_amount"])
    return None


def expected_report(db: Path, as_of_text: str, ledger: list[dict] | None = None) -> list[dict]:
    """The report recomputed from the raw invoices, receipts and FX rates. Cash is applied by
    invoice reference (the fixture's receipts are all clean) unless a `ledger` of applications
    (invoice_id, booking_date, applied_amount, write_off_amount) is given."""
    as_of = dt.date.fromisoformat(as_of_text)
    fx = dict_rows(db, "select currency, cast(rate_date as date) as rate_date, cast(rate as decimal(18,6)) as rate "
                   "from raw_finance.fx_rates where reporting_currency = 'USD'")

    def rate(currency: str, on: dt.date) -> Decimal:
        if currency == "USD":
            return Decimal(1)
        return max((r for r in fx if r["currency"] == currency and r["rate_date"] <= on),
                   key=lambda r: r["rate_date"])["rate"]

    invoices = [i for i in dict_rows(db, "select invoice_id, invoice_number, status, currency, "
                                     "coalesce(cast(is_deleted as integer), 0) as is_deleted, "
                                     "cast(total_amount as decimal(18,2)) as total_amount, "
                                     "cast(issue_date as date) as issue_date, cast(due_date as date) as due_date "
                                     "from raw_erp.invoices")
                if not i["is_deleted"] and i["issue_date"] <= as_of]
    live = {i["invoice_id"]: i for i in invoices if i["status"] != "cancelled"}
    by_number = defaultdict(list)
    for i in live.values():
        by_number[i["invoice_number"]].append(i)
    receipts = sorted(dict_rows(db, "select transaction_id, currency, cast(amount as decimal(18,2)) as amount, "
                                "cast(booking_date as date) as booking_date, remittance_unstructured, "
                                "remittance_structured_reference from raw_finance.bank_transactions "
                                f"where credit_debit = 'CRDT' and cast(booking_date as date) <= '{as_of_text}'"),
                      key=lambda r: (r["booking_date"], r["transaction_id"]))

    applications = []  # {invoice, date, amount (cash), write_off}
    if ledger is None:
        # cash application by reference, in booking order, capped at what is still open
        open_amount = {i: inv["total_amount"] for i, inv in live.items()}
        for r in receipts:
            found = INVOICE_REFERENCE.search(f"{r['remittance_unstructured'] or ''} "
                                             f"{r['remittance_structured_reference'] or ''}")
            candidates = by_number.get(found.group(0), []) if found else []
            if len(candidates) == 1 and candidates[0]["currency"] == r["currency"]:
                invoice = candidates[0]
                applied = min(r["amount"], open_amount[invoice["invoice_id"]])
                if applied > 0:
                    open_amount[invoice["invoice_id"]] -= applied
                    applications.append({"invoice": invoice, "date": r["booking_date"], "amount": applied,
                                         "write_off": Decimal(0)})
    else:
        applications = [{"invoice": live[a["invoice_id"]], "date": a["booking_date"], "amount": a["applied_amount"],
                         "write_off": a["write_off_amount"] or Decimal(0)}
                        for a in ledger if a["invoice_id"] in live and a["booking_date"] <= as_of]
    by_invoice = defaultdict(list)
    for a in applications:
        by_invoice[a["invoice"]["invoice_id"]].append(a)
    cash = [a for a in applications if a["amount"] > 0]

    def reporting(invoice: dict, amount: Decimal) -> Decimal:
        return _q(amount * rate(invoice["currency"], invoice["issue_date"]))

    months, month = [], _month_start(min(i["issue_date"] for i in live.values()))
    while month <= as_of:
        end = min(_next_month(month) - dt.timedelta(days=1), as_of)
        ending = current = Decimal(0)
        for i in live.values():
            if i["issue_date"] > end:
                continue
            paid = sum((a["amount"] + a["write_off"] for a in by_invoice[i["invoice_id"]] if a["date"] <= end),
                       Decimal(0))
            balance = reporting(i, i["total_amount"] - paid)
            ending += balance
            current += balance if i["due_date"] >= end else 0
        due = [i for i in live.values() if month <= i["due_date"] <= end]
        on_time = sum((reporting(i, sum((a["amount"] for a in by_invoice[i["invoice_id"]]
                                         if a["date"] <= i["due_date"]), Decimal(0)))
                       for i in due), Decimal("0.00"))
        applied = [a for a in cash if month <= a["date"] <= end]
        applied_reporting = [(reporting(a["invoice"], a["amount"]), (a["date"] - a["invoice"]["issue_date"]).days)
                             for a in applied]
        months.append({
            "period_month": month,
            "period_end": end,
            "as_of_date": as_of,
            "days_in_month": (_next_month(month) - month).days,
            "period_days": (end - month).days + 1,
            "invoiced_amount": sum((reporting(i, i["total_amount"]) for i in live.values()
                                    if month <= i["issue_date"] <= end), Decimal("0.00")),
            "collected_amount": sum((_q(r["amount"] * rate(r["currency"], r["booking_date"])) for r in receipts
                                     if month <= r["booking_date"] <= end), Decimal("0.00")),
            "applied_amount": sum((amount for amount, _ in applied_reporting), Decimal("0.00")),
            "application_count": len(applied),
            "ending_ar": ending,
            "current_ar": current,
            "overdue_ar": ending - current,
            "amount_due": sum((reporting(i, i["total_amount"]) for i in due), Decimal("0.00")),
            "collected_on_time_amount": on_time,
            "_days_x_amount": sum((amount * days for amount, days in applied_reporting), Decimal(0)),
            "_days": sum(days for _, days in applied_reporting),
        })
        month = _next_month(month)

    for n, m in enumerate(months):
        billed, days = m["invoiced_amount"], m["period_days"]
        m["beginning_ar"] = months[n - 1]["ending_ar"] if n else Decimal("0.00")
        m["dso_days"] = _q(m["ending_ar"] * days / billed) if billed else None
        m["best_possible_dso_days"] = _q(m["current_ar"] * days / billed) if billed else None
        m["average_days_delinquent"] = (m["dso_days"] - m["best_possible_dso_days"]) if billed else None
        m["countback_dso_days"] = _countback(months, n)
        collectible = m["beginning_ar"] + billed - m["current_ar"]
        m["collection_effectiveness_index_pct"] = (
            _q((m["beginning_ar"] + billed - m["ending_ar"]) * 100 / collectible) if collectible else None)
        m["on_time_collection_rate"] = (
            _q(m["collected_on_time_amount"] / m["amount_due"], MICRO) if m["amount_due"] else None)
        m["avg_days_to_pay_weighted"] = (
            _q(m.pop("_days_x_amount") / m["applied_amount"]) if m["applied_amount"] else None)
        count = m["application_count"]
        m["avg_days_to_pay_simple"] = _q(Decimal(m.pop("_days")) / count) if count else None
        m.pop("_days_x_amount", None)
        m.pop("_days", None)
    return months


def _report(db: Path) -> dict[dt.date, dict]:
    return {r["period_month"]: r for r in dict_rows(db, "select * from marts.rpt_cash_collection order by period_month")}


# -- the tests --------------------------------------------------------------------------------------

@pytest.mark.parametrize("as_of", [AS_OF, BACK_DATED])
def test_every_month_matches_independent_recomputation(builds, as_of):
    db = builds[as_of]
    expected = {m["period_month"]: m for m in expected_report(db, as_of)}
    got = _report(db)
    assert set(got) == set(expected)
    for month, want in expected.items():
        assert {k: got[month][k] for k in METRICS} == {k: want[k] for k in METRICS}, month
    # the comparison covers months where every metric is defined, not only empty ones
    full = [m for m in expected.values() if all(m[k] is not None for k in METRICS)]
    assert len(full) >= 2 if as_of == AS_OF else len(full) >= 1, [m["period_month"] for m in full]


def test_hand_checked_months(builds):
    """A few figures worked by hand from the raw rows, independent of the recomputation code."""
    got = _report(builds[AS_OF])
    april = got[dt.date(2025, 4, 1)]
    # I2 (2,200 EUR at 1.09) is 1,200 EUR open after R2: 1,308.00; April bills nothing, so countback
    # walks April (30 days) then March (1,100 + 2,398 = 3,498 billed): 30 + 1,308 / 3,498 x 31 = 41.59
    assert (april["ending_ar"], april["countback_dso_days"], april["dso_days"]) == (
        Decimal("1308.00"), Decimal("41.59"), None)
    # due in April: I1 1,100 (paid 04-10, on time) + I2 2,398 (1,000 EUR x 1.09 on 04-15, on time)
    assert april["on_time_collection_rate"] == Decimal("0.626072")  # 2,190 / 3,498
    # CEI: (3,498 + 0 - 1,308) / (3,498 + 0 - 0) = 62.61 %
    assert april["collection_effectiveness_index_pct"] == Decimal("62.61")
    # I23 is due on 09-30, a month end: current at the end of September, overdue at the end of October
    assert (got[dt.date(2025, 9, 1)]["current_ar"], got[dt.date(2025, 9, 1)]["overdue_ar"]) == (
        Decimal("120.00"), Decimal("0.00"))
    assert (got[dt.date(2025, 10, 1)]["current_ar"], got[dt.date(2025, 10, 1)]["overdue_ar"]) == (
        Decimal("400.00"), Decimal("120.00"))
    november = got[dt.date(2025, 11, 1)]
    # I20 (due 11-20): 250 on time (11-05) of 400 due; R21 (11-25) settles the rest
    assert (november["amount_due"], november["collected_on_time_amount"]) == (Decimal("400.00"), Decimal("250.00"))
    # days to pay: R20 26 days x 250, R21 46 days x 150 -> (6,500 + 6,900) / 400 = 33.50; simple 36.00
    assert (november["avg_days_to_pay_weighted"], november["avg_days_to_pay_simple"]) == (
        Decimal("33.50"), Decimal("36.00"))


def test_as_of_date_is_respected(builds):
    full, back = _report(builds[AS_OF]), _report(builds[BACK_DATED])
    back_dated = dt.date.fromisoformat(BACK_DATED)
    # no month after the as-of month, and the as-of month ends at the as-of date
    assert max(back) == dt.date(2025, 11, 1) and max(full) == dt.date(2025, 12, 1)
    assert back[dt.date(2025, 11, 1)]["period_end"] == back_dated
    assert back[dt.date(2025, 11, 1)]["period_days"] == 20
    assert all(r["period_end"] <= back_dated and r["as_of_date"] == back_dated for r in back.values())
    # months fully before the back-dated as-of date are identical in both runs
    for month in back:
        if month < dt.date(2025, 11, 1):
            assert {k: back[month][k] for k in METRICS if k != "as_of_date"} == {
                k: full[month][k] for k in METRICS if k != "as_of_date"}, month
    # November: as of 11-20, R21 (11-25) is not booked, I21 (11-15, 300 EUR x 1.15) is open:
    # ending AR = I4 110 EUR x 1.12 + I20 150 + I21 345 + I23 120 = 738.20; at 11-30 I20 is settled
    nov_back, nov_full = back[dt.date(2025, 11, 1)], full[dt.date(2025, 11, 1)]
    assert nov_back["ending_ar"] == Decimal("738.20")
    assert nov_full["ending_ar"] == nov_back["ending_ar"] - Decimal("150.00")
    assert nov_back["collected_amount"] == Decimal("250.00") and nov_full["collected_amount"] == Decimal("400.00")
    # I20 is due on the back-dated as-of date itself: current, not overdue (I4 is due 12-01)
    assert (nov_back["current_ar"], nov_back["overdue_ar"]) == (Decimal("618.20"), Decimal("120.00"))
    # DSO runs over the 20 days of the partial period
    assert nov_back["dso_days"] == (Decimal("738.20") * 20 / nov_back["invoiced_amount"]).quantize(CENT, ROUND_HALF_UP)


def test_report_ties_to_open_ar_of_fct_invoices(builds):
    """The as-of month's ending and overdue AR are the open AR of fct_invoices at the as-of date."""
    for as_of, db in builds.items():
        (open_ar, overdue), = query(db, """
            select coalesce(sum(outstanding_amount_reporting), 0),
                   coalesce(sum(case when days_past_due > 0 then outstanding_amount_reporting else 0 end), 0)
            from marts.fct_invoices where not is_deleted and not is_cancelled""")
        month = dt.date.fromisoformat(as_of).replace(day=1)
        row = _report(db)[month]
        assert (row["ending_ar"], row["overdue_ar"]) == (open_ar, overdue), as_of


# -- the sandbox company ----------------------------------------------------------------------------

@pytest.mark.extended
def test_sandbox_report_matches_recomputation_over_the_application_ledger(tmp_path: Path, dbt_work: Path,
                                                                          monkeypatch):
    """On the sandbox company (three currencies, partial, short and over-payments, write-offs), every
    month of the report is the recomputation from the raw invoices, receipts and rates, with cash
    taken from the application ledger (fct_cash_applications, tested on its own), and the as-of
    month's AR is fct_invoices' open AR."""
    from sandbox_pipeline import land_sandbox

    db, truth = land_sandbox(tmp_path, seed=42, scale=int(os.environ.get("LTC_TEST_SCALE", "300")),
                             monkeypatch=monkeypatch)
    as_of = truth["as_of"]
    run = run_dbt(["build", "--select", "+rpt_cash_collection", "--indirect-selection", "cautious"], db, dbt_work,
                  as_of=as_of)
    assert run.returncode == 0, run.output[-5000:]
    ledger = dict_rows(db, "select invoice_id, booking_date, applied_amount, write_off_amount "
                       "from marts.fct_cash_applications")
    expected = {m["period_month"]: m for m in expected_report(db, as_of, ledger)}
    got = _report(db)
    assert expected and set(got) == set(expected)
    for month, want in expected.items():
        assert {k: got[month][k] for k in METRICS} == {k: want[k] for k in METRICS}, month
    assert sum(1 for m in expected.values() if all(m[k] is not None for k in METRICS)) >= 2
    (open_ar, overdue), = query(db, """
        select coalesce(sum(outstanding_amount_reporting), 0),
               coalesce(sum(case when days_past_due > 0 then outstanding_amount_reporting else 0 end), 0)
        from marts.fct_invoices where not is_deleted and not is_cancelled""")
    last = got[max(got)]
    assert (last["ending_ar"], last["overdue_ar"]) == (open_ar, overdue)


# -- portability ------------------------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.extended  # the whole project's pg build stays in make test (test_dbt_build)
def test_postgres_gives_the_same_report(builds, tmp_path: Path, require_service):
    """The pg target builds the same rpt_cash_collection, to the cent and the day, from the same raw rows
    (the unit tests on the worked examples run there too)."""
    import uuid

    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(pg_dsn("postgres"), connect_timeout=3)
    except psycopg2.OperationalError as exc:
        require_service(False, f"no Postgres on 127.0.0.1: {exc}")
    admin.autocommit = True
    dbname = f"ltc_cash_collection_{uuid.uuid4().hex[:8]}"
    admin.cursor().execute(f"create database {dbname}")
    try:
        from raw_fixture import build_raw_fixture_pg

        build_raw_fixture_pg(pg_dsn(dbname))
        con = psycopg2.connect(pg_dsn(dbname))
        try:
            con.autocommit = True
            cur = con.cursor()
            dlt = "'load_cc', md5(random()::text), timestamptz '2026-01-01 00:00:00+00'"
            cur.executemany(f"insert into raw_erp.invoices values ({', '.join(['%s'] * 14)}, {dlt})", EXTRA_INVOICES)
            cur.executemany(f"insert into raw_finance.bank_transactions values ({', '.join(['%s'] * 17)}, {dlt})",
                            EXTRA_RECEIPTS)
        finally:
            con.close()
        work = tmp_path / "dbt_work_pg"
        work.mkdir()
        run = run_dbt(["build", "--select", "+rpt_cash_collection", "--indirect-selection", "cautious"],
                      tmp_path / "unused.duckdb", work, as_of=AS_OF,
                      extra_env={"DBT_TARGET": "pg", "LTC_PG_DBNAME": dbname})
        assert run.returncode == 0, run.output[-5000:]
        con = psycopg2.connect(pg_dsn(dbname))
        try:
            cur = con.cursor()
            cur.execute("select * from marts.rpt_cash_collection order by period_month")
            names = [d[0] for d in cur.description]
            got = {r["period_month"]: r for r in (dict(zip(names, row)) for row in cur.fetchall())}
        finally:
            con.close()
        duck = _report(builds[AS_OF])
        assert set(got) == set(duck)
        for month, row in duck.items():
            assert {k: got[month][k] for k in METRICS} == {k: row[k] for k in METRICS}, month
    finally:
        admin.cursor().execute(f"drop database if exists {dbname} with (force)")
        admin.close()
