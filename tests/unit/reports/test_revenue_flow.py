"""The revenue-flow sections of the executive report tie out to the marts and the ground truth.

Every figure reports/revenue_flow.py loads, and every data-value the partial renders, is compared
with an independent query of the marts it comes from (or of the base marts below them), on the
sandbox company (`built_company`); the bridge's totals with the generator's ground truth where the
definitions match; the pipeline waterfall must balance. Expected values are never copied from
output.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from connectors.marts_file import connect_warehouse
from reports.flow_charts import bridge_months_svg, duration_bars_svg, forecast_svg, waterfall_svg
from reports.formatting import data_value, environment, fmt_date_long
from reports.revenue_flow import load_revenue_flow, revenue_flow_context

CENT = Decimal("0.01")
PAGE = '{% extends "_base.html.j2" %}{% block content %}{% include "_exec_revenue.html.j2" %}{% endblock %}'


def _q(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = connect_warehouse(db, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _one(db: Path, sql: str, params: list | None = None):
    return _q(db, sql, params)[0][0]


def _cents(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def render_page(flow) -> str:
    return environment().from_string(PAGE).render(
        title="Revenue flow",
        as_of_iso=flow.as_of.isoformat(),
        as_of_long=fmt_date_long(flow.as_of),
        currency=flow.reporting_currency,
        period_label="2025",
        generated_at="test",
        revenue=revenue_flow_context(flow),
    )


class _Metrics(HTMLParser):
    """data-metric -> data-value of every element that carries both."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.svgs = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-metric" in a:
            assert a["data-metric"] not in self.values, f"duplicate data-metric {a['data-metric']}"
            self.values[a["data-metric"]] = a.get("data-value") or ""
        if tag == "svg":
            assert a.get("role") == "img" and a.get("aria-label"), a
            self.svgs += 1


@pytest.fixture(scope="module")
def flow(built_company):
    return load_revenue_flow(built_company.warehouse)


@pytest.fixture(scope="module")
def db(built_company) -> Path:
    return built_company.warehouse


def test_as_of_is_the_marts_and_a_mismatch_is_an_error(built_company, flow):
    as_of = dt.date.fromisoformat(built_company.as_of)
    assert flow.as_of == as_of
    assert load_revenue_flow(built_company.warehouse, as_of).as_of == as_of
    with pytest.raises(ValueError, match="built as of"):
        load_revenue_flow(built_company.warehouse, as_of - dt.timedelta(days=1))


def test_velocity_from_the_snapshots_and_the_waterfall(db, flow):
    v = flow.velocity_latest
    assert v is not None and v.period_month == flow.as_of.replace(day=1)
    # open qualified pipeline at the as-of snapshot, from the snapshot fact itself
    count, amount = _q(
        db,
        """select count(*), sum(s.amount_reporting) from marts.fct_pipeline_snapshots s
           join marts.fct_opportunities o using (opportunity_id)
           where s.snapshot_date = ? and s.pipeline_status = 'Pipeline' and not o.is_deleted""",
        [flow.as_of],
    )[0]
    assert v.open_opportunity_count == count > 0 and v.open_pipeline_amount == _cents(amount)
    # the trailing twelve monthly waterfall rows
    won, lost, won_amount = _q(
        db,
        """select sum(won_count), sum(lost_count), sum(won_amount) from marts.rpt_pipeline_waterfall
           where period_type = 'month' and period_start > ? and period_start <= ?""",
        [dt.date(v.period_month.year - 1, v.period_month.month, 1), v.period_month],
    )[0]
    assert (v.won_count, v.lost_count, v.won_amount) == (won, lost, _cents(won_amount))
    assert v.win_rate_by_count == (Decimal(won) / Decimal(won + lost)).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    assert v.avg_deal_size == (won_amount / won).quantize(CENT, ROUND_HALF_UP)
    # the won-only cycle: the monthly averages of rpt_pipeline_performance weighted by won deals
    days_sum, deals = _q(
        db,
        """select sum(p.sales_cycle_avg_days * w.won_count), sum(w.won_count)
           from marts.rpt_pipeline_performance p join marts.rpt_pipeline_waterfall w using (period_type, period_start)
           where p.period_type = 'month' and p.sales_cycle_avg_days is not null
             and p.period_start > ? and p.period_start <= ?""",
        [dt.date(v.period_month.year - 1, v.period_month.month, 1), v.period_month],
    )[0]
    assert v.sales_cycle_avg_days == (Decimal(days_sum) / deals).quantize(CENT, ROUND_HALF_UP)
    expected = (count * v.win_rate_by_count * v.avg_deal_size / v.sales_cycle_avg_days).quantize(CENT, ROUND_HALF_UP)
    assert v.sales_velocity_per_day == expected > 0


