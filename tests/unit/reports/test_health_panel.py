"""The LTC health panel's rendering pieces (reports/health_panel.py, charts.small_multiple_svg):
one small chart per measure whose points carry the exact figures, a line broken where a month has
no figure, changes formatted in the measure's unit and judged against its good direction, and
every user-facing string in one place."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from reports.charts import small_multiple_svg
from reports.health_panel import MEASURES, TEXT, HealthMonth, HealthPanel, health_panel_context


def _month(i: int) -> dt.date:
    return dt.date(2024 + (i // 12), i % 12 + 1, 1)


def test_points_carry_exact_values_and_the_line_breaks_at_a_gap():
    points = [(_month(0), 0.5, "0.500000"), (_month(1), None, ""), (_month(2), 0.75, "0.750000"),
              (_month(3), 0.8, "0.800000")]
    svg = str(small_multiple_svg(points, title="Forecast accuracy", metric="forecast_accuracy", scale_max=1.0))
    assert re.findall(r'data-month="([^"]+)" data-value="([^"]+)"', svg) == [
        ("2024-01-01", "0.500000"), ("2024-03-01", "0.750000"), ("2024-04-01", "0.800000")]
    assert svg.count("<polyline") == 1  # Jan alone, then Mar-Apr: one segment of two points
    assert 'data-chart="forecast_accuracy"' in svg and 'role="img"' in svg


def test_a_measure_without_any_figure_draws_the_placeholder():
    svg = str(small_multiple_svg([(_month(0), None, "")], title="t", metric="m"))
    assert "No data" in svg and "<circle" not in svg


def _panel() -> HealthPanel:
    months = []
    for i in range(13):
        values = {m: None for m in MEASURES}
        values.update(forecast_accuracy=Decimal("0.5") + Decimal(i) / 100, overdue_ar=Decimal(1000 - 10 * i),
                      on_time_collection_rate=Decimal("0.8"), work_without_signed_contract_count=2,
                      work_without_signed_contract_amount=Decimal("300.00"))
        yoy = {m: None for m in MEASURES}
        since = {m: (None if i == 0 else Decimal(0)) for m in MEASURES}
        if i == 12:
            yoy.update(forecast_accuracy=Decimal("0.12"), overdue_ar=Decimal("-120.00"))
            since.update(forecast_accuracy=Decimal("0.12"), overdue_ar=Decimal("-120.00"))
        months.append(HealthMonth(_month(i), values, yoy, since))
    return HealthPanel(as_of=dt.date(2025, 1, 31), reporting_currency="USD", months=tuple(months))


def test_cards_state_latest_and_changes_in_the_measures_unit():
    context = health_panel_context(_panel())
    cards = {c["metric"]: c for c in context["cards"]}
    assert list(cards) == list(MEASURES)
    fa, overdue = cards["forecast_accuracy"], cards["overdue_ar"]
    assert (fa["latest"], fa["yoy"], fa["yoy_raw"], fa["yoy_assessment"]) == ("62.0%", "+12.0 pp", "0.12", "good")
    assert (overdue["yoy"], overdue["yoy_assessment"]) == ("-120.00", "good")  # down is good for overdue
    assert overdue["label"] == "Overdue receivables (USD)"
    assert cards["on_time_collection_rate"]["yoy"] == TEXT["no_figure"]
    assert "Jan 2024" in fa["first_label"] and "Jan 2025" in fa["latest_label"]
    assert str(fa["chart"]).count("<circle") == 13


def test_every_measure_has_its_strings():
    for spec in MEASURES.values():
        assert {"label", "definition", "clock", "source", "kind", "up_is_good"} <= set(spec)
        assert spec["kind"] in ("pct", "money", "int")
