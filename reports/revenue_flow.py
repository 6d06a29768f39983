"""The executive report's revenue flow: velocity, pipeline, forecast and the cash bridge.

Executives ask three questions the funnel alone does not answer: how fast does pipeline turn into
revenue (sales velocity, cycle time), will this quarter land (coverage, the pipeline waterfall,
forecast accuracy and bias), and why do CRM bookings, finance's billings and the bank's collections
differ (the bookings -> billings -> collections bridge, ltc-metrics §3.1). This module reads those
figures from the marts that define them and shapes them for the `_exec_revenue.html.j2` partial:

- rpt_revenue_velocity (sales velocity and its components), fct_opportunity_stage_history (time in
  each opportunity stage), fct_lead_to_cash (cycle time between LTC milestones);
- rpt_pipeline_waterfall + rpt_pipeline_performance (waterfall, coverage, win rate, sales cycle);
- rpt_forecast_accuracy (forecast vs actual, point accuracy, WAPE, bias: positive = over-forecast);
- rpt_revenue_bridge (bookings, billings, collections and the timing differences between them).

The SQL only selects, filters, counts and sums mart columns; the one arithmetic done here is the
mean of a sum over a count for the time-in-stage and cycle bars. Nothing here reads personal data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from reports import flow_charts
from reports.datasets import (
    Connection, fetch_rows, money, money_or_none, read_only, resolve_as_of, to_date, to_decimal,
)
from reports.formatting import data_value, fmt_date_long, fmt_days, fmt_int, fmt_money, fmt_month, fmt_pct
from reports.i18n import N_, _
from reports.labels import label as display_label

DAYS_QUANTUM = Decimal("0.1")
FORECAST_HEADLINE_CATEGORY = "Commit"
OPEN_STAGES_EXCLUDED = ("Closed Won", "Closed Lost")  # a closed stage is not selling time

# fct_lead_to_cash duration columns, in journey order: (column, label)
CYCLE_STEPS: tuple[tuple[str, str], ...] = (
    ("days_lead_to_opportunity", N_("Lead → opportunity")),
    ("days_opportunity_to_close", N_("Opportunity → close")),
    ("days_won_to_contract", N_("Won → contract signed")),
    ("days_contract_to_order", N_("Contract → first order")),
    ("days_order_to_invoice", N_("Order → first invoice")),
    ("days_invoice_to_collected", N_("Invoice → fully collected")),
    ("days_lead_to_cash", N_("Lead → cash (whole journey)")),
)

# The marts this module reads; each must be built for the same as-of date.
SOURCES = (
    "rpt_revenue_velocity",
    "rpt_revenue_bridge",
    "rpt_pipeline_waterfall",
    "rpt_pipeline_performance",
    "rpt_forecast_accuracy",
    "fct_opportunity_stage_history",
    "fct_lead_to_cash",
)


# ---------------------------------------------------------------------------------------------
# Data shapes


@dataclass(frozen=True)
class VelocityMonth:
    """rpt_revenue_velocity: one month, components over the trailing twelve months."""

    period_month: dt.date
    period_end: dt.date
    trailing_start: dt.date | None
    end_snapshot_date: dt.date | None
    open_opportunity_count: int
    open_pipeline_amount: Decimal
    won_count: int
    lost_count: int
    won_amount: Decimal
    win_rate_by_count: Decimal | None
    avg_deal_size: Decimal | None
    sales_cycle_avg_days: Decimal | None
    sales_velocity_per_day: Decimal | None


@dataclass(frozen=True)
class DurationBar:
    """Mean days of one stage or LTC step: Σ days / number of measured stays."""

    key: str
    label: str
    count: int
    days_total: int

    @property
    def avg_days(self) -> Decimal | None:
        if not self.count:
            return None
        return (Decimal(self.days_total) / Decimal(self.count)).quantize(DAYS_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class PipelinePeriod:
    """rpt_pipeline_waterfall joined with rpt_pipeline_performance for one period."""

    period_type: str
    period_start: dt.date
    period_end: dt.date
    period_end_capped: dt.date
    is_period_complete: bool
    start_snapshot_date: dt.date | None
    end_snapshot_date: dt.date | None
    start_amount: Decimal
    created_amount: Decimal
    pulled_in_amount: Decimal
    amount_increase: Decimal
    amount_decrease: Decimal  # negative, as the mart holds it
    amount_change: Decimal
    pushed_out_amount: Decimal
    lost_amount: Decimal
    won_amount: Decimal
    end_amount: Decimal
    start_count: int
    created_count: int
    won_count: int
    lost_count: int
    end_count: int
    pipeline_created_amount: Decimal
    created_and_won_amount: Decimal
    win_rate_by_count: Decimal | None
    win_rate_by_value: Decimal | None
    won_prior_year_amount: Decimal | None
    coverage_vs_prior_year_won: Decimal | None
    required_coverage: Decimal | None
    sales_cycle_avg_days: Decimal | None
    sales_cycle_median_days: Decimal | None


@dataclass(frozen=True)
class ForecastRow:
    """rpt_forecast_accuracy: one period and forecast category, frozen at t0."""

    period_type: str
    period_start: dt.date
    period_end: dt.date
    is_period_complete: bool
    forecast_category: str
    category_order: int
    t0_snapshot_date: dt.date | None
    end_snapshot_date: dt.date | None
    forecast_count: int
    won_count: int
    forecast_amount: Decimal
    actual_amount: Decimal
    actual_won_total_amount: Decimal
    forecast_error: Decimal
    wape: Decimal | None
    bias: Decimal | None
    point_accuracy: Decimal | None
    wape_to_date: Decimal | None
    bias_to_date: Decimal | None


@dataclass(frozen=True)
class BridgeMonth:
    """rpt_revenue_bridge: one month of bookings -> billings -> collections."""

    period_month: dt.date
    period_end: dt.date
    booked_count: int
    booked_amount: Decimal
    invoiced_amount: Decimal
    collected_amount: Decimal
    applied_amount: Decimal
    beginning_ar: Decimal
    ending_ar: Decimal
    booking_billing_variance: Decimal
    ar_change: Decimal
    other_ar_movement: Decimal
    unapplied_cash_amount: Decimal


BRIDGE_SUMS = (
    "booked_amount",
    "invoiced_amount",
    "collected_amount",
    "applied_amount",
    "booking_billing_variance",
    "ar_change",
    "other_ar_movement",
    "unapplied_cash_amount",
)


@dataclass(frozen=True)
class RevenueFlow:
    as_of: dt.date
    reporting_currency: str
    velocity: tuple[VelocityMonth, ...]
    stage_times: tuple[DurationBar, ...]
    cycle_steps: tuple[DurationBar, ...]
    pipeline: tuple[PipelinePeriod, ...]  # quarters, oldest first
    forecast: tuple[ForecastRow, ...]  # quarters x categories
    bridge: tuple[BridgeMonth, ...]

    @property
    def velocity_latest(self) -> VelocityMonth | None:
        """The as-of month's velocity (the last row)."""
        return self.velocity[-1] if self.velocity else None

    @property
    def pipeline_quarter(self) -> PipelinePeriod | None:
        """The quarter that contains the as-of date (complete when the as-of date ends it)."""
        return self.pipeline[-1] if self.pipeline else None

    @property
    def forecast_headline(self) -> ForecastRow | None:
        """The headline forecast: Commit at t0 for the latest complete quarter."""
        rows = [
            r
            for r in self.forecast
            if r.forecast_category == FORECAST_HEADLINE_CATEGORY and r.is_period_complete
        ]
        return rows[-1] if rows else None

    def bridge_totals(self) -> dict[str, Decimal]:
        """Σ of every additive bridge column over all months to the as-of date."""
        return {k: sum((getattr(m, k) for m in self.bridge), Decimal("0.00")) for k in BRIDGE_SUMS}


