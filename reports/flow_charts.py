"""Inline SVG charts of the executive report's revenue flow (reports/revenue_flow.py).

Same approach as reports/charts.py, whose helpers and palette these reuse: drawn in Python, no
JavaScript, so they render in mail clients, print and offline. Each function takes plain tuples of
exact values (Decimal) and returns one `<svg role="img">` with a <title>; geometry is float, the
labels are formatted from the exact values. Every text node is escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import Decimal

from markupsafe import Markup, escape

from reports.formatting import fmt_currency, fmt_days, fmt_int, fmt_month, fmt_month_axis
from reports.i18n import _
from reports.labels import label as display_label
from reports.charts import (
    ACCENT,
    CHART_WIDTH,
    FONT,
    GRID,
    INK,
    MUTED,
    NAVY,
    SLATE,
    _empty,
    _f,
    compact,
    nice_step,
)

GOOD = "#2f7d4f"
PALE = "#f3f5f8"


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
    ]


def _axis(lo: float, hi: float, target: int = 5) -> tuple[float, float, list[float]]:
    """A nice value axis covering [lo, hi] and 0: (bottom, top, ticks)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    step = nice_step(hi - lo, target) if hi > lo else 1.0
    bottom = step * math.floor(lo / step)
    top = step * math.ceil(hi / step) if hi > 0 else step
    if top == bottom:
        top = bottom + step
    n = int(round((top - bottom) / step))
    return bottom, top, [bottom + i * step for i in range(n + 1)]


def _grid(parts: list[str], ticks: Sequence[float], y, left: float, pw: float, top: float, unit: str) -> None:
    """Horizontal grid lines with compact value labels, and the unit above the axis."""
    for t in ticks:
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{_f(y(t))}" y2="{_f(y(t))}" stroke="{GRID}"/>'
            f'<text x="{left - 8}" y="{_f(y(t) + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">'
            f"{escape(compact(t))}</text>"
        )
    parts.append(
        f'<text x="{left - 8}" y="{top - 18}" text-anchor="end" font-size="11" fill="{MUTED}">'
        f"{escape(unit)}</text>"
    )


def _legend(parts: list[str], items: Sequence[tuple[str, str, str]], x: float, y: float = 6) -> None:
    for color, text, kind in items:
        if kind == "box":
            parts.append(f'<rect x="{_f(x)}" y="{_f(y)}" width="11" height="11" fill="{color}"/>')
        else:
            parts.append(
                f'<line x1="{_f(x)}" x2="{_f(x + 14)}" y1="{_f(y + 6)}" y2="{_f(y + 6)}" '
                f'stroke="{color}" stroke-width="2"/>'
            )
        parts.append(f'<text x="{_f(x + 18)}" y="{_f(y + 10)}" font-size="12" fill="{INK}">{escape(text)}</text>')
        x += 30 + 7 * len(text)


def waterfall_svg(steps: Sequence[tuple[str, str, Decimal]], *, currency: str, title: str) -> Markup:
    """A waterfall: ("total", label, level) bars from zero, ("delta", label, signed change) floating.

    Deltas move the running level; a total resets it (and shows where the deltas landed).
    """
    width, height = CHART_WIDTH, 330
    if not steps or not any(v for _, _, v in steps):
        return _empty(width, 200, title)
    left, right, top, bottom = 72, 16, 36, 46
    pw, ph = width - left - right, height - top - bottom
    spans: list[tuple[float, float]] = []
    level = 0.0
    for kind, _label, value in steps:
        v = float(value)
        if kind == "total":
            spans.append((0.0, v))
            level = v
        else:
            spans.append((level, level + v))
            level += v
    lo = min(min(a, b) for a, b in spans)
    hi = max(max(a, b) for a, b in spans)
    ymin, ymax, ticks = _axis(lo, hi)

    def y(v: float) -> float:
        return top + ph - ph * (v - ymin) / (ymax - ymin)

    parts = _open(width, height, title)
    _grid(parts, ticks, y, left, pw, top, currency)
    n = len(steps)
    slot = pw / n
    bw = min(72.0, slot * 0.62)
    for i, ((kind, label, value), (a, b)) in enumerate(zip(steps, spans, strict=True)):
        cx = left + slot * i + slot / 2
        y0, y1 = sorted((y(a), y(b)))
        color = NAVY if kind == "total" else (GOOD if value >= 0 else ACCENT)
        parts.append(
            f'<rect x="{_f(cx - bw / 2)}" y="{_f(y0)}" width="{_f(bw)}" height="{_f(max(1.0, y1 - y0))}" '
            f'fill="{color}"><title>{escape(label)}: {escape(fmt_currency(value, currency))}</title></rect>'
        )
        sign = "" if kind == "total" or not value else ("+" if value > 0 else "−")
        parts.append(
            f'<text x="{_f(cx)}" y="{_f(y0 - 6)}" text-anchor="middle" font-size="12" font-weight="600" '
            f'fill="{INK}">{escape(sign + compact(abs(float(value))))}</text>'
        )
        parts.append(
            f'<text x="{_f(cx)}" y="{top + ph + 18}" text-anchor="middle" font-size="12" fill="{MUTED}">'
            f"{escape(label)}</text>"
        )
        if i + 1 < n:  # connector at the running level
            parts.append(
                f'<line x1="{_f(cx + bw / 2)}" x2="{_f(cx + slot - bw / 2)}" y1="{_f(y(b))}" y2="{_f(y(b))}" '
                f'stroke="{MUTED}" stroke-dasharray="3 3"/>'
            )
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{_f(y(0))}" y2="{_f(y(0))}" stroke="{MUTED}"/>')
    _legend(parts, ((NAVY, _("Level"), "box"), (GOOD, _("Increase"), "box"), (ACCENT, _("Decrease"), "box")), left)
    parts.append("</svg>")
    return Markup("".join(parts))


