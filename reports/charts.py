"""Inline SVG charts drawn in Python: no JavaScript, no external resources, print-safe.

Every text node is escaped. Geometry uses floats (drawing only); labels are formatted from the
exact values.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from decimal import Decimal

from markupsafe import Markup, escape

from reports.datasets import CashMonth, FunnelStage
from reports.formatting import fmt_axis_number, fmt_currency, fmt_int, fmt_month, fmt_month_axis, fmt_pct
from reports.i18n import _
from reports.labels import label as display_label

INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e3e7ec"
NAVY = "#1f4e79"
SLATE = "#9fb3c8"
ACCENT = "#b5523b"
CHART_WIDTH = 1076  # the panel's inner width on screen: SVG text renders at its nominal size
FONT = ("font-family=\"-apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'PingFang SC', 'Microsoft YaHei', "
        "'Noto Sans CJK SC', 'Source Han Sans SC', sans-serif\"")


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def nice_step(span: float, target_ticks: int = 5) -> float:
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


def nice_ticks(max_value: float, target_ticks: int = 5) -> list[float]:
    step = nice_step(max_value, target_ticks)
    top = step * max(1, math.ceil(max_value / step)) if max_value > 0 else step * target_ticks
    n = int(round(top / step))
    return [i * step for i in range(n + 1)]


def month_amount(month: dt.date, amount: Decimal, currency: str) -> dict[str, str]:
    """The `%(month)s` and `%(amount)s` of a chart's tooltip, as the locale writes them
    ("Mar 2025", "CN¥1,234.56"; "2025年3月", "¥1,234.56")."""
    return {"month": fmt_month(month), "amount": fmt_currency(amount, currency)}


def compact(value: float) -> str:
    """Axis labels: 0, 950, 12k, 1.5M, 2B in English; the locale's own units elsewhere (4.4万)."""
    local = fmt_axis_number(value)
    if local is not None:
        return local
    a = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{value:.0f}"


def _pct(value: Decimal | None, places: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.{places}f}%"


def _empty(width: int, height: int, label: str) -> Markup:
    no_data = _("No data for this period")
    return Markup(
        f'<svg viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(label)}">'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f7f9fb"/>'
        f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="{MUTED}" '
        f'font-size="14" {FONT}>{escape(no_data)}</text></svg>'
    )


