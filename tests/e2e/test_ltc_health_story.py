"""The LTC health panel shows the improvement the sandbox planted (issue 10, "Tests for the panel
against the planted story").

`ltc sandbox generate --story improving` (connectors/sandbox/story.py) writes two years in which the
company adopts LTC discipline on 2025-01-01, and puts the planted figures in ground_truth.json
under `story`: the four measures per month, computed by the generator from its own entities. This
builds that company end to end (generate → real connectors → dbt build), renders the executive
report and reads the panel *as rendered* (each small chart's points carry the exact figure), then
checks it against the planted figures:

- the panel's points are rpt_ltc_health's rows (the page shows the mart);
- forecast accuracy and work without a signed contract (count and amount) equal the planted
  figures month by month: the mart and the generator apply the same definition to the same deals
  and orders;
- on-time collection and overdue receivables read the books, which differ from the truth where
  cash application cannot apply a receipt (the planted wrong / missing remittance references leave
  cash unapplied and the invoice open), so these are compared as movements: the second year
  against the first, in the planted direction and within a stated share of the planted size.

Before/after windows: forecast accuracy, on-time collection and work without a signed contract
compare the mean of the second year's months with the first year's. Overdue receivables is a
stock that starts at zero with the company (its first months have no receivables yet), so it
compares the second half of each year (2024H2 before, 2025H2 after), free of that ramp-up.

About 25 s on 2 cores (3,000 leads over two years, built once for the module).
"""

from __future__ import annotations

import datetime as dt
import statistics
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from sandbox_company import build_company
from connectors.marts_file import connect_warehouse
from reports.html import build_html_report

pytestmark = pytest.mark.slow

SEED, SCALE = 11, 3000
ADOPTION = dt.date(2025, 1, 1)
# tolerances, stated once: the measured change (after - before) must have the planted sign and be
# within this share of the planted change's size; per-month equality within these absolutes
MOVEMENT_SHARE = {"on_time_collection_rate": Decimal("0.25"), "overdue_ar": Decimal("0.6")}
ACCURACY_ABS = Decimal("0.000001")
AMOUNT_ABS = Decimal("0.01")


