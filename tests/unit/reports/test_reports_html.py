"""The HTML report: exact headline values, self-contained output, as-of date, escaping."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from marts_fixture import AS_OF, EXPECTED, PII_NAME, build_marts

from reports.datasets import Headline, load_report_data, read_cash_collection, read_funnel, read_headline
from reports.html import build_html_report

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
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = dict(attrs)
        if "data-metric" in a:
            self.values[a["data-metric"]] = a.get("data-value", "")
        for name in ("src", "href", "xlink:href", "srcset", "data", "action", "poster"):
            if a.get(name):
                self.external.append(f"{tag} {name}={a[name]}")


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return build_marts(tmp_path / "warehouse.duckdb")


@pytest.fixture
def report(warehouse: Path, tmp_path: Path) -> tuple[Path, str]:
    path = build_html_report(warehouse, tmp_path / "out", generated_at=GENERATED)
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
    assert tuple(parser.values) == METRICS
    assert parser.values == EXPECTED


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


def test_latest_copy_written(report: tuple[Path, str]):
    path, html = report
    latest = path.parent / "latest.html"
    assert latest.is_file() and not latest.is_symlink()
    assert latest.read_text(encoding="utf-8") == html
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_no_personal_data_in_report(report: tuple[Path, str]):
    _, html = report
    assert PII_NAME not in html


def test_text_is_escaped(tmp_path: Path):
    path = build_marts(tmp_path / "w.duckdb")
    con = duckdb.connect(str(path))
    con.execute("update marts.rpt_funnel_conversion set step_name = '<b>acq</b>&' where stage_code = 'S1'")
    con.execute("update marts.rpt_cash_collection set reporting_currency = '<i>X</i>'")
    con.close()
    html = build_html_report(path, tmp_path / "out", generated_at=GENERATED).read_text()
    assert "<b>acq</b>" not in html and "&lt;b&gt;acq&lt;/b&gt;&amp;" in html
    assert "<i>X</i>" not in html


def test_connection_released(warehouse: Path, tmp_path: Path):
    build_html_report(warehouse, tmp_path / "out", generated_at=GENERATED)
    con = duckdb.connect(str(warehouse))  # read-write open works: the report closed its connection
    con.execute("select 1").fetchall()
    con.close()


def test_explicit_as_of(warehouse: Path, tmp_path: Path):
    path = build_html_report(warehouse, tmp_path / "out", as_of=dt.date.fromisoformat(AS_OF), generated_at=GENERATED)
    assert path.name == f"ltc_report_{AS_OF}.html"
    with pytest.raises(ValueError, match="built as of 2025-03-31"):
        build_html_report(warehouse, tmp_path / "out", as_of=dt.date(2025, 6, 30), generated_at=GENERATED)


def test_deterministic_given_generated_at(warehouse: Path, tmp_path: Path):
    a = build_html_report(warehouse, tmp_path / "a", generated_at=GENERATED).read_bytes()
    b = build_html_report(warehouse, tmp_path / "b", generated_at=GENERATED).read_bytes()
    assert a == b


def test_empty_marts_render(tmp_path: Path):
    path = build_marts(tmp_path / "w.duckdb", empty=True)
    with pytest.raises(ValueError, match="no as-of date"):
        build_html_report(path, tmp_path / "out")
    out = build_html_report(path, tmp_path / "out", as_of=dt.date(2025, 12, 31), generated_at=GENERATED)
    parser = _Tiles()
    parser.feed(out.read_text())
    assert parser.values["leads"] == "0"
    assert parser.values["won_amount"] == "0.00"
    assert parser.values["dso_days"] == ""
    assert "No data for this period" in out.read_text()


def test_missing_warehouse(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        build_html_report(tmp_path / "nope.duckdb", tmp_path / "out")


def test_cancelled_invoices_excluded_when_flagged(tmp_path: Path):
    path = build_marts(tmp_path / "w.duckdb")
    con = duckdb.connect(str(path))
    con.execute("alter table marts.fct_invoices add column is_cancelled boolean default false")
    con.execute("update marts.fct_invoices set is_cancelled = true where invoice_id = 'I3'")
    con.close()
    assert read_headline(path).invoiced_total == Decimal("20000.01")
