"""The cash-collection report of the sandbox company, opened in real headless Chromium offline.

What a reader sees: the page loads from disk with the network cut off, logs no console error,
every chart is a non-empty inline SVG, the key tiles show the figures the marts hold, and the
worklist script ran (the filter boxes, hidden for mail clients, are shown). Screenshots at laptop
and phone width are kept under the test's tmp_path as artifacts.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from chromium import chromium_path, png_stats, render

from connectors.marts_file import connect_warehouse
from reports.collection import build_collection_report
from reports.formatting import fmt_days, fmt_money

GENERATED = dt.datetime(2026, 1, 2, 8, 30, tzinfo=dt.timezone.utc)
CHART_LABELS = (
    "Open AR by aging bucket",
    "Open AR of the 12 largest customers",
    "DSO, countback DSO and best possible DSO",
    "Collection effectiveness index and on-time collection rate",
    "Amount due, collected on time and collected",
)


@pytest.fixture(scope="module")
def report(built_company, tmp_path_factory) -> Path:
    return build_collection_report(built_company.warehouse, tmp_path_factory.mktemp("collection_html"),
                                   generated_at=GENERATED)


def _expected_tiles(warehouse: Path) -> dict[str, str]:
    """Total and overdue AR as the reader should see them, from an independent mart query."""
    con = connect_warehouse(warehouse, read_only=True)
    try:
        total, overdue = con.execute(
            "select sum(outstanding_amount_reporting), "
            "sum(outstanding_amount_reporting) filter (where is_overdue) "
            "from marts.fct_ar_aging where is_latest_as_of"
        ).fetchone()
        dso, cei = con.execute(
            "select dso_days, collection_effectiveness_index_pct from marts.rpt_cash_collection "
            "where period_month = date_trunc('month', as_of_date)"
        ).fetchone()
    finally:
        con.close()
    return {"total_ar": fmt_money(Decimal(total)), "overdue_ar": fmt_money(Decimal(overdue)),
            "dso_days": f"{fmt_days(dso)} days", "cei_pct": f"{fmt_days(cei)} %"}


def _tile_text(dom: str, metric: str) -> str:
    found = re.search(rf'<div class="tile[^"]*" data-metric="{metric}"[^>]*>(.*?)</div>\s*</div>', dom, re.S)
    assert found, f"tile {metric} missing from the rendered DOM"
    return re.sub(r"<[^>]+>", " ", found.group(1))


@pytest.mark.parametrize("width", [1280, 390], ids=["laptop", "phone"])
def test_collection_report_renders_offline(report: Path, built_company, tmp_path: Path, width: int,
                                           require_service):
    chromium = chromium_path(require_service)
    page = render(chromium, report, tmp_path, width=width, height=2000, name=f"cash_collection_{width}")

    assert page.errors == (), f"console errors: {page.errors}"
    w, h, distinct = png_stats(page.png.read_bytes())
    assert (w, h) == (width, 2000)
    assert distinct > 50, "the screenshot is (almost) blank"

    svgs = re.findall(r"<svg\b[^>]*>.*?</svg>", page.dom, re.S)
    for label in CHART_LABELS:
        chart = next((s for s in svgs if f'aria-label="{label}' in s), None)
        assert chart is not None, f"chart {label!r} missing"
        assert 'role="img"' in chart
        # drawn, not the empty-data placeholder: bars or lines with real geometry
        assert re.search(r"<(rect|polyline|circle)\b", chart), f"chart {label!r} draws nothing"
        assert "No data for this period" not in chart, f"chart {label!r} is empty"

    for metric, text in _expected_tiles(built_company.warehouse).items():
        shown = " ".join(_tile_text(page.dom, metric).split())
        assert text in shown, f"tile {metric} shows {shown!r}, not {text!r}"

    # the sort/filter script ran: every worklist with rows shows its filter box and sortable heads
    filters = re.findall(r'<input class="wl-filter"[^>]*>', page.dom)
    assert len(filters) == 3
    assert all(" hidden" not in f for f in filters), "filter boxes still hidden: the script did not run"
    assert 'class="l sortable"' in page.dom or 'class="sortable"' in page.dom