# ---------------------------------------------------------------------------------------------
# Queries (selects, filters, counts and sums of mart columns)


def _int(value: Any) -> int:
    return int(value or 0)


def _currency(con: Connection) -> str:
    row = fetch_rows(con, "select min(reporting_currency) from marts.rpt_revenue_bridge")
    return str(row[0][0]) if row and row[0][0] else "USD"


def _velocity(con: Connection) -> tuple[VelocityMonth, ...]:
    rows = fetch_rows(
        con,
        """
        select period_month, period_end, trailing_start, end_snapshot_date, open_opportunity_count,
               open_pipeline_amount, won_count, lost_count, won_amount, win_rate_by_count,
               avg_deal_size, sales_cycle_avg_days, sales_velocity_per_day
        from marts.rpt_revenue_velocity
        order by period_month
        """,
    )
    return tuple(
        VelocityMonth(
            period_month=to_date(r[0]),
            period_end=to_date(r[1]),
            trailing_start=to_date(r[2]),
            end_snapshot_date=to_date(r[3]),
            open_opportunity_count=_int(r[4]),
            open_pipeline_amount=money(r[5]),
            won_count=_int(r[6]),
            lost_count=_int(r[7]),
            won_amount=money(r[8]),
            win_rate_by_count=to_decimal(r[9]),
            avg_deal_size=money_or_none(r[10]),
            sales_cycle_avg_days=to_decimal(r[11]),
            sales_velocity_per_day=money_or_none(r[12]),
        )
        for r in rows
    )


