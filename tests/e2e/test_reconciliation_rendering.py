"""The reconciliation report in real headless Chromium, offline, as a reader sees it.

Built from the sandbox company's marts (`built_company`), opened from disk with every host name
unresolvable, on a laptop (1280 px) and a phone (390 px): no console errors, the charts and every
worklist table are in the live DOM, the tiles show the marts' figures formatted for people, and
the worklist script ran (it un-hides the filter boxes). Screenshots stay under the test's
tmp_path as artifacts.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from chromium import chromium_path, png_stats, render

from connectors.marts_file import connect_warehouse
from reports.reconciliation import EXCEPTION_WORKLISTS, build_reconciliation_report

pytestmark = pytest.mark.slow


def _tile_text(dom: str, metric: str) -> str:
    """The visible text of the tile whose outer element carries `data-metric=metric`."""
    found = re.search(rf'<div class="tile[^"]*" data-metric="{re.escape(metric)}"[^>]*>(.*?)</div>\s*</div>',
                      dom, re.S)
    assert found, f"no tile {metric}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def _mart_queues(db: Path) -> dict[str, tuple[int, Decimal]]:
    con = connect_warehouse(db, read_only=True)
    try:
        rows = con.execute("select exception_type, count(*), coalesce(sum(amount_reporting), 0) "
                           "from marts.fct_reconciliation_exceptions group by 1").fetchall()
    finally:
        con.close()
    by_type = {t: (n, amount) for t, n, amount in rows}
    out = {}
    for spec in EXCEPTION_WORKLISTS:
        n = sum(by_type.get(t, (0, 0))[0] for t in spec.exception_types)
        amount = sum((by_type.get(t, (0, Decimal(0)))[1] for t in spec.exception_types), Decimal("0.00"))
        out[spec.key] = (n, amount)
    return out


def test_report_renders_offline_on_laptop_and_phone(built_company, tmp_path: Path, require_service):
    chromium = chromium_path(require_service)
    page = build_reconciliation_report(built_company.warehouse, tmp_path / "out",
                                       generated_at=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc))
    queues = _mart_queues(built_company.warehouse)
    assert any(n for n, _ in queues.values())
    for width, name in ((1280, "laptop"), (390, "phone")):
        shot = render(chromium, page, tmp_path / "artifacts", width=width, height=2000, name=name)
        assert not shot.errors, shot.errors
        w, h, distinct = png_stats(shot.png.read_bytes())
        assert (w, h) == (width, 2000) and distinct > 20, (name, w, h, distinct)
        dom = shot.dom
        # charts: inline SVG with drawn marks
        charts = re.findall(r'<svg[^>]*role="img"[^>]*>(.*?)</svg>', dom, re.S)
        assert len(charts) >= 2 and all("<rect" in c for c in charts), name
        # every worklist is a section; the non-empty ones are tables whose filter box the script showed
        for spec in EXCEPTION_WORKLISTS:
            n, amount = queues[spec.key]
            assert f'id="wl-{spec.key}"' in dom, spec.key
            tile = _tile_text(dom, f"exceptions.{spec.key}.amount")
            assert f"{amount:,.2f}" in tile and f"{n:,} open" in tile, (spec.key, tile)
        sections = re.findall(r'<section class="panel worklist"[^>]*data-rows="(\d+)"[^>]*>(.*?)</section>', dom, re.S)
        assert len(sections) == len(EXCEPTION_WORKLISTS) + 1
        for rows, body in sections:
            if int(rows):
                assert "<table" in body and "<tbody" in body
                assert re.search(r'<input class="wl-filter"(?![^>]*\bhidden\b)[^>]*>', body), \
                    "the worklist script did not run: the filter box is still hidden"
                assert "sortable" in body
        total_n = sum(n for n, _ in queues.values())
        total = sum((a for _, a in queues.values()), Decimal("0.00"))
        tile = _tile_text(dom, "exceptions.total.amount")
        assert f"{total:,.2f}" in tile and f"{total_n:,} open" in tile, tile
        assert built_company.as_of in dom
