"""The executive report on the sandbox company's real marts: every headline tile (value, prior
value and change), the reconciled to-date figures, the conversion tables and the trust panel equal
an independent query of the marts or the generator's ground truth, and no personal data shows.

The expectations are written here as their own SQL (month by `date_trunc`, not the report's date
ranges; changes cross-checked with rpt_ltc_health's own `*_change` columns), never read back from
the report's code.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from connectors.marts_file import connect_warehouse
from orchestration.cli import RECONCILED_FIGURES, reconcile_report
from reports.html import build_html_report, read_report_metrics

GENERATED = dt.datetime(2026, 1, 2, 8, 30, tzinfo=dt.timezone.utc)
SYSTEMS = ("salesforce", "erp", "finance", "marketing")


class _Page(HTMLParser):
    """Tiles by metric (all their attributes), conversion rows by table and the freshness rows."""

    def __init__(self) -> None:
        super().__init__()
        self.tiles: dict[str, dict[str, str]] = {}
        self.table: str | None = None
        self.slices: dict[str, dict[str, list[int]]] = {}
        self.current: list[int] | None = None
        self.freshness: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = {k: v or "" for k, v in attrs}
        if "tile" in a.get("class", "").split() and "data-metric" in a:
            self.tiles[a["data-metric"]] = a
        if tag == "table" and a.get("data-breakdown"):
            self.table = a["data-breakdown"]
            self.slices[self.table] = {}
        if tag == "tr" and self.table and "data-slice" in a:
            self.current = self.slices[self.table].setdefault(a["data-slice"], [])
        if tag == "td" and self.current is not None and "data-value" in a:
            self.current.append(int(a["data-value"]))
        if tag == "tr" and "data-source" in a:
            self.freshness[a["data-source"]] = a.get("data-last-loaded-at", "")

    def handle_endtag(self, tag):  # noqa: ANN001
        if tag == "tr":
            self.current = None
        if tag == "table":
            self.table = None


@pytest.fixture(scope="module")
def report(built_company, tmp_path_factory) -> tuple[Path, str, _Page]:
    out = tmp_path_factory.mktemp("exec_report")
    path = build_html_report(built_company.warehouse, out, generated_at=GENERATED)
    html = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    return path, html, page


@pytest.fixture(scope="module")
def marts(built_company):
    con = connect_warehouse(built_company.warehouse, read_only=True)
    yield con
    con.close()


def _months(as_of: dt.date) -> tuple[dt.date, dt.date]:
    current = as_of.replace(day=1)
    prior = (current - dt.timedelta(days=1)).replace(day=1)
    return current, prior


def _expected_tiles(con, as_of: dt.date) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """(value, prior value) per headline tile, each month queried on its own."""

    def one(sql: str, month: dt.date):
        row = con.execute(sql, [month]).fetchone()
        return None if row is None else row[0]

    def cash(column: str, month: dt.date):
        return one(f"select {column} from marts.rpt_cash_collection where period_month = ?", month)

    queries = {
        "booked_month": lambda m: one(
            "select coalesce(sum(amount_reporting), 0) from marts.fct_opportunities "
            "where is_won and not is_deleted and date_trunc('month', close_date) = ?", m),
        "billed_month": lambda m: cash("invoiced_amount", m),
        "collected_month": lambda m: cash("collected_amount", m),
        "won_rate_month": lambda m: one(
            "select win_rate_by_count from marts.rpt_pipeline_performance "
            "where period_type = 'month' and period_start = ?", m),
        "dso_days": lambda m: cash("dso_days", m),
        "on_time_rate_month": lambda m: cash("on_time_collection_rate", m),
        "overdue_ar": lambda m: cash("overdue_ar", m),
        "exceptions_month": lambda m: one(
            "select coalesce(sum(amount_reporting), 0) from marts.fct_reconciliation_exceptions "
            "where date_trunc('month', detected_date) = ?", m),
    }
    current, prior = _months(as_of)
    return {name: (q(current), q(prior)) for name, q in queries.items()}


def test_headline_tiles_equal_the_marts(report, marts, built_company):
    _, _, page = report
    expected = _expected_tiles(marts, dt.date.fromisoformat(built_company.as_of))
    for name, (value, prior) in expected.items():
        tile = page.tiles[name]
        assert value is not None, f"{name}: the marts hold no figure for the as-of month"
        assert Decimal(tile["data-value"]) == Decimal(value), name
        if prior is None:
            assert tile["data-change"] == "", name
            continue
        assert Decimal(tile["data-prior"]) == Decimal(prior), name
        assert Decimal(tile["data-change"]) == Decimal(value) - Decimal(prior), name
        direction = "up" if value > prior else "down" if value < prior else "flat"
        assert tile["data-direction"] == direction, name
    assert {n: page.tiles[n]["data-up-is-good"] for n in expected} == {
        "booked_month": "true", "billed_month": "true", "collected_month": "true",
        "won_rate_month": "true", "dso_days": "false", "on_time_rate_month": "true",
        "overdue_ar": "false", "exceptions_month": "false",
    }


def test_changes_agree_with_the_health_mart(report, marts, built_company):
    """rpt_ltc_health computes the month-on-month change itself: the tiles must say the same."""
    _, _, page = report
    current, _ = _months(dt.date.fromisoformat(built_company.as_of))
    row = marts.execute(
        "select dso_days_change, on_time_collection_rate_change, overdue_ar_change "
        "from marts.rpt_ltc_health where period_month = ?", [current]).fetchone()
    for name, change in zip(("dso_days", "on_time_rate_month", "overdue_ar"), row):
        if change is not None:
            assert Decimal(page.tiles[name]["data-change"]) == change, name


def test_tiles_show_their_text(report, built_company):
    _, html, page = report
    current, prior = _months(dt.date.fromisoformat(built_company.as_of))
    assert f"Headline · {current.strftime('%b %Y')}" in html
    assert f"change against {prior.strftime('%b %Y')}" in html
    billed = Decimal(page.tiles["billed_month"]["data-value"])
    assert f"{billed:,.2f}" in html


def test_reconciled_figures_equal_the_ground_truth(report, built_company):
    path, _, _ = report
    rows = reconcile_report(path, built_company.truth)
    assert [r[0] for r in rows] == list(RECONCILED_FIGURES)
    assert all(same for *_, same in rows), rows
    metrics = read_report_metrics(path)
    for name in ("on_time_collection_rate", "dso_days", "overdue_ar"):
        assert name in metrics  # the rest of the historical tiles are still published


def test_conversion_tables_total_to_the_funnel(report, marts, built_company):
    _, _, page = report
    as_of = dt.date.fromisoformat(built_company.as_of)
    funnel = [n for (n,) in marts.execute(
        "select sum(journeys) from marts.rpt_funnel_conversion "
        "where measure_type = 'cohort' and dimension = 'total' and as_of_date = ? "
        "group by stage_order order by stage_order", [as_of]).fetchall()]
    assert funnel and funnel[0] > 0
    metrics = read_report_metrics(report[0])
    for dimension in ("channel", "campaign", "region", "owner"):
        slices = page.slices[dimension]
        assert slices, dimension
        # every row is the mart's slice, and the rows add up to the funnel
        expected = {}
        for value, n in marts.execute(
            "select dimension_value, sum(journeys) from marts.rpt_funnel_conversion "
            "where measure_type = 'cohort' and dimension = ? group by dimension_value, stage_order "
            "order by dimension_value, stage_order", [dimension]).fetchall():
            expected.setdefault(value, []).append(int(n))
        assert slices == expected, dimension
        assert [sum(col) for col in zip(*slices.values())] == funnel, dimension
        totals = [int(metrics[f"conversion.{dimension}.S{i}.total"]) for i in range(1, len(funnel) + 1)]
        assert totals == funnel, dimension


def test_freshness_row_for_every_system(report, marts):
    _, _, page = report
    assert sorted(page.freshness) == sorted(SYSTEMS)
    landed = dict(marts.execute(
        "select source_system, last_loaded_at from marts.rpt_source_freshness").fetchall())
    for system in SYSTEMS:
        assert landed[system] is not None, f"{system} never landed"
        assert dt.datetime.fromisoformat(page.freshness[system]) == landed[system], system


def test_no_personal_data(report, marts):
    _, html, _ = report
    assert not re.search(r"[\w.+-]+@[\w-]+\.[A-Za-z]{2,}", html), "an email address"
    text = re.sub(r"<[^>]+>", "\n", html)
    lines = {line.strip() for line in text.splitlines() if line.strip()}
    for table in ("lead", "contact"):
        for name, email in marts.execute(f"select name, email from raw_salesforce.{table}").fetchall():
            assert name not in lines, f"{table} name {name!r} shows"
            assert not email or email not in html, f"{table} email shows"
        phones = marts.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw_salesforce' and table_name = ? and column_name like '%phone%'",
            [table]).fetchall()
        for (column,) in phones:
            rows = marts.execute(f"select {column} from raw_salesforce.{table} where {column} is not null")
            for (phone,) in rows.fetchall():
                assert str(phone) not in html, f"{table} {column} shows"