def _stage_times(con: Connection) -> tuple[DurationBar, ...]:
    # exited stays only: the current stay's age is not a time in stage (ltc-metrics §2.3)
    rows = fetch_rows(
        con,
        """
        select stage_name, min(stage_rank) as stage_rank, count(*), sum(days_in_stage)
        from marts.fct_opportunity_stage_history
        where not is_current and stage_name not in (?, ?)
        group by stage_name
        order by min(stage_rank) nulls last, stage_name
        """,
        OPEN_STAGES_EXCLUDED,
    )
    return tuple(DurationBar(key=str(r[0]), label=str(r[0]), count=_int(r[2]), days_total=_int(r[3])) for r in rows)


def _cycle_steps(con: Connection) -> tuple[DurationBar, ...]:
    measures = ", ".join(f"count({c}), sum({c})" for c, _ in CYCLE_STEPS)
    row = fetch_rows(con, f"select {measures} from marts.fct_lead_to_cash where not is_deleted")[0]
    return tuple(
        DurationBar(key=column, label=label, count=_int(row[2 * i]), days_total=_int(row[2 * i + 1]))
        for i, (column, label) in enumerate(CYCLE_STEPS)
    )


def _pipeline(con: Connection) -> tuple[PipelinePeriod, ...]:
    rows = fetch_rows(
        con,
        """
        select w.period_type, w.period_start, w.period_end, w.period_end_capped, w.is_period_complete,
               w.start_snapshot_date, w.end_snapshot_date,
               w.start_amount, w.created_amount, w.pulled_in_amount, w.amount_increase,
               w.amount_decrease, w.amount_change, w.pushed_out_amount, w.lost_amount, w.won_amount,
               w.end_amount, w.start_count, w.created_count, w.won_count, w.lost_count, w.end_count,
               p.pipeline_created_amount, p.created_and_won_amount, p.win_rate_by_count,
               p.win_rate_by_value, p.won_prior_year_amount, p.coverage_vs_prior_year_won,
               p.required_coverage, p.sales_cycle_avg_days, p.sales_cycle_median_days
        from marts.rpt_pipeline_waterfall as w
        left join marts.rpt_pipeline_performance as p
            on p.period_type = w.period_type and p.period_start = w.period_start
        where w.period_type = 'quarter'
        order by w.period_start
        """,
    )
    return tuple(
        PipelinePeriod(
            period_type=str(r[0]),
            period_start=to_date(r[1]),
            period_end=to_date(r[2]),
            period_end_capped=to_date(r[3]),
            is_period_complete=bool(r[4]),
            start_snapshot_date=to_date(r[5]),
            end_snapshot_date=to_date(r[6]),
            start_amount=money(r[7]),
            created_amount=money(r[8]),
            pulled_in_amount=money(r[9]),
            amount_increase=money(r[10]),
            amount_decrease=money(r[11]),
            amount_change=money(r[12]),
            pushed_out_amount=money(r[13]),
            lost_amount=money(r[14]),
            won_amount=money(r[15]),
            end_amount=money(r[16]),
            start_count=_int(r[17]),
            created_count=_int(r[18]),
            won_count=_int(r[19]),
            lost_count=_int(r[20]),
            end_count=_int(r[21]),
            pipeline_created_amount=money(r[22]),
            created_and_won_amount=money(r[23]),
            win_rate_by_count=to_decimal(r[24]),
            win_rate_by_value=to_decimal(r[25]),
            won_prior_year_amount=money_or_none(r[26]),
            coverage_vs_prior_year_won=to_decimal(r[27]),
            required_coverage=to_decimal(r[28]),
            sales_cycle_avg_days=to_decimal(r[29]),
            sales_cycle_median_days=to_decimal(r[30]),
        )
        for r in rows
    )


