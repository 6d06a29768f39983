"""The cash-collection report: every figure ties to the marts (and the ground truth where it holds
them), worklists are sorted and carry no personal data, and the pure pieces behave on edge cases.

Tie-outs run on the sandbox company's real marts (`built_company`); expectations come from
independent SQL on fct_ar_aging / rpt_cash_collection / rpt_collection_worklist, from the
finance-edited dunning seed and from the generator's ground truth, never from the report itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from connectors.marts_file import connect_warehouse
from reports.collection import (
    BUCKETS,
    LARGEST_RISKS,
    build_collection_report,
    collection_worklists,
    load_collection,
    render_collection,
)
from reports.worklist import worklists_by_key

REPO = Path(__file__).resolve().parents[3]
SEED = REPO / "dbt_project" / "seeds" / "collection_dunning_levels.csv"
GENERATED = dt.datetime(2026, 1, 2, 8, 30, tzinfo=dt.timezone.utc)
# a phone number: "+44 20 7946 0958", "(555) 010-4477", "555.010.4477"; not an ISO date or INV-2025-000123
PHONE = re.compile(r"(?<![\w-])(\+\d[\d ]{7,}\d|\(?\d{2,4}\)?[ .-]\d{3,4}[ .-]\d{3,4})(?![\w-])")


class _Metrics(HTMLParser):
    """data-metric values, and what a reader can see: text and attribute values (no CSS, no JS)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = dict(attrs)
        if a.get("data-metric"):
            self.values[a["data-metric"]] = a.get("data-value") or ""
        self.text.extend(v for k, v in a.items() if v and k in ("title", "aria-label", "alt", "content", "href"))
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):  # noqa: ANN001
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):  # noqa: ANN001
        if not self._skip:
            self.text.append(data)


def _parse(html: str) -> _Metrics:
    parser = _Metrics()
    parser.feed(html)
    return parser