def funnel_svg(stages: Sequence[FunnelStage], *, title: str) -> Markup:
    """Centred horizontal bars S1→S6 with counts, share of S1 and step conversion."""
    width, row, gap, top = CHART_WIDTH, 30, 20, 6
    if not stages or not any(s.journeys for s in stages):
        return _empty(width, 160, title)
    label_w, value_w = 200, 210
    bar_area = width - label_w - value_w
    height = top + len(stages) * row + (len(stages) - 1) * gap + 8
    peak = max(s.journeys for s in stages) or 1
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
    ]
    for i, s in enumerate(stages):
        y = top + i * (row + gap)
        w = max(2.0, bar_area * s.journeys / peak) if s.journeys else 0.0
        # gettext outside the f-strings: Babel's extractor does not look inside them
        share = _("%(share)s of %(stage)s") % {"share": fmt_pct(s.share_of_first), "stage": stages[0].stage_code}
        x = label_w + (bar_area - w) / 2
        shade = 1.0 - 0.11 * i
        parts.append(
            f'<text x="0" y="{_f(y + row / 2 + 5)}" font-size="13" fill="{INK}">'
            f'<tspan font-weight="600">{escape(s.stage_code)}</tspan>'
            f'<tspan fill="{MUTED}">  {escape(display_label(s.step_name))}</tspan></text>'
        )
        parts.append(
            f'<rect x="{_f(label_w + 0)}" y="{_f(y)}" width="{_f(bar_area)}" height="{row}" '
            f'fill="#f3f5f8" rx="2"/>'
        )
        if w:
            parts.append(
                f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{row}" fill="{NAVY}" '
                f'fill-opacity="{shade:.2f}" rx="2"/>'
            )
        parts.append(
            f'<text x="{width - value_w + 14}" y="{_f(y + row / 2 + 5)}" font-size="13" fill="{INK}">'
            f'<tspan font-weight="600">{escape(fmt_int(s.journeys))}</tspan>'
            f'<tspan fill="{MUTED}">  {escape(share)}</tspan></text>'
        )
        if i + 1 < len(stages):
            nxt = stages[i + 1]
            step = _("%(rate)s to %(stage)s") % {"rate": fmt_pct(nxt.conversion_from_previous), "stage": nxt.stage_code}
            parts.append(
                f'<text x="{_f(label_w + bar_area / 2)}" y="{_f(y + row + gap / 2 + 4)}" '
                f'text-anchor="middle" font-size="11" fill="{MUTED}">▼ {escape(step)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


NARROW_WIDTH = 360  # a phone's panel (390 px screen): the narrow variants render at their nominal size


def funnel_svg_compact(stages: Sequence[FunnelStage], *, title: str, width: int = NARROW_WIDTH) -> Markup:
    """The funnel for a phone: per stage a label line (code, step, count, share of S1) over a bar
    as wide as the count, so the text stays legible where the wide chart would shrink to 4 px."""
    line, bar, gap, top = 16, 12, 10, 4
    if not stages or not any(s.journeys for s in stages):
        return _empty(width, 120, title)
    height = top + len(stages) * (line + bar + gap)
    peak = max(s.journeys for s in stages) or 1
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
    ]
    for i, s in enumerate(stages):
        y = top + i * (line + bar + gap)
        parts.append(
            f'<text x="0" y="{_f(y + 12)}" font-size="12" fill="{INK}">'
            f'<tspan font-weight="600">{escape(s.stage_code)}</tspan>'
            f'<tspan fill="{MUTED}"> {escape(display_label(s.step_name))}</tspan></text>'
            f'<text x="{width}" y="{_f(y + 12)}" font-size="12" fill="{INK}" text-anchor="end">'
            f'<tspan font-weight="600">{s.journeys:,}</tspan>'
            f'<tspan fill="{MUTED}"> · {escape(_pct(s.share_of_first))}</tspan></text>'
            f'<rect x="0" y="{_f(y + line + 2)}" width="{width}" height="{bar}" fill="#f3f5f8" rx="2"/>'
        )
        if s.journeys:
            w = max(2.0, width * s.journeys / peak)
            parts.append(
                f'<rect x="0" y="{_f(y + line + 2)}" width="{_f(w)}" height="{bar}" fill="{NAVY}" '
                f'fill-opacity="{1.0 - 0.11 * i:.2f}" rx="2"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def cash_svg(
    months: Sequence[CashMonth], *, currency: str, title: str, width: int = CHART_WIDTH
) -> Markup:
    """Monthly invoiced vs collected bars, with the DSO line on a right-hand axis.

    `width` is the viewBox width: NARROW_WIDTH draws the phone variant (tighter margins, short
    legend) at the same font sizes, so its labels stay legible.
    """
    narrow = width < 600
    height = 300 if narrow else 340
    if not months:
        return _empty(width, 200, title)
    left, right, top, bottom = (40, 30, 44, 34) if narrow else (64, 64, 44, 34)
    pw, ph = width - left - right, height - top - bottom
    amounts = [float(m.invoiced_amount) for m in months] + [float(m.collected_amount) for m in months]
    ticks = nice_ticks(max(amounts) if amounts else 0.0)
    ymax = ticks[-1] or 1.0
    dsos = [float(m.dso_days) for m in months if m.dso_days is not None]
    dticks = nice_ticks(max(dsos) if dsos else 0.0, 4)
    dmax = dticks[-1] or 1.0

    def y(v: float) -> float:
        return top + ph - ph * v / ymax

    def yd(v: float) -> float:
        return top + ph - ph * v / dmax

    n = len(months)
    group = pw / n
    bw = min(26.0, group * 0.34)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
    ]
    for t in ticks:
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{_f(y(t))}" y2="{_f(y(t))}" stroke="{GRID}"/>'
            f'<text x="{left - 8}" y="{_f(y(t) + 4)}" text-anchor="end" font-size="11" '
            f'fill="{MUTED}">{escape(compact(t))}</text>'
        )
    parts.append(
        f'<text x="{left - 8}" y="{top - 14}" text-anchor="end" font-size="11" fill="{MUTED}">'
        f"{escape(currency)}</text>"
    )
    if dsos:
        for t in dticks:
            parts.append(
                f'<text x="{left + pw + 8}" y="{_f(yd(t) + 4)}" font-size="11" fill="{ACCENT}">'
                f"{escape(compact(t))}</text>"
            )
        dso_axis = _("days") if narrow else _("DSO, days")
        parts.append(
            f'<text x="{width - 2}" y="{top - 14}" text-anchor="end" font-size="11" '
            f'fill="{ACCENT}">{escape(dso_axis)}</text>'
        )
    segments: list[list[str]] = [[]]  # the DSO line breaks where a month has no DSO
    for i, m in enumerate(months):
        cx = left + group * i + group / 2
        inv, col = float(m.invoiced_amount), float(m.collected_amount)
        # gettext outside the f-strings: Babel's extractor does not look inside them
        invoiced_tip = _("%(month)s invoiced %(amount)s") % month_amount(m.period_month, m.invoiced_amount, currency)
        collected_tip = _("%(month)s collected %(amount)s") % month_amount(m.period_month, m.collected_amount, currency)
        parts.append(
            f'<rect x="{_f(cx - bw - 1)}" y="{_f(y(inv))}" width="{_f(bw)}" '
            f'height="{_f(top + ph - y(inv))}" fill="{SLATE}"><title>'
            f"{escape(invoiced_tip)}"
            "</title></rect>"
        )
        parts.append(
            f'<rect x="{_f(cx + 1)}" y="{_f(y(col))}" width="{_f(bw)}" '
            f'height="{_f(top + ph - y(col))}" fill="{NAVY}"><title>'
            f"{escape(collected_tip)}"
            "</title></rect>"
        )
        # the first month and every January keep their year; narrow: one letter (digit) a month
        with_year = i == 0 or m.period_month.month == 1
        label = fmt_month_axis(m.period_month, with_year=with_year, narrow=narrow)
        parts.append(
            f'<text x="{_f(cx)}" y="{top + ph + 18}" text-anchor="middle" font-size="11" '
            f'fill="{MUTED}">{escape(label)}</text>'
        )
        if m.dso_days is not None:
            segments[-1].append(f"{_f(cx)},{_f(yd(float(m.dso_days)))}")
        elif segments[-1]:
            segments.append([])
    parts.append(
        f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{MUTED}"/>'
    )
    for seg in segments:
        if len(seg) > 1:
            parts.append(
                f'<polyline points="{" ".join(seg)}" fill="none" stroke="{ACCENT}" '
                f'stroke-width="2" stroke-linejoin="round"/>'
            )
        for p in seg:
            px, py = p.split(",")
            parts.append(f'<circle cx="{px}" cy="{py}" r="3" fill="#fff" stroke="{ACCENT}" stroke-width="2"/>')
    # legend
    lx = left
    for color, text, kind in (
        (SLATE, _("Invoiced"), "box"),
        (NAVY, _("Collected"), "box"),
        (ACCENT, _("DSO (right)") if narrow else _("DSO (days, right axis)"), "line"),
    ):
        if kind == "box":
            parts.append(f'<rect x="{lx}" y="6" width="11" height="11" fill="{color}"/>')
        else:
            parts.append(f'<line x1="{lx}" x2="{lx + 14}" y1="12" y2="12" stroke="{color}" stroke-width="2"/>')
        parts.append(
            f'<text x="{lx + 18}" y="16" font-size="12" fill="{INK}">{escape(text)}</text>'
        )
        lx += 30 + 7 * len(text)
    parts.append("</svg>")
    return Markup("".join(parts))


