"""The HTML report on a hand-built marts fixture: exact tile values and changes, conversion
breakdowns, trust panel, self-contained output, as-of date, escaping."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser
from functools import partial
from pathlib import Path

import pytest
from marts_fixture import (
    AS_OF, EXCEPTION_QUEUE, EXPECTED, EXPECTED_HEADLINE, FRESHNESS_SYSTEMS, PII_NAME, build_marts,
)

from connectors.marts_file import connect_warehouse
from reports.datasets import Headline, load_report_data, read_cash_collection, read_funnel, read_headline
from reports.html import build_html_report

# The fixture holds the core marts only: the revenue-flow sections (their own marts) are tested in
# test_revenue_flow.py and, in the whole report, in test_exec_report_marts.py.
build_core_report = partial(build_html_report, with_revenue_flow=False)

METRICS = (
    "leads",
    "converted_leads",
    "won_opportunities",
    "won_amount",
    "invoiced_total",
    "collected_total",
    "on_time_collection_rate",
    "dso_days",
    "overdue_ar",
)
GENERATED = dt.datetime(2026, 1, 2, 8, 30, tzinfo=dt.timezone.utc)


class _Tiles(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.tiles: dict[str, dict[str, str]] = {}  # the tiles' attributes, by data-metric
        self.tile_order: list[str] = []
        self.sources: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = dict(attrs)
        if "data-metric" in a:
            self.values[a["data-metric"]] = a.get("data-value", "")
            if "tile" in (a.get("class") or ""):
                self.tiles[a["data-metric"]] = a
                self.tile_order.append(a["data-metric"])
        if a.get("data-source"):
            self.sources.append(a["data-source"])
        for name in ("src", "href", "xlink:href", "srcset", "data", "action", "poster"):
            if a.get(name):
                self.external.append(f"{tag} {name}={a[name]}")


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return build_marts(tmp_path / "warehouse.duckdb")


@pytest.fixture
def report(warehouse: Path, tmp_path: Path) -> tuple[Path, str]:
    path = build_core_report(warehouse, tmp_path / "out", generated_at=GENERATED)
    return path, path.read_text(encoding="utf-8")


def test_headline_dataset(warehouse: Path):
    h = read_headline(warehouse)
    assert isinstance(h, Headline)
    assert {k: format(v, "f") if isinstance(v, Decimal) else str(v) for k, v in h.as_dict().items()} == EXPECTED
    assert isinstance(h.won_amount, Decimal) and isinstance(h.collected_total, Decimal)
    assert h.reporting_currency == "USD"


def test_funnel_and_cash_datasets(warehouse: Path):
    cohort = read_funnel(warehouse, "cohort")
    period = read_funnel(warehouse, "period")
    assert {r.measure_type for r in cohort} == {"cohort"} and {r.measure_type for r in period} == {"period"}
    data = load_report_data(warehouse)
    stages = data.cohort_stages
    assert [s.stage_code for s in stages] == ["S1", "S2", "S3", "S4", "S5", "S6"]
    assert [s.journeys for s in stages] == [6, 5, 3, 2, 1, 1]
    assert stages[1].conversion_from_previous == Decimal("0.8333")
    assert stages[0].conversion_from_previous is None
    assert [s.journeys for s in data.period_stages] == [6, 5, 3, 2, 1, 1]
    cash = read_cash_collection(warehouse)
    assert [m.period_month for m in cash] == [dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)]
    assert cash[1].invoiced_amount == Decimal("8000.01")
    assert data.as_of == dt.date.fromisoformat(AS_OF)


def test_headline_values_in_html_equal_the_marts(report: tuple[Path, str]):
    path, html = report
    assert path.name == f"ltc_report_{AS_OF}.html"
    parser = _Tiles()
    parser.feed(html)
    assert set(METRICS) <= set(parser.tile_order)
    assert len(parser.tile_order) == len(set(parser.tile_order)), "a metric shows twice"
    assert {m: parser.values[m] for m in METRICS} == EXPECTED


def test_headline_tiles_with_change(report: tuple[Path, str]):
    _, html = report
    parser = _Tiles()
    parser.feed(html)
    assert parser.tile_order[: len(EXPECTED_HEADLINE)] == list(EXPECTED_HEADLINE)
    got = {m: (parser.tiles[m]["data-value"], parser.tiles[m]["data-prior"], parser.tiles[m]["data-change"])
           for m in EXPECTED_HEADLINE}
    assert got == EXPECTED_HEADLINE
    # direction, and whether up is good: DSO, overdue AR and exceptions are better down
    assert parser.tiles["booked_month"]["data-direction"] == "up"
    assert parser.tiles["dso_days"]["data-direction"] == "down"
    assert parser.tiles["dso_days"]["data-up-is-good"] == "false"
    assert parser.tiles["won_rate_month"]["data-up-is-good"] == "true"
    assert "Headline · Mar 2025" in html and "change against Feb 2025" in html
    assert "−50.0 pp vs Feb 2025" in html  # the won rate, in percentage points
    assert "−11.2 days vs Feb 2025" in html
    count, amount = EXCEPTION_QUEUE
    assert f"whole queue ${Decimal(amount):,.2f} in {count}" in html  # the symbol, not "800.10 USD"


def test_conversion_breakdowns_add_up_to_the_funnel(warehouse: Path, report: tuple[Path, str]):
    _, html = report
    data = load_report_data(warehouse)
    funnel = [s.journeys for s in data.cohort_stages]
    by = {b.dimension: b for b in data.breakdowns}
    assert list(by) == ["channel", "campaign", "region", "owner"]
    assert [r.label for r in by["channel"].rows] == ["Organic", "Paid"]  # largest S1 first
    assert list(by["channel"].totals) == funnel and list(by["owner"].totals) == funnel
    assert by["region"].rows == ()  # no region slice in the marts: an empty table, not an error
    parser = _Tiles()
    parser.feed(html)
    for code, n in zip(("S1", "S2", "S3", "S4", "S5", "S6"), funnel):
        assert parser.values[f"conversion.channel.{code}.total"] == str(n)
    assert "By owner" in html and "Sam Seller" in html  # an employee, the CRM owner


def test_trust_panel(report: tuple[Path, str]):
    _, html = report
    parser = _Tiles()
    parser.feed(html)
    assert sorted(parser.sources) == sorted(FRESHNESS_SYSTEMS)
    assert "2025-03-30 08:00" in html  # marketing's stalest table
    assert "4/5" in html
    for term in ("Booked", "Billed", "Collected", "Won rate", "DSO", "On-time collection", "Overdue AR",
                 "New exceptions", "Funnel, cohort view", "Funnel, period view", "Data freshness"):
        assert f'<td class="name">{term}</td>' in html, term
    assert f"Glossary · definitions used in this report (as of {AS_OF})" in html


def test_visible_money_formatting(report: tuple[Path, str]):
    _, html = report
    assert "13,500.55" in html  # won amount, thousands separator and 2 decimals
    assert "20,001.01" in html
    assert "70.0%" in html
    assert "41.3" in html


def test_as_of_date_prominent(report: tuple[Path, str]):
    _, html = report
    assert f'<time datetime="{AS_OF}">{AS_OF}</time>' in html
    assert f"<title>Lead-to-cash report · as of {AS_OF}</title>" in html
    assert "31 March 2025" in html


def test_self_contained_no_external_resources(report: tuple[Path, str]):
    _, html = report
    parser = _Tiles()
    parser.feed(html)
    assert parser.external == [], parser.external
    assert not re.search(r"https?://", html, re.I)
    assert "@import" not in html
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", html, re.I)
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert "<svg" in html  # charts are inline


def test_funnel_labelled_cohort_and_period(report: tuple[Path, str]):
    _, html = report
    assert '<span class="tag">cohort</span>' in html
    assert '<span class="tag period">period</span>' in html
    assert html.count("<svg") >= 2
    assert "Invoiced vs collected" in html


def test_only_the_report_is_written(report: tuple[Path, str]):
    """Publishing (`latest`, the index) is reports/publish.py's: the builder writes one file."""
    path, html = report
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert path.read_text(encoding="utf-8") == html