def _forecast(con: Connection) -> tuple[ForecastRow, ...]:
    rows = fetch_rows(
        con,
        """
        select period_type, period_start, period_end, is_period_complete, forecast_category,
               category_order, t0_snapshot_date, end_snapshot_date, forecast_count, won_count,
               forecast_amount, actual_amount, actual_won_total_amount, forecast_error, wape, bias,
               point_accuracy, wape_to_date, bias_to_date
        from marts.rpt_forecast_accuracy
        where period_type = 'quarter'
        order by period_start, category_order
        """,
    )
    return tuple(
        ForecastRow(
            period_type=str(r[0]),
            period_start=to_date(r[1]),
            period_end=to_date(r[2]),
            is_period_complete=bool(r[3]),
            forecast_category=str(r[4]),
            category_order=_int(r[5]),
            t0_snapshot_date=to_date(r[6]),
            end_snapshot_date=to_date(r[7]),
            forecast_count=_int(r[8]),
            won_count=_int(r[9]),
            forecast_amount=money(r[10]),
            actual_amount=money(r[11]),
            actual_won_total_amount=money(r[12]),
            forecast_error=money(r[13]),
            wape=to_decimal(r[14]),
            bias=to_decimal(r[15]),
            point_accuracy=to_decimal(r[16]),
            wape_to_date=to_decimal(r[17]),
            bias_to_date=to_decimal(r[18]),
        )
        for r in rows
    )


def _bridge(con: Connection) -> tuple[BridgeMonth, ...]:
    rows = fetch_rows(
        con,
        """
        select period_month, period_end, booked_count, booked_amount, invoiced_amount,
               collected_amount, applied_amount, beginning_ar, ending_ar, booking_billing_variance,
               ar_change, other_ar_movement, unapplied_cash_amount
        from marts.rpt_revenue_bridge
        order by period_month
        """,
    )
    return tuple(
        BridgeMonth(
            period_month=to_date(r[0]),
            period_end=to_date(r[1]),
            booked_count=_int(r[2]),
            booked_amount=money(r[3]),
            invoiced_amount=money(r[4]),
            collected_amount=money(r[5]),
            applied_amount=money(r[6]),
            beginning_ar=money(r[7]),
            ending_ar=money(r[8]),
            booking_billing_variance=money(r[9]),
            ar_change=money(r[10]),
            other_ar_movement=money(r[11]),
            unapplied_cash_amount=money(r[12]),
        )
        for r in rows
    )


# ---------------------------------------------------------------------------------------------
# Public API


def load_revenue_flow(duckdb_path: Path, as_of: dt.date | None = None) -> RevenueFlow:
    """Every revenue-flow figure, read through one short-lived read-only connection.

    `as_of=None` takes the marts' as-of date; a date the marts were not built for raises
    ValueError (the marts are never re-cut to another date here).
    """
    with read_only(duckdb_path) as con:
        day = resolve_as_of(con, SOURCES, as_of)
        return RevenueFlow(
            as_of=day,
            reporting_currency=_currency(con),
            velocity=_velocity(con),
            stage_times=_stage_times(con),
            cycle_steps=_cycle_steps(con),
            pipeline=_pipeline(con),
            forecast=_forecast(con),
            bridge=_bridge(con),
        )