def forecast_svg(
    periods: Sequence[tuple[str, Decimal, Decimal, Decimal, bool]], *, currency: str, title: str
) -> Markup:
    """Per period: forecast F and actual A bars, with every deal won in the period as a line."""
    width, height = CHART_WIDTH, 320
    if not periods:
        return _empty(width, 200, title)
    left, right, top, bottom = 72, 16, 40, 34
    pw, ph = width - left - right, height - top - bottom
    hi = max(max(float(f), float(a), float(t)) for _, f, a, t, _ in periods)
    ymin, ymax, ticks = _axis(0.0, hi)

    def y(v: float) -> float:
        return top + ph - ph * (v - ymin) / (ymax - ymin)

    parts = _open(width, height, title)
    _grid(parts, ticks, y, left, pw, top, currency)
    group = pw / len(periods)
    bw = min(48.0, group * 0.3)
    points = []
    for i, (label, fc, ac, total, complete) in enumerate(periods):
        cx = left + group * i + group / 2
        faded = "" if complete else ' fill-opacity="0.5"'  # an incomplete period's actuals are partial
        for x, value, color, name in ((cx - bw - 1, fc, SLATE, _("forecast")), (cx + 1, ac, NAVY, _("actual"))):
            v = float(value)
            parts.append(
                f'<rect x="{_f(x)}" y="{_f(y(v))}" width="{_f(bw)}" height="{_f(y(0) - y(v))}" fill="{color}"'
                f'{faded}><title>{escape(label)} {escape(name)} '
                f"{escape(fmt_currency(value, currency))}</title></rect>"
            )
        points.append((cx, y(float(total)), label, total))
        # gettext outside the f-strings: Babel's extractor does not look inside them
        axis_label = label if complete else _("%(period)s (partial)") % {"period": label}
        parts.append(
            f'<text x="{_f(cx)}" y="{top + ph + 18}" text-anchor="middle" font-size="12" fill="{MUTED}">'
            f"{escape(axis_label)}</text>"
        )
    if len(points) > 1:
        parts.append(
            f'<polyline points="{" ".join(f"{_f(px)},{_f(py)}" for px, py, _, _ in points)}" fill="none" '
            f'stroke="{ACCENT}" stroke-width="2" stroke-linejoin="round"/>'
        )
    for px, py, label, total in points:
        tip = _("%(period)s all deals won %(amount)s") % {"period": label, "amount": fmt_currency(total, currency)}
        parts.append(
            f'<circle cx="{_f(px)}" cy="{_f(py)}" r="3.5" fill="#fff" stroke="{ACCENT}" stroke-width="2">'
            f"<title>{escape(tip)}</title></circle>"
        )
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{_f(y(0))}" y2="{_f(y(0))}" stroke="{MUTED}"/>')
    _legend(
        parts,
        (
            (SLATE, _("Forecast at t0 (F)"), "box"),
            (NAVY, _("Won of those deals (A)"), "box"),
            (ACCENT, _("All deals won"), "line"),
        ),
        left,
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def bridge_months_svg(
    months: Sequence[tuple[dt.date, Decimal, Decimal, Decimal]], *, currency: str, title: str
) -> Markup:
    """Grouped bars by month: booked, billed (invoiced) and collected."""
    width, height = CHART_WIDTH, 300
    if not months or not any(b or i or c for _, b, i, c in months):
        return _empty(width, 200, title)
    left, right, top, bottom = 72, 16, 40, 34
    pw, ph = width - left - right, height - top - bottom
    hi = max(max(float(b), float(i), float(c)) for _, b, i, c in months)
    ymin, ymax, ticks = _axis(0.0, hi)

    def y(v: float) -> float:
        return top + ph - ph * (v - ymin) / (ymax - ymin)

    parts = _open(width, height, title)
    _grid(parts, ticks, y, left, pw, top, currency)
    group = pw / len(months)
    bw = min(20.0, group * 0.26)
    for i, (month, booked, billed, collected) in enumerate(months):
        cx = left + group * i + group / 2
        for k, (value, color, name) in enumerate(
            ((booked, "#6b8fb3", _("booked")), (billed, SLATE, _("billed")), (collected, NAVY, _("collected")))
        ):
            v = float(value)
            x = cx - 1.5 * bw - 1 + k * (bw + 1)
            parts.append(
                f'<rect x="{_f(x)}" y="{_f(y(max(v, 0.0)))}" width="{_f(bw)}" height="{_f(abs(y(0) - y(v)))}" '
                f'fill="{color}"><title>{escape(fmt_month(month))} {escape(name)} '
                f"{escape(fmt_currency(value, currency))}</title></rect>"
            )
        label = fmt_month_axis(month, with_year=i == 0 or month.month == 1)
        parts.append(
            f'<text x="{_f(cx)}" y="{top + ph + 18}" text-anchor="middle" font-size="11" fill="{MUTED}">'
            f"{escape(label)}</text>"
        )
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{_f(y(0))}" y2="{_f(y(0))}" stroke="{MUTED}"/>')
    _legend(parts, (("#6b8fb3", _("Booked"), "box"), (SLATE, _("Billed"), "box"), (NAVY, _("Collected"), "box")), left)
    parts.append("</svg>")
    return Markup("".join(parts))


HALF_WIDTH = 520  # a chart in one column of .grid2: its text renders at nominal size on screen


def duration_bars_svg(
    rows: Sequence[tuple[str, Decimal | None, int]], *, title: str, width: int = HALF_WIDTH
) -> Markup:
    """Small horizontal bars of average days per stage or step, with the number measured."""
    row, gap, top = 20, 8, 8
    values = [float(v) for _, v, _ in rows if v is not None]
    if not values:
        return _empty(width, 120, title)
    label_w, value_w = 190, 130
    area = width - label_w - value_w
    lo, hi = min(min(values), 0.0), max(max(values), 0.0)
    span = (hi - lo) or 1.0
    zero = label_w + area * (0 - lo) / span
    height = top + len(rows) * (row + gap) + 4
    parts = _open(width, height, title)
    for i, (label, avg, count) in enumerate(rows):
        yy = top + i * (row + gap)
        parts.append(
            f'<text x="0" y="{_f(yy + row / 2 + 4)}" font-size="12.5" fill="{INK}">{escape(display_label(label))}</text>'
            f'<rect x="{label_w}" y="{_f(yy)}" width="{_f(area)}" height="{row}" fill="{PALE}" rx="2"/>'
        )
        if avg is not None:
            v = float(avg)
            x0, x1 = sorted((zero, label_w + area * (v - lo) / span))
            color = NAVY if v >= 0 else ACCENT
            tip = _("%(label)s: %(days)s days on average, %(n)s measured") % {
                "label": display_label(label), "days": fmt_days(avg), "n": fmt_int(count)}
            parts.append(
                f'<rect x="{_f(x0)}" y="{_f(yy)}" width="{_f(max(1.0, x1 - x0))}" height="{row}" '
                f'fill="{color}" rx="2"><title>{escape(tip)}</title></rect>'
            )
        text = "—" if avg is None else _("%(days)s d") % {"days": fmt_days(avg)}
        parts.append(
            f'<text x="{width - value_w + 12}" y="{_f(yy + row / 2 + 4)}" font-size="12.5" fill="{INK}">'
            f'<tspan font-weight="600">{escape(text)}</tspan>'
            f'<tspan fill="{MUTED}">  n = {escape(fmt_int(count))}</tspan></text>'
        )
    if lo < 0:
        parts.append(f'<line x1="{_f(zero)}" x2="{_f(zero)}" y1="{top - 4}" y2="{height - 2}" stroke="{MUTED}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
