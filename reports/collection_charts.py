"""Inline SVG charts of the cash-collection report (reports/collection.py).

Drawn in Python like reports/charts.py, whose helpers they reuse: no JavaScript, no external
resources, so they render offline, in mail clients and in print. Geometry uses floats (drawing
only); every label is formatted from the exact values and escaped. Each chart is an <svg
role="img"> with an aria-label and a <title>.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from reports.formatting import fmt_currency, fmt_int, fmt_money, fmt_month, fmt_month_axis, fmt_pct
from reports.i18n import _, ngettext
from reports.charts import ACCENT, CHART_WIDTH, FONT, GRID, INK, MUTED, NAVY, SLATE, _empty, _f, compact, nice_ticks

if TYPE_CHECKING:
    from reports.collection import AgingBucket, CustomerAR

# Current → 90+: from calm blue to deep red, so age reads as risk.
BUCKET_COLOURS = ("#1f4e79", "#7fa3c6", "#e0b04f", "#d27a3e", "#a23b2a")
SERIES_COLOURS = (NAVY, ACCENT, "#2f7d4f", SLATE)


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
    ]


def _legend(items: Sequence[tuple[str, str]], *, x: float, y: float, line: bool = False) -> list[str]:
    parts = []
    for colour, text in items:
        if line:
            parts.append(f'<line x1="{_f(x)}" x2="{_f(x + 14)}" y1="{_f(y + 6)}" y2="{_f(y + 6)}" '
                         f'stroke="{colour}" stroke-width="2.5"/>')
        else:
            parts.append(f'<rect x="{_f(x)}" y="{_f(y)}" width="11" height="11" fill="{colour}"/>')
        parts.append(f'<text x="{_f(x + 18)}" y="{_f(y + 10)}" font-size="12" fill="{INK}">{escape(text)}</text>')
        x += 34 + 7 * len(text)
    return parts


def _month_label(month: dt.date, first: bool) -> str:
    return fmt_month_axis(month, with_year=first or month.month == 1)


def aging_bar_svg(buckets: Sequence[AgingBucket], *, currency: str, title: str) -> Markup:
    """Open AR as one bar stacked by aging bucket, each segment labelled with amount and share."""
    width, height = CHART_WIDTH, 150
    total = sum((b.amount for b in buckets), Decimal(0))
    if not buckets or total <= 0:
        return _empty(width, 120, title)
    left, top, bar_h = 0.0, 34.0, 40.0
    parts = _open(width, height, title)
    parts += _legend([(BUCKET_COLOURS[i], b.label) for i, b in enumerate(buckets)], x=0, y=4)
    x = left
    for i, b in enumerate(buckets):
        w = width * float(b.amount / total)
        if w <= 0:
            continue
        share = b.amount / total
        invoices = ngettext("%(n)s invoice", "%(n)s invoices", b.invoices) % {"n": fmt_int(b.invoices)}
        parts.append(
            f'<rect x="{_f(x)}" y="{_f(top)}" width="{_f(w)}" height="{_f(bar_h)}" fill="{BUCKET_COLOURS[i]}">'
            f"<title>{escape(b.label)}: {escape(fmt_currency(b.amount, currency))} ({escape(fmt_pct(share))}), "
            f"{escape(invoices)}"
            "</title></rect>"
        )
        if w > 70:  # label the segment below it when there is room
            parts.append(
                f'<text x="{_f(x + 4)}" y="{_f(top + bar_h + 18)}" font-size="12" fill="{INK}" '
                f'font-weight="600">{escape(compact(float(b.amount)))}</text>'
                f'<text x="{_f(x + 4)}" y="{_f(top + bar_h + 34)}" font-size="11" fill="{MUTED}">'
                f"{escape(fmt_pct(share))}</text>"
            )
        x += w
    total_text = _("Total %(amount)s") % {"amount": fmt_currency(total, currency)}
    parts.append(
        f'<text x="{width}" y="{_f(top + bar_h + 60)}" text-anchor="end" font-size="11" fill="{MUTED}">'
        f"{escape(total_text)}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def customer_aging_svg(
    customers: Sequence[CustomerAR], labels: Sequence[str], *, currency: str, title: str
) -> Markup:
    """One horizontal bar per customer, stacked by aging bucket, largest balance first."""
    width = CHART_WIDTH
    if not customers:
        return _empty(width, 120, title)
    label_w, value_w, row, gap, top = 230, 110, 20, 8, 30
    plot = width - label_w - value_w
    height = top + len(customers) * (row + gap) + 26
    peak = max(float(c.total) for c in customers) or 1.0
    ticks = nice_ticks(peak, 5)
    scale = plot / (ticks[-1] or 1.0)
    parts = _open(width, height, title)
    parts += _legend([(BUCKET_COLOURS[i], text) for i, text in enumerate(labels)], x=label_w, y=2)
    bottom = top + len(customers) * (row + gap)
    for t in ticks:
        tx = label_w + t * scale
        parts.append(
            f'<line x1="{_f(tx)}" x2="{_f(tx)}" y1="{top - 4}" y2="{_f(bottom)}" stroke="{GRID}"/>'
            f'<text x="{_f(tx)}" y="{_f(bottom + 14)}" text-anchor="middle" font-size="11" '
            f'fill="{MUTED}">{escape(compact(t))}</text>'
        )
    for i, c in enumerate(customers):
        y = top + i * (row + gap)
        name = c.customer_name if len(c.customer_name) <= 32 else c.customer_name[:31] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{_f(y + row / 2 + 4)}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{escape(name)}</text>'
        )
        x = float(label_w)
        for j, amount in enumerate(c.by_bucket):
            w = float(amount) * scale
            if w <= 0:
                continue
            parts.append(
                f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(max(w, 0.5))}" height="{row}" '
                f'fill="{BUCKET_COLOURS[j]}"><title>{escape(c.customer_name)}, {escape(labels[j])}: '
                f"{escape(fmt_currency(amount, currency))}</title></rect>"
            )
            x += w
        parts.append(
            f'<text x="{_f(x + 6)}" y="{_f(y + row / 2 + 4)}" font-size="11.5" fill="{MUTED}">'
            f"{escape(compact(float(c.total)))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart_svg(
    months: Sequence[dt.date],
    series: Sequence[tuple[str, Sequence[Decimal | None]]],
    *,
    unit: str,
    title: str,
) -> Markup:
    """Monthly lines on one axis (days, or percent); a line breaks where a month has no value."""
    width, height = CHART_WIDTH, 300
    values = [float(v) for _, vs in series for v in vs if v is not None]
    if not months or not values:
        return _empty(width, 160, title)
    left, right, top, bottom = 56, 24, 44, 34
    pw, ph = width - left - right, height - top - bottom
    low = min(0.0, min(values))
    ticks = nice_ticks(max(values) - low if max(values) > low else 1.0)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    base = step * (low // step) if low < 0 else 0.0  # negative values (a prepayment) get room
    ticks = [base + t for t in ticks]
    while ticks[-1] < max(values):
        ticks.append(ticks[-1] + step)
    span = (ticks[-1] - ticks[0]) or 1.0

    def y(v: float) -> float:
        return top + ph - ph * (v - ticks[0]) / span

    n = len(months)
    group = pw / n

    def x(i: int) -> float:
        return left + group * i + group / 2

    parts = _open(width, height, title)
    parts += _legend([(SERIES_COLOURS[k % len(SERIES_COLOURS)], name) for k, (name, _) in enumerate(series)],
                     x=left, y=4, line=True)
    for t in ticks:
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{_f(y(t))}" y2="{_f(y(t))}" stroke="{GRID}"/>'
            f'<text x="{left - 8}" y="{_f(y(t) + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">'
            f"{escape(compact(t))}</text>"
        )
    parts.append(f'<text x="{left - 8}" y="{top - 12}" text-anchor="end" font-size="11" fill="{MUTED}">'
                 f"{escape(unit)}</text>")
    every = max(1, n // 12)  # at most ~12 month labels
    for i, month in enumerate(months):
        if i % every == 0:
            parts.append(f'<text x="{_f(x(i))}" y="{top + ph + 18}" text-anchor="middle" font-size="11" '
                         f'fill="{MUTED}">{escape(_month_label(month, i == 0))}</text>')
    for k, (name, vs) in enumerate(series):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        segments: list[list[tuple[float, float, Decimal]]] = [[]]
        for i, v in enumerate(vs):
            if v is None:
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append((x(i), y(float(v)), v))
        for seg in segments:
            if len(seg) > 1:
                points = " ".join(f"{_f(px)},{_f(py)}" for px, py, _ in seg)
                parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2" '
                             f'stroke-linejoin="round"/>')
            for px, py, v in seg:
                parts.append(f'<circle cx="{_f(px)}" cy="{_f(py)}" r="2.5" fill="#fff" stroke="{colour}" '
                             f'stroke-width="1.5"><title>{escape(name)}: {escape(fmt_money(v))} {escape(unit)}</title></circle>')
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{MUTED}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def grouped_bars_svg(
    months: Sequence[dt.date],
    series: Sequence[tuple[str, Sequence[Decimal]]],
    *,
    currency: str,
    title: str,
) -> Markup:
    """Monthly bars side by side, one per series (amounts in the reporting currency)."""
    width, height = CHART_WIDTH, 320
    values = [float(v) for _, vs in series for v in vs]
    if not months or not any(values):
        return _empty(width, 160, title)
    left, right, top, bottom = 64, 16, 44, 34
    pw, ph = width - left - right, height - top - bottom
    ticks = nice_ticks(max(values))
    ymax = ticks[-1] or 1.0

    def y(v: float) -> float:
        return top + ph - ph * v / ymax

    n, k = len(months), len(series)
    group = pw / n
    bw = min(18.0, group * 0.8 / k)
    colours = (SLATE, NAVY, ACCENT)
    parts = _open(width, height, title)
    parts += _legend([(colours[j % 3], name) for j, (name, _) in enumerate(series)], x=left, y=4)
    for t in ticks:
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{_f(y(t))}" y2="{_f(y(t))}" stroke="{GRID}"/>'
            f'<text x="{left - 8}" y="{_f(y(t) + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">'
            f"{escape(compact(t))}</text>"
        )
    parts.append(f'<text x="{left - 8}" y="{top - 12}" text-anchor="end" font-size="11" fill="{MUTED}">'
                 f"{escape(currency)}</text>")
    every = max(1, n // 12)
    for i, month in enumerate(months):
        cx = left + group * i + group / 2
        x0 = cx - bw * k / 2
        for j, (name, vs) in enumerate(series):
            v = float(vs[i])
            if v > 0:
                parts.append(
                    f'<rect x="{_f(x0 + j * bw)}" y="{_f(y(v))}" width="{_f(bw - 1)}" height="{_f(top + ph - y(v))}" '
                    f'fill="{colours[j % 3]}"><title>{escape(fmt_month(month))} {escape(name)}: '
                    f"{escape(fmt_currency(vs[i], currency))}</title></rect>"
                )
        if i % every == 0:
            parts.append(f'<text x="{_f(cx)}" y="{top + ph + 18}" text-anchor="middle" font-size="11" '
                         f'fill="{MUTED}">{escape(_month_label(month, i == 0))}</text>')
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{MUTED}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
