"""Inline SVG charts of the reconciliation report, drawn in Python like reports/charts.py.

Two charts: the open exceptions by value per worklist (horizontal bars), and contract value →
ordered → delivered → invoiced → received (columns, split into what is under a live contract and
what has none). SVG needs no JavaScript, so the charts show offline, in mail clients and in print.
Geometry uses floats (drawing only); every label is formatted from the exact `Decimal` values and
every text node is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from markupsafe import Markup, escape

from reports.charts import ACCENT, FONT, GRID, INK, MUTED, NAVY, _f, compact, nice_ticks
from reports.formatting import fmt_currency, fmt_int, fmt_money
from reports.i18n import _

# narrower than the executive report's CHART_WIDTH: these charts sit in a capped-width panel, so
# their text stays legible when a phone scales them down
WIDTH = 480


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" class="chart" {FONT}>',
        f"<title>{escape(title)}</title>",
    ]


def _money(value: Decimal) -> str:
    return fmt_money(value)


def exceptions_bar_svg(items: Sequence[tuple[str, int, Decimal]], *, currency: str, title: str) -> Markup:
    """One bar per worklist: |amount| in the reporting currency, labelled above with the worklist
    and beside with the signed amount and the count (a net FX loss is drawn in the accent colour)."""
    row, top = 44, 4
    bar_area, bar_h = WIDTH - 170, 14
    height = top + len(items) * row
    peak = max((abs(float(a)) for _, _, a in items), default=0.0) or 1.0
    parts = _open(WIDTH, height, title)
    for i, (label, count, amount) in enumerate(items):
        y = top + i * row
        w = bar_area * abs(float(amount)) / peak
        colour = ACCENT if amount < 0 else NAVY
        parts.append(
            f'<text x="0" y="{y + 13}" font-size="13" fill="{INK}">{escape(label)}</text>'
            f'<rect x="0" y="{y + 20}" width="{_f(bar_area)}" height="{bar_h}" fill="#f3f5f8" rx="2"/>'
        )
        if count and w > 0:
            tip = _("%(label)s: %(n)s open, %(amount)s") % {
                "label": label, "n": fmt_int(count), "amount": fmt_currency(amount, currency)}
            parts.append(
                f'<rect x="0" y="{y + 20}" width="{_f(max(w, 2.0))}" height="{bar_h}" fill="{colour}" rx="2">'
                f"<title>{escape(tip)}</title></rect>"
            )
        parts.append(
            f'<text x="{bar_area + 8}" y="{y + 32}" font-size="13" fill="{INK}">'
            f'<tspan font-weight="600">{escape(_money(amount))}</tspan>'
            f'<tspan fill="{MUTED}"> · {escape(fmt_int(count))}</tspan></text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _two_lines(label: str) -> tuple[str, str]:
    """A column label on at most two lines: the first word, then the rest."""
    first, _sep, rest = label.partition(" ")
    return (first, rest) if len(label) > 9 else (label, "")


def contract_flow_svg(stages: Sequence[tuple[str, Decimal, Decimal]], *, currency: str, title: str) -> Markup:
    """Columns per stage (contract value, ordered, ... received): under a live contract (navy)
    stacked with the documents that have no contract (accent), each labelled with its total."""
    height, left, right, top, bottom = 300, 44, 4, 40, 40
    pw, ph = WIDTH - left - right, height - top - bottom
    totals = [float(under + outside) for _, under, outside in stages]
    ticks = nice_ticks(max(totals, default=0.0), 4)
    ymax = ticks[-1] or 1.0

    def y(v: float) -> float:
        return top + ph - ph * v / ymax

    parts = _open(WIDTH, height, title)
    for t in ticks:
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{_f(y(t))}" y2="{_f(y(t))}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{_f(y(t) + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">'
            f"{escape(compact(t))}</text>"
        )
    parts.append(f'<text x="{left - 6}" y="{top - 12}" text-anchor="end" font-size="11" fill="{MUTED}">'
                 f"{escape(currency)}</text>")
    n = max(len(stages), 1)
    group = pw / n
    bw = min(48.0, group * 0.62)
    for i, (label, under, outside) in enumerate(stages):
        cx = left + group * i + group / 2
        u, o = max(float(under), 0.0), max(float(outside), 0.0)
        # gettext outside the f-strings: Babel's extractor does not look inside them
        under_tip = _("%(stage)s under a contract: %(amount)s") % {"stage": label, "amount": fmt_currency(under, currency)}
        outside_tip = _("%(stage)s with no contract: %(amount)s") % {"stage": label, "amount": fmt_currency(outside, currency)}
        if u:
            parts.append(
                f'<rect x="{_f(cx - bw / 2)}" y="{_f(y(u))}" width="{_f(bw)}" height="{_f(top + ph - y(u))}" '
                f'fill="{NAVY}"><title>{escape(under_tip)}'
                "</title></rect>"
            )
        if o:
            parts.append(
                f'<rect x="{_f(cx - bw / 2)}" y="{_f(y(u + o))}" width="{_f(bw)}" height="{_f(y(u) - y(u + o))}" '
                f'fill="{ACCENT}"><title>{escape(outside_tip)}'
                "</title></rect>"
            )
        parts.append(
            f'<text x="{_f(cx)}" y="{_f(y(u + o) - 6)}" text-anchor="middle" font-size="11" fill="{INK}" '
            f'font-weight="600">{escape(compact(float(under + outside)))}</text>'
        )
        for line, text in enumerate(_two_lines(label)):
            parts.append(
                f'<text x="{_f(cx)}" y="{top + ph + 15 + 13 * line}" text-anchor="middle" font-size="12" '
                f'fill="{MUTED}">{escape(text)}</text>'
            )
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{MUTED}"/>')
    lx = left
    for colour, text in ((NAVY, _("Under a live contract")), (ACCENT, _("No contract"))):
        parts.append(f'<rect x="{lx}" y="8" width="11" height="11" fill="{colour}"/>'
                     f'<text x="{lx + 16}" y="18" font-size="12" fill="{INK}">{escape(text)}</text>')
        lx += 40 + 7 * len(text)
    parts.append("</svg>")
    return Markup("".join(parts))
