"""One edition of the reports: every file for one as-of date, built together, published at once.

An edition holds the executive report (HTML, and PDF when Chromium is there), the cash-collection
report, the contract-to-receipt reconciliation and the finance workbook (one sheet per worklist).
They are built into a staging folder and published by `reports.publish.publish_edition`, so a
reader sees the previous complete edition or the new complete one, and a failed build leaves the
last good edition alone. Mailing is a separate step (`mail_edition`): a mail server that is down
must not unpublish anything.

Plain Python: the Dagster report assets and `ltc report` call `publish_reports` and `mail_edition`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.collector import collector_paused
from reports.collection import collection_worklists, load_collection, render_collection
from reports.datasets import read_as_of
from reports.html import build_html_report, read_report_metrics
from reports.i18n import N_, _, check_locale, current, using
from reports.pdf import PdfError, PdfUnavailable, print_pdf
from reports.publish import Edition, list_editions, publish_edition
from reports.formatting import fmt_money, write_atomic
from reports.reconciliation import load_reconciliation, reconciliation_worklists, render_reconciliation
from reports.warehouse import reporting_warehouse, warehouse_as_of
from reports.workbook import write_workbook

if TYPE_CHECKING:
    from connectors.settings import Settings

log = logging.getLogger(__name__)

EXECUTIVE = "ltc_report"
WORKBOOK = "finance_worklists"
# The executive figures a mail's summary shows, in this order, with their labels.
SUMMARY_FIGURES: tuple[tuple[str, str], ...] = (
    ("won_amount", N_("Booked (won amount)")),
    ("invoiced_total", N_("Billed")),
    ("collected_total", N_("Collected")),
    ("on_time_collection_rate", N_("On-time collection rate")),
    ("dso_days", N_("DSO (days)")),
    ("overdue_ar", N_("Overdue AR")),
)


@dataclass(frozen=True)
class EditionBuild:
    """What `build_edition` wrote, and what it could not (a PDF without Chromium)."""

    files: tuple[Path, ...]
    skipped: tuple[str, ...]


def executive_report(edition_dir: Path) -> Path | None:
    found = sorted(Path(edition_dir).glob(f"{EXECUTIVE}_*.html"))
    return found[-1] if found else None


def _write_page(path: Path, html: str) -> Path:
    write_atomic(path, html)
    return path


def build_edition(duckdb_path: Path, out_dir: Path, *, as_of: dt.date | None = None,
                  generated_at: dt.datetime | None = None, pdf: bool = True,
                  locale: str | None = None) -> EditionBuild:
    """Write every file of one edition into `out_dir` (a staging folder); return them. `locale`
    (reports/i18n.py: en, zh_CN; default: the current one) is the language of every file."""
    with using(locale or current()), collector_paused():
        return _build_edition(duckdb_path, out_dir, as_of=as_of, generated_at=generated_at, pdf=pdf)


def _build_edition(duckdb_path: Path, out_dir: Path, *, as_of: dt.date | None,
                   generated_at: dt.datetime | None, pdf: bool) -> EditionBuild:
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    executive = build_html_report(duckdb_path, out_dir, as_of=as_of, generated_at=generated_at)
    # Chromium prints the executive page while this process builds the rest: the print is another
    # process, and this thread only waits on it (1M leads, incremental run: the PDF took 1.36 s of
    # the reports' 8.1 s, the workbook and the finance pages 5 s of one core)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ltc-pdf") as printer:
        printing = printer.submit(print_pdf, executive, executive.with_suffix(".pdf")) if pdf else None
        files = [executive, *_finance_files(duckdb_path, out_dir, as_of=as_of, generated_at=generated_at)]
        skipped = []
        if printing is not None:
            try:
                files.append(printing.result())
            except (PdfUnavailable, PdfError) as exc:
                # the PDF is the optional format: a missing or broken Chromium must not keep the
                # HTML and the workbook from finance (the run's log and `skipped` say why)
                log.warning("no PDF of the executive report in this edition: %s", exc)
                skipped.append(f"PDF: {exc}")
    return EditionBuild(files=tuple(files), skipped=tuple(skipped))


def _finance_files(duckdb_path: Path, out_dir: Path, *, as_of: dt.date | None,
                   generated_at: dt.datetime) -> list[Path]:
    """The cash-collection and contract-reconciliation pages and the finance workbook."""
    # each dataset is read once: the page and the workbook sheets show the same read of the marts
    collection = load_collection(duckdb_path, as_of)
    reconciliation = load_reconciliation(duckdb_path, as_of)
    as_of = collection.as_of
    # ... and each worklist is built once: the page's tables and the workbook's sheets are the same
    # rows (the reconciliation's took 0.46 CPU seconds at 1M leads, 0.2 s now, and were built twice)
    collection_lists = collection_worklists(collection)
    reconciliation_lists = reconciliation_worklists(reconciliation)
    return [
        _write_page(out_dir / f"cash_collection_{as_of.isoformat()}.html",
                    render_collection(collection, generated_at=generated_at, worklists=collection_lists)),
        _write_page(out_dir / f"contract_reconciliation_{as_of.isoformat()}.html",
                    render_reconciliation(reconciliation, generated_at=generated_at,
                                          worklists=reconciliation_lists)),
        write_workbook(
            out_dir / f"{WORKBOOK}_{as_of.isoformat()}.xlsx",
            [*collection_lists, *reconciliation_lists],
            title=_("Finance worklists as of %(date)s") % {"date": as_of.isoformat()}, as_of=as_of,
            currency=collection.reporting_currency, generated_at=generated_at),
    ]


def publish_reports(settings: "Settings", *, run_id: str | None = None,
                    generated_at: dt.datetime | None = None) -> Edition:
    """Build the edition of the warehouse's as-of date and publish it under `reports_dir`."""
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    with using(check_locale(settings.locale)), reporting_warehouse(settings) as warehouse:  # a Postgres warehouse: a DuckDB copy of its marts
        as_of = read_as_of(warehouse, settings.as_of)

        def build(staging: Path) -> Sequence[Path]:
            return build_edition(warehouse, staging, as_of=as_of, generated_at=generated_at).files

        return publish_edition(settings.reports_dir, as_of, build, generated_at=generated_at, run_id=run_id)