def _query(warehouse: Path, sql: str, params=()) -> list[tuple]:  # noqa: ANN001
    con = connect_warehouse(warehouse, read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def _dv(value) -> str:  # noqa: ANN001
    return "" if value is None else format(value, "f") if isinstance(value, Decimal) else str(value)


# ---------------------------------------------------------------------------------------------
# Tie-out on the sandbox company


@pytest.fixture(scope="module")
def company(built_company, tmp_path_factory):
    data = load_collection(built_company.warehouse)
    path = build_collection_report(built_company.warehouse, tmp_path_factory.mktemp("collection"),
                                   generated_at=GENERATED)
    return built_company, data, path, path.read_text(encoding="utf-8")


def test_report_file_and_as_of(company):
    built, data, path, html = company
    assert data.as_of == dt.date.fromisoformat(built.as_of)
    assert path.name == f"cash_collection_{built.as_of}.html"
    assert data.reporting_currency == built.truth["reporting_currency"]
    assert f'<meta name="ltc-as-of" content="{built.as_of}">' in html
    with pytest.raises(ValueError, match="built as of"):
        load_collection(built.warehouse, data.as_of - dt.timedelta(days=1))


def test_headline_figures_equal_mart_queries(company):
    built, data, _, html = company
    shown = _parse(html).values
    (total, overdue, n_open, n_overdue), = _query(
        built.warehouse,
        "select sum(outstanding_amount_reporting), sum(outstanding_amount_reporting) filter (where is_overdue), "
        "count(*), count(*) filter (where is_overdue) from marts.fct_ar_aging where as_of_date = ?",
        [data.as_of],
    )
    assert shown["total_ar"] == _dv(total) and data.total_ar == total
    assert shown["overdue_ar"] == _dv(overdue) and data.overdue_ar == overdue
    assert (data.open_invoices, data.overdue_invoices) == (n_open, n_overdue)
    assert overdue > 0 and total > overdue  # the sandbox company has both current and overdue AR

    month = dt.date(data.as_of.year, data.as_of.month, 1)
    (dso, bpdso, add, cei, ending, overdue_rpt), = _query(
        built.warehouse,
        "select dso_days, best_possible_dso_days, average_days_delinquent, collection_effectiveness_index_pct, "
        "ending_ar, overdue_ar from marts.rpt_cash_collection where period_month = ?",
        [month],
    )
    assert shown["dso_days"] == _dv(dso)
    assert shown["best_possible_dso_days"] == _dv(bpdso)
    assert shown["average_days_delinquent"] == _dv(add)
    assert shown["cei_pct"] == _dv(cei)
    assert data.missing_metrics == ()  # the mart holds BPDSO and CEI
    # the monthly mart and the per-invoice aging agree on the as-of AR (within per-row rounding)
    assert abs(ending - total) <= Decimal("0.01") * n_open
    assert abs(overdue_rpt - overdue) <= Decimal("0.01") * n_overdue

    (due, on_time), = _query(built.warehouse,
                             "select sum(amount_due), sum(collected_on_time_amount) from marts.rpt_cash_collection")
    expected_rate = (on_time / due).quantize(Decimal("0.0001"))
    assert shown["on_time_collection_rate"] == _dv(expected_rate)


def test_buckets_equal_mart_and_sum_to_total(company):
    built, data, _, html = company
    shown = _parse(html).values
    rows = dict(
        (b, a) for b, a in _query(
            built.warehouse,
            "select aging_bucket, sum(outstanding_amount_reporting) from marts.fct_ar_aging "
            "where is_latest_as_of group by aging_bucket",
        )
    )
    assert [b.bucket for b in data.buckets] == [b for b, _ in BUCKETS]
    for b in data.buckets:
        assert b.amount == rows.get(b.bucket, Decimal("0.00"))
        assert shown[f"aging.{b.bucket}"] == _dv(b.amount)
    assert sum(b.amount for b in data.buckets) == data.total_ar
    assert sum(Decimal(shown[f"aging.{b}"]) for b, _ in BUCKETS) == Decimal(shown["aging.total"]) \
        == Decimal(shown["total_ar"])


def test_worklist_totals_equal_mart_queries(company):
    built, data, _, html = company
    shown = _parse(html).values
    wl = worklists_by_key(collection_worklists(data))
    overdue, customers, risks = wl["collection_overdue"], wl["collection_ar_by_customer"], wl["collection_largest_risks"]

    # overdue worklist: the same invoices and amounts as fct_ar_aging's overdue rows
    mart = _query(built.warehouse,
                  "select invoice_number, outstanding_amount_reporting, days_past_due from marts.fct_ar_aging "
                  "where is_latest_as_of and is_overdue")
    assert sorted(overdue.values("invoice")) == sorted(r[0] for r in mart)
    assert overdue.totals()["outstanding"] == sum(r[1] for r in mart) == data.overdue_ar
    assert sorted(overdue.values("days_overdue")) == sorted(r[2] for r in mart)
    assert shown["collection_overdue.outstanding.total"] == _dv(overdue.totals()["outstanding"])

    # AR by customer: bucket columns total to the fct_ar_aging buckets, rows to the customers
    bucket_sums = dict(_query(built.warehouse,
                              "select aging_bucket, sum(outstanding_amount_reporting) from marts.fct_ar_aging "
                              "where is_latest_as_of group by 1"))
    totals = customers.totals()
    for key, (bucket, _) in zip(("current", "d1_30", "d31_60", "d61_90", "d90_plus"), BUCKETS):
        assert totals[key] == bucket_sums.get(bucket, Decimal("0.00")), bucket
        assert shown[f"collection_ar_by_customer.{key}.total"] == _dv(totals[key])
    assert totals["total_ar"] == data.total_ar and totals["overdue"] == data.overdue_ar
    assert totals["open_invoices"] == data.open_invoices
    (n_customers,), = _query(built.warehouse,
                             "select count(distinct customer_key) from marts.rpt_collection_worklist")
    assert len(customers.rows) == n_customers
    for row in customers.as_dicts():  # each row's buckets add up to its total
        assert row["current"] + row["d1_30"] + row["d31_60"] + row["d61_90"] + row["d90_plus"] == row["total_ar"]

    # largest risks: the top customers by 90+ then overdue, from an independent query
    top = _query(
        built.warehouse,
        """
        select customer_key,
               coalesce(sum(outstanding_amount_reporting) filter (where aging_bucket = '90+'), 0) as d90,
               sum(outstanding_amount_reporting) filter (where is_overdue) as overdue
        from marts.rpt_collection_worklist group by customer_key
        having sum(outstanding_amount_reporting) filter (where is_overdue) > 0
        order by d90 desc, overdue desc
        """,
    )
    n = min(LARGEST_RISKS, len(top))
    assert [(r["d90_plus"], r["overdue"]) for r in risks.as_dicts()] == [(r[1], r[2]) for r in top[:n]]
    assert risks.totals()["d90_plus"] == sum(r[1] for r in top[:n])
    assert shown["collection_largest_risks.overdue.total"] == _dv(sum(r[2] for r in top[:n]))
    assert risks.values("rank") == list(range(1, n + 1))


def test_dunning_levels_follow_the_seed(company):
    """The suggested level is the seed row whose days-overdue range holds the invoice's days."""
    _, data, _, html = company
    with SEED.open(newline="") as fh:
        levels = [(int(r["dunning_level"]), r["level_name"], int(r["min_days_overdue"]),
                   int(r["max_days_overdue"]) if r["max_days_overdue"] else None) for r in csv.DictReader(fh)]

    def expected(days: int) -> tuple[int, str] | None:
        for level, name, low, high in levels:
            if days >= low and (high is None or days <= high):
                return level, name
        return None

    overdue = worklists_by_key(collection_worklists(data))["collection_overdue"]
    rows = overdue.as_dicts()
    assert rows
    for row in rows:
        assert (row["dunning_level"], row["dunning_step"]) == expected(row["days_overdue"]), row
    assert len({r["dunning_level"] for r in rows}) > 1  # the sandbox spans several levels
    assert sum(d.amount for d in data.dunning) == data.overdue_ar
    assert sum(d.invoices for d in data.dunning) == data.overdue_invoices


def test_rows_sorted_for_the_reader(company):
    _, data, _, _ = company
    wl = worklists_by_key(collection_worklists(data))
    days = [(r["days_overdue"], r["outstanding"]) for r in wl["collection_overdue"].as_dicts()]
    assert days == sorted(days, key=lambda t: (-t[0], -t[1]))
    totals = wl["collection_ar_by_customer"].values("total_ar")
    assert totals == sorted(totals, reverse=True)
    risks = [(r["d90_plus"], r["overdue"]) for r in wl["collection_largest_risks"].as_dicts()]
    assert risks == sorted(risks, key=lambda t: (-t[0], -t[1]))
    assert [m.period_month for m in data.months] == sorted(m.period_month for m in data.months)


def test_ar_agrees_with_ground_truth(company):
    """The truth holds no AR totals, but it knows which invoices are settled: a deleted invoice,
    or one paid in full by a plain correctly referenced receipt, is never open AR."""
    built, data, _, _ = company
    truth = built.truth
    open_ids = {r[0] for r in _query(built.warehouse,
                                     "select invoice_id from marts.rpt_collection_worklist")}
    assert open_ids == {r[0] for r in _query(built.warehouse,
                                             "select invoice_id from marts.fct_ar_aging where is_latest_as_of")}
    anomalies = truth["anomalies"]
    assert not open_ids & set(anomalies["deleted_records"]["invoices"])
    odd = set(anomalies["receipts_wrong_reference"]) | set(anomalies["receipts_missing_reference"]) \
        | set(anomalies["short_payments"]) | set(anomalies["overpayments"])
    for planted in truth["cash_application"]["planted"].values():
        odd |= set(planted)
    paid = {pays[0][0] for ref, pays in truth["cash_application"]["receipt_invoices"].items()
            if ref not in odd and len(pays) == 1}
    assert paid, "the truth lists plainly paid invoices"
    assert not open_ids & paid, "an invoice paid in full is shown as open AR"
    assert data.open_invoices <= truth["figures"]["invoices"]
    assert data.total_ar < Decimal(truth["figures"]["invoiced_total"])


def test_no_personal_data(company):
    _, data, _, html = company
    text = " ".join(_parse(html).text)
    assert "@" not in text
    assert not PHONE.search(text), PHONE.search(text)
    for w in collection_worklists(data):
        for row in w.rows:
            for value in row:
                if isinstance(value, str):
                    assert "@" not in value and not PHONE.search(value), (w.key, value)


# ---------------------------------------------------------------------------------------------
# Pure pieces on a hand-built marts schema

AS_OF = dt.date(2025, 3, 31)
_RPT_COLUMNS = (
    "period_month date, reporting_currency varchar, invoiced_amount decimal(18,2), "
    "collected_amount decimal(18,2), amount_due decimal(18,2), collected_on_time_amount decimal(18,2), "
    "on_time_collection_rate decimal(18,6), beginning_ar decimal(18,2), ending_ar decimal(18,2), "
    "current_ar decimal(18,2), overdue_ar decimal(18,2), dso_days decimal(18,2), as_of_date date"
)
_WORKLIST_COLUMNS = (
    "invoice_id varchar, invoice_number varchar, as_of_date date, customer_key varchar, "
    "customer_name varchar, account_owner_name varchar, owner_name varchar, due_date date, currency varchar, "
    "outstanding_amount decimal(18,2), reporting_currency varchar, outstanding_amount_reporting decimal(18,2), "
    "days_past_due integer, is_overdue boolean, aging_bucket varchar, last_payment_date date, "
    "dunning_level integer, dunning_level_name varchar, dunning_action varchar"
)


def _tiny_marts(path: Path, *, worklist: list[tuple] = (), full_trend: bool = True) -> Path:
    """rpt_cash_collection (with or without BPDSO / CEI), fct_ar_aging and rpt_collection_worklist."""
    con = connect_warehouse(path, read_only=False)
    try:
        con.execute("create schema marts")
        extra = (", countback_dso_days decimal(18,2), best_possible_dso_days decimal(18,2), "
                 "average_days_delinquent decimal(18,2), collection_effectiveness_index_pct decimal(18,2)")
        con.execute(f"create table marts.rpt_cash_collection ({_RPT_COLUMNS}{extra if full_trend else ''})")
        values = [
            ("2025-02-01", "USD", "1000.00", "800.00", "900.00", "700.00", "0.777778", "0.00", "200.00",
             "200.00", "0.00", "5.60", AS_OF),
            ("2025-03-01", "USD", "500.00", "700.00", "600.00", "300.00", "0.500000", "200.00", "0.00",
             "0.00", "0.00", "0.00", AS_OF),
        ]
        if full_trend:
            values = [v + ("6.00", "5.60", "0.00", "100.00") for v in values]
        con.executemany(f"insert into marts.rpt_cash_collection values ({', '.join('?' * len(values[0]))})", values)
        con.execute(f"create table marts.rpt_collection_worklist ({_WORKLIST_COLUMNS})")
        if worklist:
            con.executemany(f"insert into marts.rpt_collection_worklist values ({', '.join('?' * 19)})", worklist)
        con.execute("""create table marts.fct_ar_aging as
                       select invoice_id, as_of_date, aging_bucket, outstanding_amount_reporting, is_overdue
                       from marts.rpt_collection_worklist""")
    finally:
        con.close()
    return path


def _item(inv: str, customer: str, bucket: str, days: int, amount: str, level: int | None = None) -> tuple:
    return (inv, f"INV-2025-{inv}", AS_OF, customer, f"Customer {customer}", "Owner A", "Owner B",
            AS_OF - dt.timedelta(days=days), "EUR", amount, "USD", amount, days, days > 0, bucket,
            None, level, None if level is None else f"Level {level}", None)


def test_empty_ar_renders_zeros_and_empty_worklists(tmp_path: Path):
    warehouse = _tiny_marts(tmp_path / "w.duckdb")
    data = load_collection(warehouse)
    assert data.as_of == AS_OF
    assert data.total_ar == Decimal("0.00") and data.overdue_ar == Decimal("0.00")
    assert [b.amount for b in data.buckets] == [Decimal("0.00")] * 5
    assert all(not w.rows for w in collection_worklists(data))
    assert data.largest_risks == ()
    shown = _parse(render_collection(data, generated_at=GENERATED)).values
    assert shown["total_ar"] == "0.00" and shown["overdue_ar"] == "0.00"
    assert shown["collection_overdue.rows"] == "0"
    assert shown["dso_days"] == "0.00" and shown["cei_pct"] == "100.00"  # the as-of month's mart row
    # on-time rate = Σ on time ÷ Σ due = 1000 / 1500
    assert shown["on_time_collection_rate"] == "0.6667"


def test_missing_bpdso_and_cei_are_reported(tmp_path: Path):
    warehouse = _tiny_marts(tmp_path / "w.duckdb", full_trend=False)
    data = load_collection(warehouse)
    assert set(data.missing_metrics) == {"Countback DSO", "Best possible DSO", "Average days delinquent", "CEI"}
    html = render_collection(data, generated_at=GENERATED)
    assert "Not held by marts.rpt_cash_collection" in html and "Best possible DSO" in html
    shown = _parse(html).values
    assert shown["best_possible_dso_days"] == "" and shown["cei_pct"] == "" and shown["dso_days"] == "0.00"


def test_largest_risks_put_90_plus_first(tmp_path: Path):
    worklist = [
        _item("1", "A", "1-30", 10, "5000.00", 1),  # most overdue in total, nothing 90+
        _item("2", "B", "90+", 120, "100.00", 5),
        _item("3", "B", "current", 0, "9000.00"),
        _item("4", "C", "90+", 95, "300.00", 5),
        _item("5", "D", "current", 0, "50.00"),  # nothing overdue: no risk
    ]
    data = load_collection(_tiny_marts(tmp_path / "w.duckdb", worklist=worklist))
    risks = worklists_by_key(collection_worklists(data))["collection_largest_risks"]
    assert risks.values("customer") == ["Customer C", "Customer B", "Customer A"]
    assert risks.values("share_of_overdue") == [Decimal("0.0556"), Decimal("0.0185"), Decimal("0.9259")]
    customers = worklists_by_key(collection_worklists(data))["collection_ar_by_customer"]
    assert customers.values("customer")[0] == "Customer B"  # largest total AR first
    assert data.total_ar == Decimal("14450.00") and data.overdue_ar == Decimal("5400.00")
    overdue = worklists_by_key(collection_worklists(data))["collection_overdue"]
    assert overdue.values("invoice") == ["INV-2025-2", "INV-2025-4", "INV-2025-1"]
    assert overdue.values("dunning_level") == [5, 5, 1]


def test_as_of_other_than_the_marts_is_an_error(tmp_path: Path):
    warehouse = _tiny_marts(tmp_path / "w.duckdb")
    with pytest.raises(ValueError, match="built as of 2025-03-31, not 2025-04-30"):
        load_collection(warehouse, dt.date(2025, 4, 30))
    assert load_collection(warehouse, AS_OF).as_of == AS_OF