def test_stage_and_cycle_times_equal_the_facts(db, flow):
    expected = dict(
        _q(
            db,
            """select stage_name, avg(days_in_stage) from marts.fct_opportunity_stage_history
               where not is_current and stage_name not in ('Closed Won', 'Closed Lost') group by stage_name""",
        )
    )
    assert {b.key: b.avg_days for b in flow.stage_times} == {
        k: Decimal(repr(a)).quantize(Decimal("0.1"), ROUND_HALF_UP) for k, a in expected.items()
    }
    assert len(expected) >= 3
    for bar in flow.cycle_steps:
        n, avg = _q(
            db, f"select count({bar.key}), avg({bar.key}) from marts.fct_lead_to_cash where not is_deleted"
        )[0]
        assert bar.count == n
        assert bar.avg_days == (None if avg is None else Decimal(repr(avg)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def test_pipeline_quarter_equals_the_marts_and_the_waterfall_balances(db, flow):
    q = flow.pipeline_quarter
    assert q is not None and q.period_start <= flow.as_of <= q.period_end
    row = _q(
        db,
        """select w.start_amount, w.created_amount, w.pulled_in_amount, w.amount_change, w.pushed_out_amount,
                  w.lost_amount, w.won_amount, w.end_amount, p.coverage_vs_prior_year_won, p.required_coverage,
                  p.win_rate_by_value, p.sales_cycle_median_days
           from marts.rpt_pipeline_waterfall w join marts.rpt_pipeline_performance p using (period_type, period_start)
           where w.period_type = 'quarter' and ? between w.period_start and w.period_end""",
        [flow.as_of],
    )
    assert len(row) == 1
    assert (
        q.start_amount, q.created_amount, q.pulled_in_amount, q.amount_change, q.pushed_out_amount,
        q.lost_amount, q.won_amount, q.end_amount, q.coverage_vs_prior_year_won, q.required_coverage,
        q.win_rate_by_value, q.sales_cycle_median_days,
    ) == row[0]
    assert q.start_amount > 0 and q.won_amount > 0
    assert len(flow.pipeline) == _one(db, "select count(*) from marts.rpt_pipeline_waterfall where period_type = 'quarter'")
    for p in flow.pipeline:  # start + in - out = end, to the cent
        assert (p.start_amount + p.created_amount + p.pulled_in_amount + p.amount_change
                - p.pushed_out_amount - p.lost_amount - p.won_amount) == p.end_amount, p.period_start
        assert p.amount_increase + p.amount_decrease == p.amount_change


def test_forecast_headline_equals_the_mart(db, flow):
    f = flow.forecast_headline
    assert f is not None and f.forecast_category == "Commit" and f.is_period_complete
    row = _q(
        db,
        """select period_start, forecast_amount, actual_amount, point_accuracy, bias, wape_to_date, bias_to_date
           from marts.rpt_forecast_accuracy
           where period_type = 'quarter' and forecast_category = 'Commit' and is_period_complete
           order by period_start desc limit 1""",
    )[0]
    assert (f.period_start, f.forecast_amount, f.actual_amount, f.point_accuracy, f.bias,
            f.wape_to_date, f.bias_to_date) == row
    # the stated definitions hold on the row: accuracy = max(0, 1 - |A - F| / A), bias = (F - A) / A
    a, fc = f.actual_amount, f.forecast_amount
    assert f.point_accuracy == max(Decimal(0), 1 - abs(a - fc) / a).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    assert f.bias == ((fc - a) / a).quantize(Decimal("0.000001"), ROUND_HALF_UP)


def test_bridge_totals_tie_to_the_ground_truth_and_the_facts(built_company, db, flow):
    totals = flow.bridge_totals()
    figures = built_company.truth["figures"]
    # bookings = every won deal (not deleted), at the close-date rate: the truth's won_amount
    assert totals["booked_amount"] == Decimal(figures["won_amount"])
    # collections = every receipt on the statements: the truth's collected_total
    assert totals["collected_amount"] == Decimal(figures["collected_total"])
    # billings leave cancelled invoices out; the truth's invoiced_total counts every live invoice
    cancelled = _cents(_one(db, "select sum(total_amount_reporting) from marts.fct_invoices "
                                "where not is_deleted and is_cancelled"))
    assert totals["invoiced_amount"] == Decimal(figures["invoiced_total"]) - cancelled
    assert totals["invoiced_amount"] == _cents(_one(
        db, "select sum(total_amount_reporting) from marts.fct_invoices where not is_deleted and not is_cancelled"))
    # the month's identities, and the last ending AR = open AR in fct_invoices
    for m in flow.bridge:
        assert m.booked_amount - m.booking_billing_variance == m.invoiced_amount
        assert m.invoiced_amount - m.ar_change - m.other_ar_movement + m.unapplied_cash_amount == m.collected_amount
    open_ar = _cents(_one(db, "select sum(outstanding_amount_reporting) from marts.fct_invoices "
                              "where not is_deleted and not is_cancelled"))
    assert flow.bridge[-1].ending_ar == open_ar
    assert totals["ar_change"] == open_ar  # AR starts at 0 in the first month
    by_month = dict(_q(db, """select date_trunc('month', close_date), sum(amount_reporting)
                              from marts.fct_opportunities where is_won and not is_deleted group by 1"""))
    assert {m.period_month: m.booked_amount for m in flow.bridge if m.booked_amount} == {
        (k.date() if isinstance(k, dt.datetime) else k): _cents(v) for k, v in by_month.items()
    }


def test_rendered_partial_carries_every_headline_figure(db, flow):
    html = render_page(flow)
    parsed = _Metrics()
    parsed.feed(html)
    got = parsed.values
    assert parsed.svgs == 6
    v, q, f, totals = flow.velocity_latest, flow.pipeline_quarter, flow.forecast_headline, flow.bridge_totals()
    velocity = _q(db, "select sales_velocity_per_day, open_opportunity_count, win_rate_by_count, avg_deal_size, "
                      "sales_cycle_avg_days from marts.rpt_revenue_velocity order by period_month desc limit 1")[0]
    expected = {
        "revenue.sales_velocity": velocity[0],
        "revenue.open_opportunities": velocity[1],
        "revenue.win_rate_by_count": velocity[2],
        "revenue.avg_deal_size": velocity[3],
        "revenue.sales_cycle_avg_days": velocity[4],
        "revenue.coverage": q.coverage_vs_prior_year_won,
        "revenue.required_coverage": q.required_coverage,
        "revenue.forecast_accuracy": f.point_accuracy,
        "revenue.forecast_bias": f.bias,
        "revenue.pipeline.start": q.start_amount,
        "revenue.pipeline.won": q.won_amount,
        "revenue.pipeline.end": q.end_amount,
    }
    bridge = _q(db, "select sum(booked_amount), sum(invoiced_amount), sum(collected_amount), "
                    "sum(booking_billing_variance), sum(ar_change), sum(other_ar_movement), "
                    "sum(unapplied_cash_amount) from marts.rpt_revenue_bridge")[0]
    for key, value in zip(("booked", "invoiced", "collected", "booking_billing_variance", "ar_change",
                           "other_ar_movement", "unapplied_cash"), bridge, strict=True):
        expected[f"revenue.bridge.{key}"] = _cents(value)
    for key, value in expected.items():
        assert got.get(key) == data_value(value), key
    # the waterfall's rows in the page balance too
    wf = {k.rsplit(".", 1)[1]: Decimal(v) for k, v in got.items() if k.startswith("revenue.pipeline.")}
    assert (wf["start"] + wf["created"] + wf["pulled_in"] + wf["amount_change"] - wf["pushed_out"]
            - wf["lost"] - wf["won"]) == wf["end"]
    assert Decimal(got["revenue.bridge.booked"]) == totals["booked_amount"]
    # labelled clocks and no personal data
    for label in ("as of " + flow.as_of.isoformat(), "snapshot t0", "period"):
        assert label in html
    assert not re.search(r"[\w.+-]+@[\w-]+\.[a-z]{2,}", html)


def test_charts_draw_and_fall_back():
    d = Decimal
    wf = waterfall_svg([("total", "Start", d("100")), ("delta", "Won", d("-40")), ("total", "End", d("60"))],
                       currency="USD", title="W <x>")
    assert wf.startswith("<svg") and 'role="img"' in wf and "<title>W &lt;x&gt;</title>" in wf and wf.count("<rect") >= 6
    fc = forecast_svg([("Q1 2025", d("10"), d("8"), d("12"), True), ("Q2 2025", d("5"), d("6"), d("9"), False)],
                      currency="USD", title="F")
    assert "<polyline" in fc and 'fill-opacity="0.5"' in fc
    bm = bridge_months_svg([(dt.date(2025, 1, 1), d("3"), d("2"), d("1"))], currency="USD", title="B")
    assert bm.count("<rect") >= 6
    bars = duration_bars_svg([("Prospecting", d("12.5"), 4), ("Contract → order", d("-3.0"), 2)], title="D")
    assert "12.5 d" in bars and "-3.0 d" in bars
    for empty in (waterfall_svg([], currency="USD", title="E"), forecast_svg([], currency="USD", title="E"),
                  bridge_months_svg([], currency="USD", title="E"), duration_bars_svg([], title="E")):
        assert 'role="img"' in empty and "No data" in empty


def test_empty_flow_renders_placeholders():
    from reports.revenue_flow import RevenueFlow

    empty = RevenueFlow(as_of=dt.date(2025, 12, 31), reporting_currency="USD", velocity=(), stage_times=(),
                        cycle_steps=(), pipeline=(), forecast=(), bridge=())
    html = render_page(empty)
    parsed = _Metrics()
    parsed.feed(html)
    assert parsed.svgs == 6 and html.count("No data for this period") == 6
    assert parsed.values["revenue.bridge.booked"] == "0.00" and "revenue.sales_velocity" not in parsed.values
    assert "No opportunities to measure yet." in html and "No complete quarter with a forecast yet." in html