def mail_summary(edition_dir: Path) -> list[tuple[str, str]]:
    """The executive headline figures of an edition, as (label, value) lines for a mail body."""
    report = executive_report(edition_dir)
    metrics = read_report_metrics(report) if report else {}
    lines = []
    for name, label in SUMMARY_FIGURES:
        value = metrics.get(name)
        if not value:
            continue
        number = Decimal(value)
        if name == "on_time_collection_rate":
            lines.append((_(label), f"{number * 100:.1f} %"))
        elif name == "dso_days":
            lines.append((_(label), f"{number:.1f}"))
        else:
            lines.append((_(label), fmt_money(number)))
    return lines


def published_edition(settings: "Settings") -> Edition:
    """The published edition of the warehouse's as-of date: what this run's `reports/edition`
    published (not `latest`, which a backfill of an older date leaves where it was)."""
    as_of = warehouse_as_of(settings)  # DuckDB or Postgres (reports/warehouse.py)
    for edition in list_editions(settings.reports_dir):
        if edition.as_of == as_of:
            return edition
    raise LookupError(f"no edition as of {as_of.isoformat()} in {settings.reports_dir}: publish it first (ltc report)")


def mail_edition(settings: "Settings", edition: Edition) -> bool:
    """Mail the edition's summary and files when report mail is configured; True when sent.

    Everything is read from the edition's real folder, resolved once: `reports/<as-of>` is a link
    that a publish of the same date may move while the mail is composed."""
    from reports.mail import mail_report

    folder = edition.path.resolve()
    with using(check_locale(settings.locale)):  # the subject, the summary and the body's words
        return mail_report(
            settings,
            subject=_("Lead-to-cash reports as of %(date)s") % {"date": edition.as_of.isoformat()},
            summary=[(_("As of"), edition.as_of.isoformat()), *mail_summary(folder)],
            attachments=[folder / f.name for f in edition.files if f.suffix in (".html", ".xlsx", ".pdf")],
            links=[str(edition.path)],
        )