def small_multiple_svg(
    points: Sequence[tuple[dt.date, float | None, str]],
    *,
    title: str,
    metric: str,
    scale_max: float | None = None,
    axis_label: Callable[[float], str] = compact,
    width: int = 320,
    height: int = 132,
) -> Markup:
    """One small chart of a small-multiples panel: a measure's monthly line on its own y axis.

    `points` are (month, value or None, the exact value's data form) in month order; a
    month without a value breaks the line. `scale_max` fixes the top of the axis (1.0 for rates, so
    every rate chart reads on the same 0-100 % scale); otherwise it is a nice tick above the peak.
    A faint vertical line marks each January, so a year reads against the year before. Every point
    carries `data-month` / `data-value` (the exact figure), for tests and readers of the markup.
    """
    values = [v for _, v, _ in points if v is not None]
    if not points or not values:
        return _empty(width, height, title)
    left, right, top, bottom = 40, 10, 10, 22
    pw, ph = width - left - right, height - top - bottom
    low = min(0.0, min(values))
    top_value = scale_max if scale_max is not None else (nice_ticks(max(values), 2)[-1] or 1.0)
    span = (top_value - low) or 1.0
    n = len(points)

    def x(i: int) -> float:
        return left + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y(v: float) -> float:
        return top + ph - ph * (v - low) / span

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(title)}" '
        f'data-chart="{escape(metric)}" {FONT}>',
        f"<title>{escape(title)}</title>",
    ]
    for t in (low, top_value):
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{_f(y(t))}" y2="{_f(y(t))}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{_f(y(t) + 4)}" text-anchor="end" font-size="10" '
            f'fill="{MUTED}">{escape(axis_label(t))}</text>'
        )
    labels = [fmt_month_axis(m, with_year=True) for m, _v, _r in points]
    for i, (month, _, _) in enumerate(points):
        if i and month.month == 1:
            parts.append(f'<line x1="{_f(x(i))}" x2="{_f(x(i))}" y1="{top}" y2="{top + ph}" '
                         f'stroke="{GRID}" stroke-dasharray="2 2"/>')
    for i in sorted({0, n - 1} | {i for i, (month, _, _) in enumerate(points) if month.month == 1}):
        anchor = "start" if i == 0 else "end" if i == n - 1 else "middle"
        parts.append(f'<text x="{_f(x(i))}" y="{height - 6}" text-anchor="{anchor}" font-size="10" '
                     f'fill="{MUTED}">{escape(labels[i])}</text>')
    segments: list[list[str]] = [[]]
    for i, (_, v, _) in enumerate(points):
        if v is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append(f"{_f(x(i))},{_f(y(v))}")
    for seg in segments:
        if len(seg) > 1:
            parts.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{NAVY}" '
                         f'stroke-width="1.8" stroke-linejoin="round"/>')
    for i, (month, v, raw) in enumerate(points):
        if v is None:
            continue
        parts.append(
            f'<circle cx="{_f(x(i))}" cy="{_f(y(v))}" r="2.4" fill="{NAVY}" data-month="{month.isoformat()}" '
            f'data-value="{escape(raw)}"><title>{escape(labels[i])}: {escape(axis_label(v))}</title></circle>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
