"""The executive lead-to-cash report: one self-contained HTML file per as-of date.

What an executive reads first: the LTC health panel (reports/health_panel.py: FanRuan's four
measures as small charts over the months, with their definitions and their changes against a year
earlier and the first month on record); eight headline tiles for the as-of month, each with its
change against the month before (and whether that move is good); the to-date figures the demo reconciles
with the source systems; the S1→S6 funnel in cohort and period views and its breakdown by channel,
campaign, region and owner; and a trust panel (when each source last landed, and the definitions
used). The revenue-flow sections are a separate partial.

The file has no external resources (no CDN, fonts, scripts or images): CSS is inline and the
charts are inline SVG drawn in Python, so it opens offline, in mail clients and prints cleanly;
phone-width variants of the charts replace the wide ones under 520 px by CSS alone. Every tile
carries ``data-metric`` / ``data-value`` (and the headline tiles ``data-change`` / ``data-prior``)
with the exact figure, so tests and the acceptance check read the numbers without scraping text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

from reports.charts import NARROW_WIDTH, cash_svg, funnel_svg, funnel_svg_compact
from reports.datasets import (
    STAGES, CashMonth, DimensionRow, FunnelRow, ReportData, add_months, load_report_data,
)
from reports.formatting import (  # noqa: F401 - data_value and the fmt_* are this module's API too
    DASH, data_value, environment, fmt_compact_int, fmt_compact_money, fmt_currency, fmt_date_long, fmt_day_month, fmt_days,
    fmt_int, fmt_money, fmt_month, fmt_pct, write_atomic,
)
from reports.i18n import N_, _, ngettext
from reports.health_panel import HealthPanel, health_panel_context, load_health_panel
from reports.revenue_flow import RevenueFlow, load_revenue_flow, revenue_flow_context

TEMPLATE = "ltc_report.html.j2"


@dataclass(frozen=True)
class Tile:
    metric: str
    label: str
    value: str
    unit: str
    raw: str
    note: str
    # the change against the prior period (headline tiles only; "" elsewhere)
    change: str = ""  # visible: "+1,234.56 (+12.3%)", "+5.2 pp", "-3.1 days"
    change_raw: str = ""  # exact: current - prior, in the value's unit (data-change)
    prior_raw: str = ""  # exact prior value (data-prior)
    direction: str = ""  # up, down, flat; "" when either period has no figure
    assessment: str = ""  # good, bad, neutral: the direction read against up_is_good
    up_is_good: bool = True


@dataclass(frozen=True)
class MatrixRow:
    month: dt.date
    cells: tuple[tuple[int, float], ...]  # (journeys, intensity 0..1) per stage
    total_first: int
    last_share: Decimal | None


Number = Decimal | int


def _change_tile(
    metric: str,
    label: str,
    kind: str,
    current: Number | None,
    prior: Number | None,
    *,
    up_is_good: bool,
    note: str,
    currency: str,
    prior_label: str,
) -> Tile:
    """A headline tile: the as-of month's value and its change against the month before.

    The change is the plain difference of two mart values (a rate's in percentage points, DSO's in
    days); the visible relative change of an amount is formatting only.
    """
    fmt = {"money": fmt_money, "pct": fmt_pct, "days": fmt_days}[kind]
    unit = {"money": currency, "pct": "", "days": _("days")}[kind] if current is not None else ""
    if kind == "money" and current is not None and fmt_compact_money(current, currency) != fmt_money(current):
        # the currency symbol in the figure itself (CN¥1,234.56; Chinese readers count in 万 / 亿)
        fmt, unit = (lambda v: fmt_compact_money(v, currency)), ""
    if current is None or prior is None:
        delta = None
        change = _("no figure for %(prior)s") % {"prior": prior_label} if current is not None else ""
        direction = assessment = ""
    else:
        delta = current - prior
        direction = "up" if delta > 0 else "down" if delta < 0 else "flat"
        assessment = (
            "neutral" if direction == "flat"
            else "good" if (direction == "up") == up_is_good else "bad"
        )
        sign = "+" if delta > 0 else "−" if delta < 0 else "±"
        size = abs(delta)
        if kind == "money":
            rel = f" ({sign}{fmt_pct(size / abs(prior))})" if prior else ""
            change = _("%(change)s vs %(prior)s") % {"change": f"{sign}{fmt_money(size)}{rel}", "prior": prior_label}
        elif kind == "pct":
            change = _("%(change)s pp vs %(prior)s") % {"change": f"{sign}{fmt_days(size * 100)}", "prior": prior_label}
        else:
            change = _("%(change)s days vs %(prior)s") % {"change": f"{sign}{fmt_days(size)}", "prior": prior_label}
    return Tile(
        metric=metric,
        label=label,
        value=fmt(current),
        unit=unit,
        raw=data_value(current),
        note=note,
        change=change,
        change_raw=data_value(delta),
        prior_raw=data_value(prior),
        direction=direction,
        assessment=assessment,
        up_is_good=up_is_good,
    )


def headline_period(data: ReportData) -> tuple[str, str]:
    """(the tiles' period, the comparison period): the as-of month and the month before."""
    if not data.exec_months:
        return fmt_month(data.as_of.replace(day=1)), ""
    prior, current = data.exec_months[0], data.exec_months[-1]
    label = fmt_month(current.period_month)
    month_end = add_months(current.period_month, 1) - dt.timedelta(days=1)
    if data.as_of < month_end:  # a partial month says so
        label = _("%(month)s to %(day)s") % {"month": label, "day": fmt_day_month(data.as_of)}
    return label, fmt_month(prior.period_month)


def _headline_tiles(data: ReportData) -> list[Tile]:
    """The eight executive tiles: the as-of month against the month before."""
    if not data.exec_months:
        return []
    prior, cur = data.exec_months[0], data.exec_months[-1]
    currency = data.reporting_currency
    _period, prior_label = headline_period(data)
    queue = data.exception_queue
    won_note = (
        _("%(won)s won of %(closed)s closed; by value %(rate)s") % {
            "won": cur.won_count, "closed": cur.won_count + cur.lost_count, "rate": fmt_pct(cur.win_rate_by_value)}
        if cur.won_count is not None and cur.lost_count is not None
        else _("Deals closed in the month")
    )
    spec = (
        ("booked_month", _("Booked"), "money", cur.booked_amount, prior.booked_amount, True,
         ngettext("%(n)s deal closed won in the month, close-date rate",
                  "%(n)s deals closed won in the month, close-date rate",
                  cur.booked_count or 0) % {"n": fmt_int(cur.booked_count)}),
        ("billed_month", _("Billed"), "money", cur.invoiced_amount, prior.invoiced_amount, True,
         _("Invoices issued in the month, incl. tax")),
        ("collected_month", _("Collected"), "money", cur.collected_amount, prior.collected_amount, True,
         _("Customer receipts booked in the month")),
        ("won_rate_month", _("Won rate"), "pct", cur.win_rate_by_count, prior.win_rate_by_count, True,
         won_note),
        ("dso_days", _("DSO"), "days", cur.dso_days, prior.dso_days, False,
         _("Month-end AR ÷ the month's billing × days")),
        ("on_time_rate_month", _("On-time collection"), "pct", cur.on_time_collection_rate,
         prior.on_time_collection_rate, True, _("Value paid by due date ÷ value due in the month")),
        ("overdue_ar", _("Overdue AR"), "money", cur.overdue_ar, prior.overdue_ar, False,
         _("Open balance past due at month end (%(date)s for this month)") % {"date": data.as_of.isoformat()}),
        ("exceptions_month", _("New exceptions"), "money", cur.exceptions_amount,
         prior.exceptions_amount, False,
         _("%(n)s raised in the month and still open; whole queue %(amount)s in %(count)s") % {
             "n": fmt_int(cur.exceptions_count), "amount": fmt_currency(queue.amount, currency),
             "count": fmt_int(queue.count)}),
    )
    return [
        _change_tile(metric, label, kind, current, before, up_is_good=good, note=note,
                     currency=currency, prior_label=prior_label)
        for metric, label, kind, current, before, good, note in spec
    ]


def _money_tile(metric: str, label: str, value: Decimal | None, currency: str, note: str) -> Tile:
    """An amount tile: the exact amount and the currency code in English; 万 / 亿 with the
    currency's symbol in Chinese (the exact figure stays in data-value either way)."""
    compact = fmt_compact_money(value, currency)
    if compact == fmt_money(value):
        return Tile(metric, label, compact, currency, data_value(value), note)
    return Tile(metric, label, compact, "", data_value(value), note)


def _tiles(data: ReportData) -> tuple[list[Tile], list[Tile]]:
    h = data.headline
    cur = data.reporting_currency
    conv_rate = (
        (Decimal(h.converted_leads) / Decimal(h.leads)) if h.leads else None
    )
    pipeline = [
        Tile("leads", _("Leads"), fmt_compact_int(h.leads), "", data_value(h.leads),
             _("Non-deleted leads, duplicates included")),
        Tile("converted_leads", _("Converted leads"), fmt_compact_int(h.converted_leads), "",
             data_value(h.converted_leads), _("%(rate)s of leads") % {"rate": fmt_pct(conv_rate)}),
        Tile("won_opportunities", _("Won opportunities"), fmt_compact_int(h.won_opportunities), "",
             data_value(h.won_opportunities), _("Closed Won, non-deleted")),
        _money_tile("won_amount", _("Won amount"), h.won_amount, cur, _("Bookings at the close-date rate")),
    ]
    cash = [
        _money_tile("invoiced_total", _("Invoiced"), h.invoiced_total, cur,
                    _("Non-deleted invoices, at issue-date rate")),
        _money_tile("collected_total", _("Collected"), h.collected_total, cur,
                    _("All customer receipts, matched or not")),
        Tile("on_time_collection_rate", _("On-time collection"), fmt_pct(h.on_time_collection_rate),
             "", data_value(h.on_time_collection_rate),
             _("Value paid by due date ÷ value due, every month to date")),
    ]
    # DSO and overdue AR of the as-of month are headline tiles (with their change): not repeated here
    return pipeline, cash


def _matrix(rows: tuple[FunnelRow, ...]) -> tuple[list[tuple[str, str]], list[MatrixRow]]:
    """Month × stage journeys, with a shading intensity relative to the month's S1."""
    names = dict(STAGES)
    stage_keys: dict[str, int] = {}
    for r in rows:
        stage_keys.setdefault(r.stage_code, r.stage_order)
        if r.step_name:
            names[r.stage_code] = r.step_name
    for i, (code, _name) in enumerate(STAGES, start=1):
        stage_keys.setdefault(code, i)
    codes = sorted(stage_keys, key=lambda c: (stage_keys[c], c))
    by_month: dict[dt.date, dict[str, int]] = {}
    for r in rows:
        by_month.setdefault(r.period_month, {})[r.stage_code] = (
            by_month.get(r.period_month, {}).get(r.stage_code, 0) + r.journeys
        )
    out: list[MatrixRow] = []
    for month in sorted(by_month):
        counts = by_month[month]
        first = counts.get(codes[0], 0) if codes else 0
        peak = max(counts.values()) if counts else 0
        base = first or peak
        cells = tuple(
            (counts.get(c, 0), (counts.get(c, 0) / base) if base else 0.0) for c in codes
        )
        last = counts.get(codes[-1], 0) if codes else 0
        out.append(
            MatrixRow(
                month=month,
                cells=cells,
                total_first=first,
                last_share=(Decimal(last) / Decimal(first)) if first else None,
            )
        )
    return [(c, names.get(c, c)) for c in codes], out


# (column title, table caption, description) per dimension; translated where they are used
BREAKDOWN_TITLES = {
    "channel": (N_("Channel"), N_("By channel"), N_("the lead's acquisition channel (seed channel_mapping)")),
    "campaign": (N_("Campaign"), N_("By campaign"), N_("the lead's first-touch campaign")),
    "region": (N_("Region"), N_("By region"), N_("the owner's sales region")),
    "owner": (N_("Owner"), N_("By owner"), N_("the CRM owner of the journey (an employee)")),
}


@dataclass(frozen=True)
class BreakdownView:
    """A conversion table: one row per slice, the stage counts, S6 ÷ S1 and a bar scaled to the
    table's highest rate (so small rates stay visible; the number beside it is exact)."""

    dimension: str
    title: str
    by_title: str  # the table's caption: "By channel"
    description: str
    stage_header: tuple[tuple[str, str], ...]
    rows: tuple[tuple[DimensionRow, Decimal | None, float], ...]  # row, S6 ÷ S1, bar 0..1
    totals: tuple[int, ...]
    total_rate: Decimal | None


def _breakdown_views(data: ReportData) -> list[BreakdownView]:
    names = dict(STAGES)
    for r in data.funnel_cohort:
        if r.step_name:
            names[r.stage_code] = r.step_name
    out = []
    for b in data.breakdowns:
        last = len(b.stage_codes) - 1
        rates = [(r, r.share(last) if last >= 0 else None) for r in b.rows]
        peak = max((float(rate) for _, rate in rates if rate is not None), default=0.0)
        totals = b.totals
        title, by_title, description = BREAKDOWN_TITLES.get(
            b.dimension, (b.dimension.title(), f"By {b.dimension}", ""))
        out.append(
            BreakdownView(
                dimension=b.dimension,
                title=_(title),
                by_title=_(by_title),
                description=_(description) if description else "",
                stage_header=tuple((c, names.get(c, c)) for c in b.stage_codes),
                rows=tuple(
                    (r, rate, (float(rate) / peak) if rate is not None and peak else 0.0)
                    for r, rate in rates
                ),
                totals=totals,
                total_rate=(
                    (Decimal(totals[last]) / Decimal(totals[0])).quantize(Decimal("0.0001"))
                    if totals and totals[0] else None
                ),
            )
        )
    return out


@dataclass(frozen=True)
class Definition:
    name: str
    definition: str
    clock: str  # period, cohort or as-of: which clock the figure runs on
    source: str  # the mart (and column) it is read from


def glossary(data: ReportData) -> list[Definition]:
    """The metric definitions this report uses (reference: ltc-metrics.md §2-§3, §9)."""
    v = {"day": data.as_of.isoformat(), "cur": data.reporting_currency}
    month = _("period: calendar month, as of %(day)s") % v
    month_ends = _("as of each month end, %(day)s last") % v
    cohort = _("cohort, as of %(day)s") % v
    return [
        Definition(_("As-of date"), _("%(day)s. Every figure is stated as of this date; none depends on when "
                   "the report was generated.") % v, _("as of"), "var as_of (LTC_AS_OF)"),
        Definition(_("Booked"), _("Σ amount of opportunities closed won (not deleted) with a close date in "
                   "the month, in %(cur)s at the close-date rate.") % v, month, "fct_opportunities"),
        Definition(_("Billed"), _("Σ invoices issued in the month (not deleted or cancelled), total incl. "
                   "tax, in %(cur)s at the issue-date rate.") % v, month, "rpt_cash_collection.invoiced_amount"),
        Definition(_("Collected"), _("Σ every customer receipt booked in the month, applied to an invoice or "
                   "not, at the booking-date rate."), month, "rpt_cash_collection.collected_amount"),
        Definition(_("Won rate"), _("# won ÷ (# won + # lost) of the deals closed in the month; open deals "
                   "excluded. By value: Σ won ÷ (Σ won + Σ lost)."), month,
                   "rpt_pipeline_performance.win_rate_by_count"),
        Definition(_("DSO"), _("Standard DSO: AR at the month end ÷ the month's billing × days in the "
                   "month (to the as-of date in the as-of month)."), month_ends,
                   "rpt_cash_collection.dso_days"),
        Definition(_("On-time collection"), _("Σ amount received on or before the due date ÷ Σ amount "
                   "falling due in the month (by value). The to-date tile sums both over every month."),
                   month, "rpt_cash_collection.on_time_collection_rate"),
        Definition(_("Overdue AR"), _("Σ open balance of invoices whose due date is before the date, after "
                   "the cash applied on or before it."), month_ends,
                   "rpt_cash_collection.overdue_ar"),
        Definition(_("New exceptions"), _("Σ amount of the reconciliation exceptions (cash application and "
                   "contract-to-cash) detected in the month and still open; the whole open queue is in "
                   "the note."), _("as of %(day)s, by detection month") % v, "fct_reconciliation_exceptions"),
        Definition(_("Change"), _("The month's value minus the month before's: amounts in "
                   "%(cur)s, rates in percentage points (pp), DSO in days. Green when the move is good "
                   "(up for amounts and rates, down for DSO, overdue AR and exceptions).") % v,
                   _("period vs prior period"), _("the tiles' marts")),
        Definition(_("Funnel, cohort view"), _("Journeys that started (S1) in a month, counted at every "
                   "stage they reached by the as-of date; recent cohorts are still maturing."),
                   cohort, "rpt_funnel_conversion (measure_type cohort)"),
        Definition(_("Funnel, period view"), _("Journeys entering each stage in a month, whichever month "
                   "they started: two populations per ratio, which can exceed 100%."),
                   month, "rpt_funnel_conversion (measure_type period)"),
        Definition(_("Conversion by channel, campaign, region, owner"), _("Cohort view over every cohort "
                   "month; lead to cash = journeys that reached S6 ÷ journeys that started S1. Each "
                   "journey has one value per dimension, so slices add up to the total."),
                   cohort, "rpt_funnel_conversion (dimension slices)"),
        Definition(_("Data freshness"), _("When each source system last landed: the latest dlt load "
                   "stamp over its raw tables, and the stalest table's."), _("wall clock, UTC"),
                   "rpt_source_freshness"),
    ]


def _months_label(months: list[dt.date], default: str) -> str:
    return f"{fmt_month(min(months))} – {fmt_month(max(months))}" if months else default


def render_html(data: ReportData, *, generated_at: dt.datetime, revenue: RevenueFlow | None = None,
                health: HealthPanel | None = None) -> str:
    """The report as an HTML string (pure: no I/O). `revenue`: the revenue-flow sections
    (velocity, pipeline, forecast, bridge; reports/revenue_flow.py), left out when None. `health`:
    the LTC health panel at the top (reports/health_panel.py), left out when None."""
    pipeline_tiles, cash_tiles = _tiles(data)
    headline_label, prior_label = headline_period(data)
    cohort_stages = data.cohort_stages
    period_stages = data.period_stages
    stage_header, cohort_matrix = _matrix(data.funnel_cohort)
    _header, period_matrix = _matrix(data.funnel_period)
    cash: tuple[CashMonth, ...] = data.cash_collection
    months = [m.period_month for m in cash] or [r.period_month for r in data.funnel_cohort]
    period_label = (
        f"{fmt_month(min(months))} – {fmt_month(max(months))}" if months else _("no activity")
    )
    # the funnel's own months (its cohorts can start before the first invoice)
    funnel_label = _months_label([r.period_month for r in data.funnel_cohort if r.journeys], period_label)
    context = {
        "title": _("Lead-to-cash report"),
        "as_of": data.as_of,
        "as_of_iso": data.as_of.isoformat(),
        "as_of_long": fmt_date_long(data.as_of),
        "period_label": period_label,
        "currency": data.reporting_currency,
        "generated_at": generated_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "headline_tiles": _headline_tiles(data),
        "headline_label": headline_label,
        "prior_label": prior_label,
        "pipeline_tiles": pipeline_tiles,
        "cash_tiles": cash_tiles,
        "funnel_label": funnel_label,
        "funnel_period_label": _months_label(
            [r.period_month for r in data.funnel_period if r.journeys], period_label
        ),
        "funnel_chart": funnel_svg(
            cohort_stages, title=_("Cohort funnel S1 to S6, journeys started %(months)s") % {"months": funnel_label}
        ),
        "cohort_stages": cohort_stages,
        "period_stages": period_stages,
        "stage_header": stage_header,
        "cohort_matrix": cohort_matrix,
        "period_matrix": period_matrix,
        "cash_chart": cash_svg(
            cash,
            currency=data.reporting_currency,
            title=_("Invoiced vs collected by month, %(currency)s") % {"currency": data.reporting_currency},
        ),
        # phone variants (shown under 520 px by CSS): the wide charts would shrink their text to 4 px
        "funnel_chart_narrow": funnel_svg_compact(
            cohort_stages, title=_("Cohort funnel S1 to S6, journeys started %(months)s") % {"months": funnel_label}
        ),
        "cash_chart_narrow": cash_svg(
            cash,
            currency=data.reporting_currency,
            title=_("Invoiced vs collected by month, %(currency)s") % {"currency": data.reporting_currency},
            width=NARROW_WIDTH,
        ),
        "cash": cash,
        "breakdowns": _breakdown_views(data),
        "freshness": data.freshness,
        "glossary": glossary(data),
        "revenue": revenue_flow_context(revenue) if revenue is not None else None,
        "health": health_panel_context(health) if health is not None else None,
    }
    return environment().get_template(TEMPLATE).render(**context)


def build_html_report(
    duckdb_path: Path,
    out_dir: Path,
    *,
    as_of: dt.date | None = None,
    generated_at: dt.datetime | None = None,
    with_revenue_flow: bool = True,
    with_health_panel: bool | None = None,
) -> Path:
    """Write ``ltc_report_<as_of>.html`` into `out_dir` (an edition's staging folder: publishing
    is reports/publish.py's job) and return its path.

    Reads the marts through short-lived read-only connections. `as_of` defaults to the marts'
    as-of date; a different date than the marts were built for is an error. The file is written
    atomically. `with_revenue_flow=False` leaves out the revenue-flow sections, whose marts a
    warehouse holding only the core marts (the unit tests' fixture) does not have.
    `with_health_panel` (default: as `with_revenue_flow`, the full marts) puts the LTC health panel
    (rpt_ltc_health) at the top.
    """
    data = load_report_data(duckdb_path, as_of)
    revenue = load_revenue_flow(duckdb_path, data.as_of) if with_revenue_flow else None
    if with_health_panel is None:
        with_health_panel = with_revenue_flow
    health = load_health_panel(duckdb_path, data.as_of) if with_health_panel else None
    html = render_html(data, generated_at=generated_at or dt.datetime.now(dt.timezone.utc), revenue=revenue,
                       health=health)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"ltc_report_{data.as_of.isoformat()}.html"
    write_atomic(path, html)
    return path


class _MetricParser(HTMLParser):
    """Collects the `data-metric` / `data-value` pairs of a rendered report."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("data-metric"):
            self.metrics[found["data-metric"]] = found.get("data-value") or ""


def read_report_metrics(path: Path) -> dict[str, str]:
    """The exact headline figures of a published report, as decimal strings by metric name.

    This is how the demo and the tests reconcile what a reader sees with the ground truth.
    """
    parser = _MetricParser()
    parser.feed(Path(path).read_text(encoding="utf-8"))
    return parser.metrics
