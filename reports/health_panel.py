"""The LTC health panel at the top of the executive report (issue 10).

Why: FanRuan's LTC case judges a company by four movements over time (forecast accuracy, on-time
collection, overdue receivables, work started without a signed contract), so the panel shows each
measure as a small chart over the months, with its definition beside it and its change against
the same month a year earlier and against the first month on record. Every figure is a column of
`marts.rpt_ltc_health` (the changes included): this module only selects them.

Every user-facing string of the panel is in `TEXT` and `MEASURES` below, in one place, so that
the panel can be translated (issue 10 item 3) without touching the code that draws it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from markupsafe import Markup

from reports.charts import compact, small_multiple_svg
from reports.datasets import read_only, resolve_as_of, to_date, to_decimal
from reports.formatting import data_value, fmt_days, fmt_int, fmt_money, fmt_month, fmt_pct
from reports.i18n import N_, _

# ---------------------------------------------------------------------------------------------
# Every user-facing string of the panel (translate here)

TEXT = {
    "heading": N_("LTC health"),
    "hint": N_("four measures of lead-to-cash discipline, month by month to {as_of}"),
    "caption": N_("After FanRuan's LTC case: forecast accuracy, on-time collection, overdue receivables and work "
                "started without a signed contract. Each small chart is one measure over the months on its own "
                "scale (rates on 0–100 %); a dotted line marks each January."),
    "latest": N_("Latest ({month})"),
    "vs_year": N_("vs a year earlier"),
    "vs_first": N_("vs first month ({month})"),
    "no_figure": N_("no figure"),
    "clock": N_("Clock"),
    "source": N_("Source"),
    "chart_title": N_("{label} by month, {first} – {last}"),
    "empty": N_("no months on record"),
}

# metric key (the mart column) -> label, definition, clock, kind (pct, money, int), up is good
MEASURES: dict[str, dict] = {
    "forecast_accuracy": {
        "label": N_("Forecast accuracy"),
        "definition": N_("Commit forecast frozen at the start of the month (F) against what those deals won with a "
                       "close date in the month (A): max(0, 1 − |A − F| ÷ A). Empty when nothing was won."),
        "clock": N_("snapshot at each month's t0, outcome at the month end"),
        "source": "rpt_forecast_accuracy.point_accuracy (Commit, month)",
        "kind": "pct", "up_is_good": True,
    },
    "on_time_collection_rate": {
        "label": N_("On-time collection"),
        "definition": N_("Value received on or before the due date ÷ value falling due in the month (by value)."),
        "clock": N_("period: receivables due in the month"),
        "source": "rpt_cash_collection.on_time_collection_rate",
        "kind": "pct", "up_is_good": True,
    },
    "overdue_ar": {
        "label": N_("Overdue receivables"),
        "definition": N_("Open balance of invoices past their due date, after the cash applied by the month end."),
        "clock": N_("as of each month end"),
        "source": "rpt_cash_collection.overdue_ar",
        "kind": "money", "up_is_good": False,
    },
    "work_without_signed_contract_amount": {
        "label": N_("Work without a signed contract"),
        "definition": N_("Orders booked (or shipped) in the month with no contract, or before their contract was "
                       "signed (back-signing): their net amount."),
        "clock": N_("period: detected in the month"),
        "source": "fct_reconciliation_exceptions ('order without signed contract')",
        "kind": "money", "up_is_good": False,
    },
    "work_without_signed_contract_count": {
        "label": N_("Orders without a signed contract"),
        "definition": N_("The number of those orders."),
        "clock": N_("period: detected in the month"),
        "source": "fct_reconciliation_exceptions ('order without signed contract')",
        "kind": "int", "up_is_good": False,
    },
}

SOURCE_MART = "rpt_ltc_health"


@dataclass(frozen=True)
class HealthMonth:
    period_month: dt.date
    values: dict[str, Decimal | int | None]
    change_yoy: dict[str, Decimal | int | None]
    change_since_first: dict[str, Decimal | int | None]


@dataclass(frozen=True)
class HealthPanel:
    as_of: dt.date
    reporting_currency: str
    months: tuple[HealthMonth, ...]


def load_health_panel(duckdb_path: Path | str, as_of: dt.date | None = None) -> HealthPanel:
    """The panel's months up to the as-of date, read from rpt_ltc_health through one read-only
    connection (a date the mart was not built for raises ValueError)."""
    columns = [c for m in MEASURES for c in (m, f"{m}_change_yoy", f"{m}_change_since_first")]
    with read_only(duckdb_path) as con:
        day = resolve_as_of(con, (SOURCE_MART,), as_of)
        rows = con.execute(
            f"select period_month, reporting_currency, {', '.join(columns)} from marts.{SOURCE_MART} "
            "where period_month <= ? order by period_month", [day]).fetchall()
    months = []
    currency = rows[0][1] if rows else ""
    for row in rows:
        cells = dict(zip(columns, row[2:]))

        def value(name: str) -> Decimal | int | None:
            v = cells[name]
            return None if v is None else int(v) if name.startswith("work_without_signed_contract_count") \
                else to_decimal(v)

        months.append(HealthMonth(
            period_month=to_date(row[0]),
            values={m: value(m) for m in MEASURES},
            change_yoy={m: value(f"{m}_change_yoy") for m in MEASURES},
            change_since_first={m: value(f"{m}_change_since_first") for m in MEASURES},
        ))
    return HealthPanel(as_of=day, reporting_currency=currency, months=tuple(months))


def _fmt(kind: str, value: Decimal | int | None, *, signed: bool = False) -> str:
    if value is None:
        return _(TEXT["no_figure"])
    sign = "+" if signed and value > 0 else ""
    if kind == "pct":  # changes of rates are percentage points
        return _("%(change)s pp") % {"change": sign + fmt_days(value * 100)} if signed else fmt_pct(value)  # type: ignore[operator]
    if kind == "money":
        return sign + fmt_money(value)  # type: ignore[arg-type]
    return sign + fmt_int(value)  # type: ignore[arg-type]


def _assessment(value: Decimal | int | None, up_is_good: bool) -> str:
    if value is None or value == 0:
        return "neutral"
    return "good" if (value > 0) == up_is_good else "bad"


def health_panel_context(panel: HealthPanel) -> dict:
    """What the template shows: one card per measure with its small chart, latest value, changes and
    definition; every figure also as an exact data attribute."""
    months = panel.months
    cards = []
    for metric, spec in MEASURES.items():
        kind = spec["kind"]
        series = [(m.period_month, m.values[metric]) for m in months]
        with_value = [m for m in months if m.values[metric] is not None]
        latest = with_value[-1] if with_value else None
        first = with_value[0] if with_value else None
        label = _(spec["label"]) + (f" ({panel.reporting_currency})" if kind == "money" else "")
        title = _(TEXT["chart_title"]).format(
            label=label, first=fmt_month(months[0].period_month), last=fmt_month(months[-1].period_month),
        ) if months else _(TEXT["empty"])
        chart = small_multiple_svg(
            [(month, None if v is None else float(v), data_value(v)) for month, v in series],
            title=title, metric=metric, scale_max=1.0 if kind == "pct" else None,
            axis_label=(lambda v: f"{v * 100:.0f}%") if kind == "pct" else compact,
        )
        yoy = latest.change_yoy[metric] if latest else None
        since = latest.change_since_first[metric] if latest else None
        cards.append({
            "metric": metric,
            "label": label,
            "definition": _(spec["definition"]),
            "clock": _(spec["clock"]),
            "source": spec["source"],
            "chart": Markup(chart),
            "latest_label": _(TEXT["latest"]).format(month=fmt_month(latest.period_month)) if latest else "",
            "latest": _fmt(kind, latest.values[metric] if latest else None),
            "latest_raw": data_value(latest.values[metric]) if latest else "",
            "latest_month": latest.period_month.isoformat() if latest else "",
            "yoy": _fmt(kind, yoy, signed=True),
            "yoy_raw": data_value(yoy),
            "yoy_assessment": _assessment(yoy, spec["up_is_good"]),
            "first_label": _(TEXT["vs_first"]).format(month=fmt_month(first.period_month)) if first else "",
            "since_first": _fmt(kind, since, signed=True),
            "since_first_raw": data_value(since),
            "since_first_assessment": _assessment(since, spec["up_is_good"]),
            "up_is_good": spec["up_is_good"],
        })
    text = {key: _(value) for key, value in TEXT.items()}  # in the current locale
    return {"text": text, "hint": text["hint"].format(as_of=panel.as_of.isoformat()), "cards": cards}
