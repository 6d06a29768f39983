"""The LTC health panel as a reader sees it: the executive report in real headless Chromium, network
cut off, at laptop (1280 px) and phone (390 px) widths.

The panel must be the first section of the page, draw one small chart per measure (an SVG in the
live DOM with a point for every month the mart has a figure), show each measure's definition
beside its chart, show the latest figures as the mart states them, and log no console errors.
"""

from __future__ import annotations

import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chromium import chromium_path, png_stats, render
from connectors.marts_file import connect_warehouse
from reports.formatting import fmt_money, fmt_pct
from reports.health_panel import MEASURES
from reports.html import build_html_report

pytestmark = pytest.mark.slow


class _Dom(HTMLParser):
    """Section order, the panel's charts (points per chart) and card attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.points: dict[str, int] = {}
        self.shapes: dict[str, int] = {}
        self.cards: dict[str, dict] = {}
        self._chart: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("aria-labelledby") or "")
        if tag == "div" and "health-card" in (a.get("class") or ""):
            self.cards[a["data-metric"]] = a
        if tag == "svg" and a.get("data-chart"):
            self._chart = a["data-chart"]
            self.points[self._chart] = 0
            self.shapes[self._chart] = 0
            assert a.get("role") == "img" and a.get("aria-label")
        elif self._chart and tag in ("circle", "polyline", "line"):
            self.shapes[self._chart] += 1
            if tag == "circle":
                self.points[self._chart] += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart = None


@pytest.fixture(scope="module")
def page(built_company, tmp_path_factory) -> Path:
    return build_html_report(built_company.warehouse, tmp_path_factory.mktemp("health"))


def _mart(db: Path) -> tuple[dict[str, int], dict]:
    con = connect_warehouse(db, read_only=True)
    try:
        counts = {m: con.execute(f"select count({m}) from marts.rpt_ltc_health").fetchone()[0] for m in MEASURES}
        latest = dict(zip(("accuracy", "on_time", "overdue"), con.execute(
            """select (select forecast_accuracy from marts.rpt_ltc_health where forecast_accuracy is not null
                       order by period_month desc limit 1),
                      (select on_time_collection_rate from marts.rpt_ltc_health
                       where on_time_collection_rate is not null order by period_month desc limit 1),
                      (select overdue_ar from marts.rpt_ltc_health where overdue_ar is not null
                       order by period_month desc limit 1)""").fetchone()))
    finally:
        con.close()
    return counts, latest


@pytest.mark.parametrize("width", [1280, 390])
def test_health_panel_renders_in_chromium(require_service, built_company, page, tmp_path, width):
    chromium = chromium_path(require_service)
    shot = render(chromium, page, tmp_path / "artifacts", width=width, height=1800, name=f"ltc_health_{width}")
    assert shot.errors == (), shot.errors
    w, h, colours = png_stats(shot.png.read_bytes())
    assert (w, h) == (width, 1800) and colours > 20  # not a blank page

    dom = _Dom()
    dom.feed(shot.dom)
    assert dom.sections[0] == "ltc-health", dom.sections[:3]  # the panel opens the report
    counts, latest = _mart(built_company.warehouse)
    assert set(dom.points) == set(MEASURES)
    for metric, n in counts.items():
        assert n > 0, metric  # the sandbox company has a figure for every measure
        assert dom.points[metric] == n, (metric, dom.points[metric], n)  # a point per month with a figure
        assert dom.shapes[metric] > n, metric  # and the line between them

    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", shot.dom))
    for spec in MEASURES.values():  # each definition is beside its chart
        assert spec["label"] in text and spec["definition"] in text.replace("&amp;", "&"), spec["label"]
    for shown in (fmt_pct(Decimal(latest["accuracy"])), fmt_pct(Decimal(latest["on_time"])),
                  fmt_money(Decimal(latest["overdue"]))):
        assert shown in text, shown
    assert Decimal(dom.cards["overdue_ar"]["data-value"]) == latest["overdue"]
