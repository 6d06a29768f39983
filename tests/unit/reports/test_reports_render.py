"""Render the executive report in real headless Chromium (offline, tests/support/chromium.py) at a
laptop and a phone width: no console errors, every chart drawn, the tiles show their figures.

Skips when Chromium is not installed, unless LTC_REQUIRE_SERVICES=1 (CI), which makes a missing
browser a failure. The screenshots stay under the test's tmp_path as artifacts.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser
from functools import partial
from pathlib import Path

import pytest
from chromium import chromium_path, png_stats, render
from marts_fixture import EXPECTED, EXPECTED_HEADLINE, build_marts

from reports.html import build_html_report

# The fixture holds the core marts only: the revenue-flow sections (their own marts) are tested in
# test_revenue_flow.py and, in the whole report, in test_exec_report_marts.py.
build_core_report = partial(build_html_report, with_revenue_flow=False)

DRAWN = ("rect", "path", "polyline", "polygon", "line", "circle", "text")


class _Dom(HTMLParser):
    """Each <svg>'s drawn elements, and each tile's visible text, from the DOM Chromium built."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs: list[list[str]] = []
        self.depth = 0  # inside an svg
        self.tiles: dict[str, str] = {}
        self.tile: str | None = None
        self.tile_depth = 0

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = dict(attrs)
        if tag == "svg":
            self.svgs.append([])
            self.depth += 1
        elif self.depth and tag in DRAWN:
            self.svgs[-1].append(tag)
        if self.tile is None and "tile" in (a.get("class") or "").split() and a.get("data-metric"):
            self.tile, self.tile_depth = a["data-metric"], 0
            self.tiles[self.tile] = ""
        elif self.tile is not None and tag == "div":
            self.tile_depth += 1

    def handle_endtag(self, tag):  # noqa: ANN001
        if tag == "svg":
            self.depth -= 1
        if self.tile is not None and tag == "div":
            if self.tile_depth == 0:
                self.tile = None
            else:
                self.tile_depth -= 1

    def handle_data(self, data):  # noqa: ANN001
        if self.tile is not None:
            self.tiles[self.tile] += data


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("render")
    warehouse = build_marts(root / "warehouse.duckdb")
    return build_core_report(
        warehouse, root / "out", generated_at=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    )


@pytest.mark.parametrize("width", [1280, 390], ids=["laptop", "phone"])
def test_report_renders_in_headless_chromium(report: Path, width: int, tmp_path: Path, require_service):
    chromium = chromium_path(require_service)
    shot = render(chromium, report, tmp_path / "screenshots", width=width, height=2400, name=f"ltc_report_{width}")
    assert shot.errors == (), shot.errors
    w, h, distinct = png_stats(shot.png.read_bytes())
    assert (w, h) == (width, 2400)
    assert shot.png.stat().st_size > 30_000, "screenshot suspiciously small: blank page?"
    assert distinct > 50, "screenshot has almost no distinct pixel values: blank page?"

    dom = _Dom()
    dom.feed(shot.dom)
    assert len(dom.svgs) >= 2, "the funnel and the cash chart"
    assert all(dom.svgs), "an empty chart svg"

    text = {m: re.sub(r"\s+", " ", t).strip() for m, t in dom.tiles.items()}
    # every headline tile shows its figure and its change, as the reader sees them
    assert text["booked_month"].startswith("Booked $12,000.50")  # the currency's symbol, no ISO-code unit
    assert "▲ +10,500.45 (+700.0%) vs Feb 2025" in text["booked_month"]
    assert "▼ −50.0 pp vs Feb 2025" in text["won_rate_month"]
    assert "41.3days" in text["dso_days"] and "▼ −11.2 days vs Feb 2025" in text["dso_days"]
    assert "▲ +1.00 (+0.0%) vs Feb 2025" in text["overdue_ar"]  # 1 ÷ 2,000
    assert "New exceptions $350.10" in text["exceptions_month"]
    for metric, (value, _, _) in EXPECTED_HEADLINE.items():
        assert metric in text, metric
    assert f"{Decimal(EXPECTED['won_amount']):,.2f}" in text["won_amount"]
    assert text["leads"].startswith(f"Leads {EXPECTED['leads']}")