def test_no_personal_data_in_report(report: tuple[Path, str]):
    _, html = report
    assert PII_NAME not in html


def test_text_is_escaped(tmp_path: Path):
    path = build_marts(tmp_path / "w.duckdb")
    con = connect_warehouse(path, read_only=False)
    con.execute("update marts.rpt_funnel_conversion set step_name = '<b>acq</b>&' where stage_code = 'S1'")
    con.execute("update marts.rpt_cash_collection set reporting_currency = '<i>X</i>'")
    con.close()
    html = build_core_report(path, tmp_path / "out", generated_at=GENERATED).read_text()
    assert "<b>acq</b>" not in html and "&lt;b&gt;acq&lt;/b&gt;&amp;" in html
    assert "<i>X</i>" not in html


def test_connection_released(warehouse: Path, tmp_path: Path):
    build_core_report(warehouse, tmp_path / "out", generated_at=GENERATED)
    con = connect_warehouse(warehouse, read_only=False)  # read-write open works: the report closed its connection
    con.execute("select 1").fetchall()
    con.close()


def test_explicit_as_of(warehouse: Path, tmp_path: Path):
    path = build_core_report(warehouse, tmp_path / "out", as_of=dt.date.fromisoformat(AS_OF), generated_at=GENERATED)
    assert path.name == f"ltc_report_{AS_OF}.html"
    with pytest.raises(ValueError, match="built as of 2025-03-31"):
        build_core_report(warehouse, tmp_path / "out", as_of=dt.date(2025, 6, 30), generated_at=GENERATED)


def test_deterministic_given_generated_at(warehouse: Path, tmp_path: Path):
    a = build_core_report(warehouse, tmp_path / "a", generated_at=GENERATED).read_bytes()
    b = build_core_report(warehouse, tmp_path / "b", generated_at=GENERATED).read_bytes()
    assert a == b


def test_empty_marts_render(tmp_path: Path):
    path = build_marts(tmp_path / "w.duckdb", empty=True)
    with pytest.raises(ValueError, match="no as-of date"):
        build_core_report(path, tmp_path / "out")
    out = build_core_report(path, tmp_path / "out", as_of=dt.date(2025, 12, 31), generated_at=GENERATED)
    parser = _Tiles()
    parser.feed(out.read_text())
    assert parser.values["leads"] == "0"
    assert parser.values["won_amount"] == "0.00"
    assert parser.values["dso_days"] == ""
    assert parser.tiles["booked_month"]["data-change"] == "0.00"
    assert parser.tiles["billed_month"]["data-value"] == "" and parser.tiles["billed_month"]["data-change"] == ""
    assert "No data for this period" in out.read_text()
    assert "rpt_source_freshness is empty" in out.read_text()


def test_missing_warehouse(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        build_core_report(tmp_path / "nope.duckdb", tmp_path / "out")


def test_cancelled_invoices_excluded_when_flagged(tmp_path: Path):
    path = build_marts(tmp_path / "w.duckdb")
    con = connect_warehouse(path, read_only=False)
    con.execute("alter table marts.fct_invoices add column is_cancelled boolean default false")
    con.execute("update marts.fct_invoices set is_cancelled = true where invoice_id = 'I3'")
    con.close()
    assert read_headline(path).invoiced_total == Decimal("20000.01")
