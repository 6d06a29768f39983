"""The revenue-flow partial as a reader sees it: real headless Chromium, network cut off.

The partial is rendered standalone in the report shell (_base.html.j2) from the sandbox company's
marts, written to disk and opened from there at laptop (1280 px) and phone (390 px) widths. The
page must log no console errors, every chart must be an SVG drawn in the live DOM, and the key
figures must show the text computed from an independent mart query. Screenshots stay under the
test's tmp_path as artifacts.
"""

from __future__ import annotations

import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chromium import chromium_path, png_stats, render
from connectors.marts_file import connect_warehouse
from reports.formatting import environment, fmt_date_long, fmt_money, fmt_pct, write_atomic
from reports.revenue_flow import load_revenue_flow, revenue_flow_context

PAGE = '{% extends "_base.html.j2" %}{% block content %}{% include "_exec_revenue.html.j2" %}{% endblock %}'
CHARTS = 6  # stage times, cycle steps, pipeline waterfall, forecast, bridge, bridge by month


class _Svgs(HTMLParser):
    """Each top-level <svg>: its aria-label and how many shapes it draws."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[dict] = []
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self.depth += 1
            self.charts.append({"label": dict(attrs).get("aria-label"), "role": dict(attrs).get("role"), "shapes": 0})
        elif self.depth and tag in ("rect", "polyline", "circle", "line"):
            self.charts[-1]["shapes"] += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "svg":
            self.depth -= 1


@pytest.fixture(scope="module")
def page(built_company, tmp_path_factory) -> Path:
    flow = load_revenue_flow(built_company.warehouse)
    html = environment().from_string(PAGE).render(
        title="Revenue flow",
        as_of_iso=flow.as_of.isoformat(),
        as_of_long=fmt_date_long(flow.as_of),
        currency=flow.reporting_currency,
        period_label=str(flow.as_of.year),
        generated_at="e2e test",
        revenue=revenue_flow_context(flow),
    )
    path = tmp_path_factory.mktemp("revenue_flow") / "revenue_flow.html"
    write_atomic(path, html)
    return path


def _expected_text(db: Path) -> list[str]:
    """Visible text of key figures, from queries of the marts (not from the page)."""
    con = connect_warehouse(db, read_only=True)
    try:
        (velocity,) = con.execute(
            "select sales_velocity_per_day from marts.rpt_revenue_velocity order by period_month desc limit 1"
        ).fetchone()
        accuracy, bias = con.execute(
            """select point_accuracy, bias from marts.rpt_forecast_accuracy
               where period_type = 'quarter' and forecast_category = 'Commit' and is_period_complete
               order by period_start desc limit 1"""
        ).fetchone()
        booked, collected = con.execute(
            "select sum(booked_amount), sum(collected_amount) from marts.rpt_revenue_bridge"
        ).fetchone()
    finally:
        con.close()
    return [fmt_money(velocity), fmt_pct(Decimal(accuracy)), fmt_pct(Decimal(bias)).lstrip("-"),
            fmt_money(booked), fmt_money(collected)]


@pytest.mark.parametrize("width", [1280, 390])
def test_revenue_flow_renders_in_chromium(require_service, built_company, page, tmp_path, width):
    chromium = chromium_path(require_service)
    shot = render(chromium, page, tmp_path / "artifacts", width=width, height=2400, name=f"revenue_flow_{width}")
    assert shot.errors == (), shot.errors
    w, h, colours = png_stats(shot.png.read_bytes())
    assert (w, h) == (width, 2400) and colours > 20  # not a blank page

    svgs = _Svgs()
    svgs.feed(shot.dom)
    assert len(svgs.charts) == CHARTS, [c["label"] for c in svgs.charts]
    for chart in svgs.charts:
        assert chart["role"] == "img" and chart["label"], chart
        assert chart["shapes"] >= 3, chart  # drawn, not the "no data" placeholder

    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", shot.dom))
    for expected in _expected_text(built_company.warehouse):
        assert expected in text, expected
    for heading in ("Sales velocity and cycle time", "Pipeline coverage and waterfall",
                    "Forecast against actual", "Bookings → billings → collections"):
        assert heading in text