def _quarter_label(start: dt.date) -> str:
    return _("Q%(quarter)s %(year)s") % {"quarter": (start.month - 1) // 3 + 1, "year": start.year}


def _fig(metric: str, value: int | Decimal | None, text: str, **extra: object) -> dict:
    """A headline figure: its data-metric key, exact data-value, visible text and labels."""
    return {"metric": f"revenue.{metric}", "raw": data_value(value), "text": text, **extra}


def _ratio_x(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _signed_pct(value: Decimal | None) -> str:
    """A bias with its sign spelt out: + over-forecasting, − sandbagging."""
    return ("+" if value is not None and value > 0 else "") + fmt_pct(value)


def _signed_money(value: Decimal) -> str:
    return ("+" if value > 0 else "") + fmt_money(value)


def _bar_label(label: str) -> str:
    """A duration bar's label to show: a milestone step of CYCLE_STEPS through the catalogue, an
    opportunity stage (a mart value) through reports/labels.py."""
    return _(label) if label in _CYCLE_LABELS else display_label(label)


_CYCLE_LABELS = frozenset(label for _column, label in CYCLE_STEPS)


def _duration_rows(bars: Sequence[DurationBar]) -> list[dict]:
    return [
        {"key": b.key, "label": _bar_label(b.label), "count": fmt_int(b.count), "avg": fmt_days(b.avg_days),
         "raw": data_value(b.avg_days)}
        for b in bars
    ]


def _velocity_context(flow: RevenueFlow) -> dict:
    v, ccy, as_of_iso = flow.velocity_latest, flow.reporting_currency, flow.as_of.isoformat()
    figs: list[dict] = []
    if v is not None:
        window = f"{fmt_month(v.trailing_start)}–{fmt_month(v.period_month)}" if v.trailing_start else ""
        figs = [
            _fig("sales_velocity", v.sales_velocity_per_day, fmt_money(v.sales_velocity_per_day),
                 label=_("Sales velocity"), unit=_("%(currency)s/day") % {"currency": ccy}, note=_("as of %(date)s") % {"date": as_of_iso}),
            _fig("open_opportunities", v.open_opportunity_count, fmt_int(v.open_opportunity_count),
                 label=_("Open qualified opportunities"), unit="", note=_("as of %(date)s") % {"date": v.end_snapshot_date or as_of_iso}),
            _fig("win_rate_by_count", v.win_rate_by_count, fmt_pct(v.win_rate_by_count),
                 label=_("Win rate (count)"), unit="", note=_("closed %(window)s") % {"window": window}),
            _fig("avg_deal_size", v.avg_deal_size, fmt_money(v.avg_deal_size),
                 label=_("Average won deal"), unit=ccy, note=_("won %(window)s") % {"window": window}),
            _fig("sales_cycle_avg_days", v.sales_cycle_avg_days, fmt_days(v.sales_cycle_avg_days),
                 label=_("Sales cycle (won)"), unit=_("days"), note=_("created → won, %(window)s") % {"window": window}),
        ]
    return {
        "velocity_figs": figs,
        "velocity_month": fmt_month(v.period_month) if v else "",
        "stage_rows": _duration_rows(flow.stage_times),
        "cycle_rows": _duration_rows(flow.cycle_steps),
    }


def _pipeline_context(flow: RevenueFlow) -> tuple[dict, list[tuple[str, str, Decimal]]]:
    """The pipeline section and the waterfall chart's steps (as the mart holds them)."""
    q = flow.pipeline_quarter
    if q is None:
        return {"quarter_label": "", "pipeline_figs": [], "waterfall_figs": [], "pipeline_rows": []}, []
    quarter = _quarter_label(q.period_start)
    label = quarter if q.is_period_complete else _("%(quarter)s to date") % {"quarter": quarter}
    coverage_note = (
        _("%(quarter)s: open pipeline at its start ÷ won a year earlier") % {"quarter": label}
        if q.won_prior_year_amount
        else _("%(quarter)s: nothing won a year earlier to compare with") % {"quarter": label}
    )
    figs = [
        _fig("coverage", q.coverage_vs_prior_year_won, _ratio_x(q.coverage_vs_prior_year_won),
             label=_("Pipeline coverage"), unit="", note=coverage_note),
        _fig("required_coverage", q.required_coverage, _ratio_x(q.required_coverage),
             label=_("Required coverage"), unit="", note=_("1 ÷ win rate by value, prior 12 months")),
        _fig("win_rate_by_value", q.win_rate_by_value, fmt_pct(q.win_rate_by_value),
             label=_("Win rate (value)"), unit="", note=_("closed in %(quarter)s") % {"quarter": label}),
        _fig("sales_cycle_median_days", q.sales_cycle_median_days, fmt_days(q.sales_cycle_median_days),
             label=_("Median sales cycle"), unit=_("days"), note=_("won in %(quarter)s") % {"quarter": label}),
    ]
    movements = (
        ("start", _("Start (open pipeline closing in the quarter)"), q.start_amount, q.start_count),
        ("created", _("+ Created"), q.created_amount, q.created_count),
        ("pulled_in", _("+ Pulled in"), q.pulled_in_amount, None),
        ("amount_change", _("± Amount changes (net)"), q.amount_change, None),
        ("pushed_out", _("− Pushed out"), q.pushed_out_amount, None),
        ("lost", _("− Lost"), q.lost_amount, q.lost_count),
        ("won", _("− Won"), q.won_amount, q.won_count),
        ("end", _("End (open pipeline closing in the quarter)"), q.end_amount, q.end_count),
    )
    waterfall_figs = [
        _fig(f"pipeline.{key}", value, fmt_money(value), label=text, count="" if n is None else fmt_int(n))
        for key, text, value, n in movements
    ]
    steps = [
        ("total", _("Start"), q.start_amount),
        ("delta", _("Created"), q.created_amount),
        ("delta", _("Pulled in"), q.pulled_in_amount),
        ("delta", _("Amount ↑"), q.amount_increase),
        ("delta", _("Amount ↓"), q.amount_decrease),
        ("delta", _("Pushed out"), -q.pushed_out_amount),
        ("delta", _("Lost"), -q.lost_amount),
        ("delta", _("Won"), -q.won_amount),
        ("total", _("End"), q.end_amount),
    ]
    section = {
        "quarter_label": label,
        "pipeline_figs": figs,
        "waterfall_figs": waterfall_figs,
        "pipeline_rows": [_pipeline_row(p) for p in flow.pipeline],
    }
    return section, steps


def _forecast_context(flow: RevenueFlow) -> dict:
    f, ccy = flow.forecast_headline, flow.reporting_currency
    section: dict = {
        "forecast_label": "",
        "forecast_category": FORECAST_HEADLINE_CATEGORY,
        "forecast_figs": [],
        "forecast_to_date": {},
        "forecast_rows": [_forecast_row(r) for r in flow.forecast],
    }
    if f is None:
        return section
    label = _quarter_label(f.period_start)
    section["forecast_label"] = label
    section["forecast_figs"] = [
        _fig("forecast_accuracy", f.point_accuracy, fmt_pct(f.point_accuracy), label=_("Forecast accuracy"),
             unit="", note=f"{display_label(f.forecast_category)}, {label}: max(0, 1 − |A − F| ÷ A)"),
        _fig("forecast_bias", f.bias, _signed_pct(f.bias), label=_("Forecast bias"),
             unit="", note=_("(F − A) ÷ A: + over-forecast, − sandbagging")),
        _fig("forecast_amount", f.forecast_amount, fmt_money(f.forecast_amount), label=_("Forecast (F)"),
             unit=ccy, note=_("%(category)s frozen %(date)s") % {
                 "category": display_label(f.forecast_category), "date": f.t0_snapshot_date or "—"}),
        _fig("forecast_actual", f.actual_amount, fmt_money(f.actual_amount), label=_("Actual won (A)"),
             unit=ccy, note=_("of those deals, by %(date)s") % {"date": f.end_snapshot_date or "—"}),
    ]
    section["forecast_to_date"] = {
        "wape": _fig("forecast_wape_to_date", f.wape_to_date, fmt_pct(f.wape_to_date)),
        "bias": _fig("forecast_bias_to_date", f.bias_to_date, _signed_pct(f.bias_to_date)),
    }
    return section


# (data-metric key, RevenueFlow.bridge_totals() key, label); the totals are the bridge's levels
BRIDGE_LINES = (
    ("booked", "booked_amount", N_("Booked (closed won)")),
    ("booking_billing_variance", "booking_billing_variance", N_("less: booked − billed (billing timing, tax on invoices)")),
    ("invoiced", "invoiced_amount", N_("Billed (invoiced, incl. tax)")),
    ("ar_change", "ar_change", N_("less: increase in open AR")),
    ("other_ar_movement", "other_ar_movement", N_("less: AR settled without cash (write-offs, rounding)")),
    ("unapplied_cash", "unapplied_cash_amount", N_("plus: cash not applied to invoices (unapplied, overpaid, FX)")),
    ("collected", "collected_amount", N_("Collected (bank receipts)")),
)


def _bridge_context(flow: RevenueFlow) -> tuple[dict, list[tuple[str, str, Decimal]]]:
    """The bridge section and its waterfall steps: booked → billed → collected."""
    totals = flow.bridge_totals()
    figs = [
        _fig(f"bridge.{key}", totals[col], fmt_money(totals[col]), label=_(text),
             is_total=key in ("booked", "invoiced", "collected"))
        for key, col, text in BRIDGE_LINES
    ]
    steps = [
        ("total", _("Booked"), totals["booked_amount"]),
        ("delta", _("Timing & tax"), -totals["booking_billing_variance"]),
        ("total", _("Billed"), totals["invoiced_amount"]),
        ("delta", _("Open AR ↑"), -totals["ar_change"]),
        ("delta", _("Written off"), -totals["other_ar_movement"]),
        ("delta", _("Unapplied cash"), totals["unapplied_cash_amount"]),
        ("total", _("Collected"), totals["collected_amount"]),
    ]
    first = flow.bridge[0].period_month if flow.bridge else None
    span = f"{fmt_month(first)} – {fmt_month(flow.as_of)}" if first else ""
    section = {"bridge_span": span, "bridge_figs": figs, "bridge_rows": [_bridge_row(m) for m in flow.bridge]}
    return section, steps


def revenue_flow_context(flow: RevenueFlow) -> dict:
    """Everything `_exec_revenue.html.j2` reads as `revenue.<key>`, charts as inline SVG Markup."""
    ccy = flow.reporting_currency
    as_of_iso = flow.as_of.isoformat()
    pipeline, waterfall_steps = _pipeline_context(flow)
    bridge, bridge_steps = _bridge_context(flow)
    charts = {
        "velocity_stages": flow_charts.duration_bars_svg(
            [(_bar_label(b.label), b.avg_days, b.count) for b in flow.stage_times],
            title=_("Average days in each opportunity stage (exited stays, to %(date)s)") % {"date": as_of_iso},
        ),
        "cycle_steps": flow_charts.duration_bars_svg(
            [(_bar_label(b.label), b.avg_days, b.count) for b in flow.cycle_steps],
            title=_("Average days between lead-to-cash milestones (journeys to %(date)s)") % {"date": as_of_iso},
        ),
        "waterfall": flow_charts.waterfall_svg(
            waterfall_steps, currency=ccy, title=_("Pipeline waterfall, %(quarter)s (%(currency)s)") % {"quarter": pipeline["quarter_label"], "currency": ccy}
        ),
        "forecast": flow_charts.forecast_svg(
            _forecast_periods(flow), currency=ccy,
            title=_("Forecast (%(category)s at t0) vs actual won, by quarter (%(currency)s)") % {
                "category": display_label(FORECAST_HEADLINE_CATEGORY), "currency": ccy},
        ),
        "bridge": flow_charts.waterfall_svg(
            bridge_steps, currency=ccy, title=f"Bookings → billings → collections, {bridge['bridge_span']} ({ccy})"
        ),
        "bridge_months": flow_charts.bridge_months_svg(
            [(m.period_month, m.booked_amount, m.invoiced_amount, m.collected_amount) for m in flow.bridge],
            currency=ccy, title=_("Booked, billed and collected by month (%(currency)s)") % {"currency": ccy},
        ),
    }
    return {
        "currency": ccy,
        "as_of_iso": as_of_iso,
        "as_of_long": fmt_date_long(flow.as_of),
        **_velocity_context(flow),
        **pipeline,
        **_forecast_context(flow),
        **bridge,
        "charts": charts,
    }


def _forecast_periods(flow: RevenueFlow) -> list[tuple[str, Decimal, Decimal, Decimal, bool]]:
    """(quarter, F, A, all won) for the headline category, quarters with a forecast or a win."""
    out = []
    for r in flow.forecast:
        if r.forecast_category != FORECAST_HEADLINE_CATEGORY:
            continue
        if not (r.forecast_amount or r.actual_won_total_amount):
            continue
        label = _quarter_label(r.period_start)
        out.append((label, r.forecast_amount, r.actual_amount, r.actual_won_total_amount, r.is_period_complete))
    return out


def _pipeline_row(p: PipelinePeriod) -> dict:
    return {
        "quarter": _quarter_label(p.period_start) + ("" if p.is_period_complete else " (to date)"),
        "start": fmt_money(p.start_amount),
        "created": fmt_money(p.created_amount),
        "pulled_in": fmt_money(p.pulled_in_amount),
        "amount_change": _signed_money(p.amount_change),
        "pushed_out": fmt_money(p.pushed_out_amount),
        "lost": fmt_money(p.lost_amount),
        "won": fmt_money(p.won_amount),
        "end": fmt_money(p.end_amount),
        "coverage": _ratio_x(p.coverage_vs_prior_year_won),
        "required": _ratio_x(p.required_coverage),
        "win_rate": fmt_pct(p.win_rate_by_value),
        "cycle": fmt_days(p.sales_cycle_median_days),
    }


def _forecast_row(r: ForecastRow) -> dict:
    return {
        "quarter": _quarter_label(r.period_start) + ("" if r.is_period_complete else " (partial)"),
        "category": r.forecast_category,
        "t0": r.t0_snapshot_date.isoformat() if r.t0_snapshot_date else "—",
        "forecast": fmt_money(r.forecast_amount),
        "actual": fmt_money(r.actual_amount),
        "error": _signed_money(r.forecast_error),
        "accuracy": fmt_pct(r.point_accuracy),
        "bias": _signed_pct(r.bias),
        "all_won": fmt_money(r.actual_won_total_amount),
        "headline": r.forecast_category == FORECAST_HEADLINE_CATEGORY,
    }


def _bridge_row(m: BridgeMonth) -> dict:
    return {
        "month": fmt_month(m.period_month),
        "booked": fmt_money(m.booked_amount),
        "invoiced": fmt_money(m.invoiced_amount),
        "collected": fmt_money(m.collected_amount),
        "variance": _signed_money(m.booking_billing_variance),
        "ar_change": _signed_money(m.ar_change),
        "other": _signed_money(m.other_ar_movement),
        "unapplied": _signed_money(m.unapplied_cash_amount),
        "ending_ar": fmt_money(m.ending_ar),
    }


__all__ = [
    "BridgeMonth",
    "DurationBar",
    "ForecastRow",
    "PipelinePeriod",
    "RevenueFlow",
    "VelocityMonth",
    "load_revenue_flow",
    "revenue_flow_context",
]
