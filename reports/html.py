"""The executive lead-to-cash report: one self-contained HTML file per as-of date.

The file has no external resources (no CDN, fonts, scripts or images): CSS is inline and the
charts are inline SVG drawn in Python, so it opens offline and prints cleanly. Every headline
tile carries ``data-metric`` / ``data-value`` attributes with the exact figure, so tests and the
acceptance check read the numbers without scraping formatted text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

from reports.charts import cash_svg, funnel_svg
from reports.datasets import STAGES, CashMonth, FunnelRow, ReportData, load_report_data
from reports.formatting import (  # noqa: F401 - data_value and the fmt_* are this module's API too
    DASH, data_value, environment, fmt_date_long, fmt_days, fmt_int, fmt_money, fmt_month, fmt_pct,
    write_atomic,
)

if TYPE_CHECKING:
    from connectors.settings import Settings

TEMPLATE = "ltc_report.html.j2"


@dataclass(frozen=True)
class Tile:
    metric: str
    label: str
    value: str
    unit: str
    raw: str
    note: str


@dataclass(frozen=True)
class MatrixRow:
    month: dt.date
    cells: tuple[tuple[int, float], ...]  # (journeys, intensity 0..1) per stage
    total_first: int
    last_share: Decimal | None


def _tiles(data: ReportData) -> tuple[list[Tile], list[Tile]]:
    h = data.headline
    cur = data.reporting_currency
    conv_rate = (
        (Decimal(h.converted_leads) / Decimal(h.leads)) if h.leads else None
    )
    pipeline = [
        Tile("leads", "Leads", fmt_int(h.leads), "", data_value(h.leads),
             "Non-deleted leads, duplicates included"),
        Tile("converted_leads", "Converted leads", fmt_int(h.converted_leads), "",
             data_value(h.converted_leads), f"{fmt_pct(conv_rate)} of leads"),
        Tile("won_opportunities", "Won opportunities", fmt_int(h.won_opportunities), "",
             data_value(h.won_opportunities), "Closed Won, non-deleted"),
        Tile("won_amount", "Won amount", fmt_money(h.won_amount), cur, data_value(h.won_amount),
             "Bookings at the close-date rate"),
    ]
    cash = [
        Tile("invoiced_total", "Invoiced", fmt_money(h.invoiced_total), cur,
             data_value(h.invoiced_total), "Non-deleted invoices, at issue-date rate"),
        Tile("collected_total", "Collected", fmt_money(h.collected_total), cur,
             data_value(h.collected_total), "All customer receipts, matched or not"),
        Tile("on_time_collection_rate", "On-time collection", fmt_pct(h.on_time_collection_rate),
             "", data_value(h.on_time_collection_rate),
             "Value paid by due date ÷ value due, period to date"),
        Tile("dso_days", "DSO", fmt_days(h.dso_days), "days" if h.dso_days is not None else "",
             data_value(h.dso_days), f"{fmt_month(data.as_of)}, ending AR ÷ month's invoicing"),
        Tile("overdue_ar", "Overdue AR", fmt_money(h.overdue_ar), cur, data_value(h.overdue_ar),
             f"Open balance past due as of {data.as_of.isoformat()}"),
    ]
    return pipeline, cash


def _matrix(rows: tuple[FunnelRow, ...]) -> tuple[list[tuple[str, str]], list[MatrixRow]]:
    """Month × stage journeys, with a shading intensity relative to the month's S1."""
    names = dict(STAGES)
    stage_keys: dict[str, int] = {}
    for r in rows:
        stage_keys.setdefault(r.stage_code, r.stage_order)
        if r.step_name:
            names[r.stage_code] = r.step_name
    for i, (code, _) in enumerate(STAGES, start=1):
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


def render_html(data: ReportData, *, generated_at: dt.datetime) -> str:
    """The report as an HTML string (pure: no I/O)."""
    pipeline_tiles, cash_tiles = _tiles(data)
    cohort_stages = data.cohort_stages
    period_stages = data.period_stages
    stage_header, cohort_matrix = _matrix(data.funnel_cohort)
    _, period_matrix = _matrix(data.funnel_period)
    cash: tuple[CashMonth, ...] = data.cash_collection
    months = [m.period_month for m in cash] or [r.period_month for r in data.funnel_cohort]
    period_label = (
        f"{fmt_month(min(months))} – {fmt_month(max(months))}" if months else "no activity"
    )
    context = {
        "title": "Lead-to-cash report",
        "as_of": data.as_of,
        "as_of_iso": data.as_of.isoformat(),
        "as_of_long": fmt_date_long(data.as_of),
        "period_label": period_label,
        "currency": data.reporting_currency,
        "generated_at": generated_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "pipeline_tiles": pipeline_tiles,
        "cash_tiles": cash_tiles,
        "funnel_chart": funnel_svg(
            cohort_stages, title=f"Cohort funnel S1 to S6, journeys started {period_label}"
        ),
        "cohort_stages": cohort_stages,
        "period_stages": period_stages,
        "stage_header": stage_header,
        "cohort_matrix": cohort_matrix,
        "period_matrix": period_matrix,
        "cash_chart": cash_svg(
            cash,
            currency=data.reporting_currency,
            title=f"Invoiced vs collected by month, {data.reporting_currency}",
        ),
        "cash": cash,
    }
    return environment().get_template(TEMPLATE).render(**context)


def build_html_report(
    duckdb_path: Path,
    out_dir: Path,
    *,
    as_of: dt.date | None = None,
    generated_at: dt.datetime | None = None,
) -> Path:
    """Write ``ltc_report_<as_of>.html`` (and a copy ``latest.html``) into `out_dir`.

    Reads the marts through one short-lived read-only connection. `as_of` defaults to the
    marts' as-of date; a different date than the marts were built for is an error. Files are
    written atomically (temp file + rename), so a reader never sees half a report.
    """
    data = load_report_data(duckdb_path, as_of)
    html = render_html(data, generated_at=generated_at or dt.datetime.now(dt.timezone.utc))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"ltc_report_{data.as_of.isoformat()}.html"
    write_atomic(path, html)
    write_atomic(out_dir / "latest.html", html)
    return path


def publish_report(settings: "Settings | None" = None) -> Path:
    """Build the report from the configured warehouse into ``$LTC_HOME/reports``."""
    if settings is None:
        from connectors.settings import Settings

        settings = Settings.from_env()
    return build_html_report(settings.duckdb_path, settings.reports_dir, as_of=settings.as_of)


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