class _Panel(HTMLParser):
    """Every point of every small chart in the health panel: metric -> {month: exact value}."""

    def __init__(self) -> None:
        super().__init__()
        self.series: dict[str, dict[dt.date, Decimal]] = {}
        self.cards: dict[str, dict[str, str]] = {}
        self._chart: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div" and "health-card" in (a.get("class") or ""):
            self.cards[a["data-metric"]] = a
        if tag == "svg" and a.get("data-chart"):
            self._chart = a["data-chart"]
            self.series[self._chart] = {}
        elif tag == "circle" and self._chart and a.get("data-month"):
            self.series[self._chart][dt.date.fromisoformat(a["data-month"])] = Decimal(a["data-value"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart = None


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    return build_company(tmp_path_factory.mktemp("improving"), seed=SEED, scale=SCALE, story="improving")


@pytest.fixture(scope="module")
def panel(company, tmp_path_factory) -> _Panel:
    path = build_html_report(company.warehouse, tmp_path_factory.mktemp("report"))
    parsed = _Panel()
    parsed.feed(path.read_text(encoding="utf-8"))
    return parsed


@pytest.fixture(scope="module")
def planted(company) -> dict[str, dict[dt.date, Decimal | None]]:
    story = company.truth["story"]
    assert story["adoption_date"] == ADOPTION.isoformat()
    out: dict[str, dict[dt.date, Decimal | None]] = {}
    for month, figures in story["monthly"].items():
        for name, value in figures.items():
            out.setdefault(name, {})[dt.date.fromisoformat(month)] = None if value is None else Decimal(str(value))
    return out


def _mean(series: dict[dt.date, Decimal | None], first: dt.date, last: dt.date) -> Decimal:
    values = [v for m, v in series.items() if first <= m <= last and v is not None]
    assert values, (first, last)
    return Decimal(statistics.fmean(values)).quantize(Decimal("0.000001"))


YEAR_1 = (dt.date(2024, 1, 1), dt.date(2024, 12, 1))
YEAR_2 = (dt.date(2025, 1, 1), dt.date(2025, 12, 1))
H2_1 = (dt.date(2024, 7, 1), dt.date(2024, 12, 1))
H2_2 = (dt.date(2025, 7, 1), dt.date(2025, 12, 1))


def test_the_company_spans_two_years(company):
    assert company.truth["period_start"] == "2024-01-01" and company.as_of == "2025-12-31"
    assert len(company.truth["story"]["monthly"]) == 24


def test_the_panel_shows_the_mart(company, panel):
    con = connect_warehouse(company.warehouse, read_only=True)
    try:
        rows = con.execute("select period_month, forecast_accuracy, on_time_collection_rate, overdue_ar, "
                           "work_without_signed_contract_count, work_without_signed_contract_amount "
                           "from marts.rpt_ltc_health order by period_month").fetchall()
    finally:
        con.close()
    names = ("forecast_accuracy", "on_time_collection_rate", "overdue_ar", "work_without_signed_contract_count",
             "work_without_signed_contract_amount")
    assert set(panel.series) == set(names)
    for i, name in enumerate(names, start=1):
        expected = {r[0]: Decimal(r[i]) for r in rows if r[i] is not None}
        assert panel.series[name] == expected, name
    assert dt.date(2024, 1, 1) <= rows[0][0] < ADOPTION and rows[-1][0] == dt.date(2025, 12, 1)


def test_forecast_accuracy_is_the_planted_one_month_by_month(panel, planted):
    shown, truth = panel.series["forecast_accuracy"], planted["forecast_accuracy"]
    assert set(shown) == {m for m, v in truth.items() if v is not None}
    for month, value in shown.items():
        assert abs(value - truth[month]) <= ACCURACY_ABS, (month, value, truth[month])


def test_work_without_a_signed_contract_is_the_planted_one_month_by_month(panel, planted):
    for name in ("work_without_signed_contract_count", "work_without_signed_contract_amount"):
        shown = panel.series[name]
        truth = {m: v for m, v in planted[name].items() if m in shown}
        assert set(truth) == set(shown), name
        for month, value in shown.items():
            assert abs(value - truth[month]) <= AMOUNT_ABS, (name, month, value, truth[month])
        # nothing planted in a month the panel leaves out
        assert all(not v for m, v in planted[name].items() if m not in shown), name


@pytest.mark.parametrize("name, windows, better", [
    ("forecast_accuracy", (YEAR_1, YEAR_2), "up"),
    ("on_time_collection_rate", (YEAR_1, YEAR_2), "up"),
    ("overdue_ar", (H2_1, H2_2), "down"),
    ("work_without_signed_contract_count", (YEAR_1, YEAR_2), "down"),
    ("work_without_signed_contract_amount", (YEAR_1, YEAR_2), "down"),
])
def test_the_panel_shows_the_planted_improvement(panel, planted, name, windows, better):
    before, after = windows
    planted_change = _mean(planted[name], *after) - _mean(planted[name], *before)
    shown_change = _mean(panel.series[name], *after) - _mean(panel.series[name], *before)
    sign = 1 if better == "up" else -1
    assert sign * planted_change > 0, f"{name}: the story planted no improvement ({planted_change})"
    assert sign * shown_change > 0, f"{name}: the panel shows no improvement ({shown_change}, planted {planted_change})"
    share = MOVEMENT_SHARE.get(name, Decimal("0.000001"))
    assert abs(shown_change - planted_change) <= share * abs(planted_change), (name, shown_change, planted_change)


def test_the_cards_state_the_change_against_a_year_earlier(company, panel):
    """The December 2025 card's change against a year earlier is the mart's; for the panel's
    count and amount it is also what the planted figures give."""
    con = connect_warehouse(company.warehouse, read_only=True)
    try:
        row = con.execute("select work_without_signed_contract_count_change_yoy, overdue_ar_change_yoy "
                          "from marts.rpt_ltc_health where period_month = date '2025-12-01'").fetchone()
    finally:
        con.close()
    assert Decimal(panel.cards["work_without_signed_contract_count"]["data-change-yoy"]) == row[0]
    assert Decimal(panel.cards["overdue_ar"]["data-change-yoy"]) == row[1]
    story = company.truth["story"]["monthly"]
    assert row[0] == story["2025-12-01"]["work_without_signed_contract_count"] - \
        story["2024-12-01"]["work_without_signed_contract_count"]
