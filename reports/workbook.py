"""The finance workbook: every worklist of a report edition as one Excel sheet.

Finance reconciles in Excel: it sorts, filters, pivots and ticks rows off. The HTML reports show
the same worklists (reports/worklist.py), but a workbook lets finance work them with real types:
amounts are numbers (written with the exact digits of the `Decimal`, never through a float),
dates are Excel dates, counts are integers, and each sheet has a frozen bold header, an autofilter
and a totals row under the data (outside the filter range, so sorting and filtering never move
it) holding the exact totals of `Worklist.totals()` as values, not formulas, so they tie to the
marts whatever Excel recalculates.

A "Summary" sheet comes first: the title, the as-of date, the reporting currency, when it was
generated, and one row per worklist with its sheet, row count and totals.

The file is written atomically (a temporary file in the target folder, then `os.replace`) and is
deterministic: the same worklists and `generated_at` give the same bytes (the document properties
and every zip entry's timestamp are `generated_at`, not the time of writing). The workbook holds
nothing beyond what the worklists carry: no author, no personal data.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from reports.formatting import fmt_cell
from reports.worklist import Column, Worklist

SUMMARY_SHEET = "Summary"
MAX_SHEET_NAME = 31  # Excel's limit
# Characters Excel refuses in a sheet name; a name may also not start or end with an apostrophe.
_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
# "History" is reserved by Excel (change tracking); the summary's name is taken by the summary.
_RESERVED_SHEET_NAMES = {"history", SUMMARY_SHEET.lower()}

MONEY_FORMAT = "#,##0.00"
INT_FORMAT = "#,##0"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
PCT_FORMAT = "0.0%"
DAYS_FORMAT = "0"
DAYS_FRACTION_FORMAT = "0.0"

_MIN_WIDTH, _MAX_WIDTH = 8, 60  # column widths, in characters
_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_HEADER_ALIGNMENT = Alignment(wrap_text=False, vertical="bottom")


# ---------------------------------------------------------------------------------------------
# sheet names


def sheet_names(titles: Sequence[str]) -> list[str]:
    """Valid, unique (case-insensitively, as Excel compares them) sheet names for `titles`, in
    order: invalid characters become "-", at most 31 characters, duplicates get " (2)", " (3)"."""
    taken = set(_RESERVED_SHEET_NAMES)
    out = []
    for title in titles:
        base = _INVALID_SHEET_CHARS.sub("-", ILLEGAL_CHARACTERS_RE.sub("", title))
        base = " ".join(base.split()).strip("'").strip() or "Sheet"
        name, n = base[:MAX_SHEET_NAME].rstrip().rstrip("'"), 1
        while name.lower() in taken:
            n += 1
            suffix = f" ({n})"
            name = base[: MAX_SHEET_NAME - len(suffix)].rstrip().rstrip("'") + suffix
        taken.add(name.lower())
        out.append(name)
    return out


# ---------------------------------------------------------------------------------------------
# cells


def _text(value: Any) -> str:
    # openpyxl refuses control characters in strings; they carry nothing a reader needs
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def _excel_datetime(value: dt.datetime) -> dt.datetime:
    # Excel has no time zones: an aware datetime is written as its UTC wall time
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _number_format(kind: str, value: Any) -> str | None:
    if kind == "money":
        return MONEY_FORMAT
    if kind == "int":
        return INT_FORMAT
    if kind == "date":
        return DATETIME_FORMAT if isinstance(value, dt.datetime) else DATE_FORMAT
    if kind == "pct":
        return PCT_FORMAT
    if kind == "days":
        # whole days (an int) as such; a measured average (a Decimal) to one decimal, as in the HTML
        return DAYS_FORMAT if isinstance(value, int) else DAYS_FRACTION_FORMAT
    return None


def write_cell(sheet: Worksheet, row: int, col: int, value: Any, kind: str) -> None:
    """One value with its real Excel type and number format (None leaves the cell empty)."""
    if value is None:
        return
    cell = sheet.cell(row=row, column=col)
    if kind == "text" or isinstance(value, str):
        cell.value = _text(value)
        cell.data_type = "s"  # a name starting with "=" stays text, never becomes a formula
        return
    if isinstance(value, dt.datetime):
        cell.value = _excel_datetime(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} to {cell.coordinate}: not a finite number")
        # openpyxl writes a Decimal through "%.16g", i.e. through a float (9876543210.12 becomes
        # 9876543210.120001); a numeric cell holding the Decimal's own digits is written verbatim
        cell.value = format(value, "f")
        cell.data_type = "n"
    elif isinstance(value, (dt.date, int, float)):
        cell.value = value
    else:
        cell.value = _text(value)
        cell.data_type = "s"
        return
    number_format = _number_format(kind, value)
    if number_format:
        cell.number_format = number_format


def _width(column: Column, values: Sequence[Any], totals: dict[str, Decimal | int]) -> float:
    """A column width that fits the header and the longest formatted value, within bounds."""
    longest = len(column.label) + 2  # room for the autofilter's drop-down button
    for value in values:
        if value is not None:
            longest = max(longest, len(fmt_cell(value, column.kind)))
    if column.key in totals:
        longest = max(longest, len(fmt_cell(totals[column.key], column.kind)))
    return float(min(max(longest + 1, _MIN_WIDTH), _MAX_WIDTH))


# ---------------------------------------------------------------------------------------------
# sheets


def _worklist_sheet(sheet: Worksheet, worklist: Worklist) -> None:
    """Header (row 1, bold, frozen, filtered), the rows, then the totals row right under them."""
    columns = worklist.columns
    for c, column in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=c, value=_text(column.label))
        cell.data_type = "s"
        cell.font = _BOLD
        cell.alignment = _HEADER_ALIGNMENT
    for r, row in enumerate(worklist.rows, start=2):
        for c, (column, value) in enumerate(zip(columns, row), start=1):
            write_cell(sheet, r, c, value, column.kind)

    last_col = get_column_letter(max(len(columns), 1))
    last_data_row = 1 + len(worklist.rows)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{last_col}{last_data_row}"

    totals = worklist.totals()
    if totals:
        totals_row = last_data_row + 1
        label_col = next((c for c, col in enumerate(columns, start=1) if not col.total), None)
        if label_col is not None:
            cell = sheet.cell(row=totals_row, column=label_col, value="Total")
            cell.font = _BOLD
        for c, column in enumerate(columns, start=1):
            if column.key in totals:
                write_cell(sheet, totals_row, c, totals[column.key], column.kind)
                sheet.cell(row=totals_row, column=c).font = _BOLD

    for c, column in enumerate(columns, start=1):
        values = [row[c - 1] for row in worklist.rows]
        sheet.column_dimensions[get_column_letter(c)].width = _width(column, values, totals)


def _summary_sheet(sheet: Worksheet, worklists: Sequence[Worklist], names: Sequence[str], *,
                   title: str, as_of: dt.date, currency: str, generated_at: dt.datetime) -> None:
    sheet.cell(row=1, column=1, value=_text(title)).font = _TITLE
    facts: tuple[tuple[str, Any, str], ...] = (
        ("As of", as_of, "date"),
        ("Reporting currency", currency, "text"),
        ("Generated at (UTC)" if generated_at.tzinfo else "Generated at", generated_at, "date"),
    )
    for r, (label, value, kind) in enumerate(facts, start=3):
        sheet.cell(row=r, column=1, value=label).font = _BOLD
        write_cell(sheet, r, 2, value, kind)

    header_row = 3 + len(facts) + 1
    width = max((len(w.totals()) for w in worklists), default=0)
    header = ["Sheet", "Worklist", "Source", "Rows"] + ["Total", "Value"] * width
    for c, label in enumerate(header, start=1):
        sheet.cell(row=header_row, column=c, value=label).font = _BOLD
    for r, (worklist, name) in enumerate(zip(worklists, names), start=header_row + 1):
        write_cell(sheet, r, 1, name, "text")
        link = sheet.cell(row=r, column=1)
        # an internal link (a location, not a URL); an apostrophe in the name is doubled
        link.hyperlink = Hyperlink(ref=link.coordinate, location="'{}'!A1".format(name.replace("'", "''")))
        link.style = "Hyperlink"
        write_cell(sheet, r, 2, worklist.title, "text")
        write_cell(sheet, r, 3, worklist.source, "text")
        write_cell(sheet, r, 4, len(worklist.rows), "int")
        labels = {column.key: column for column in worklist.columns}
        for i, (key, total) in enumerate(worklist.totals().items()):
            write_cell(sheet, r, 5 + 2 * i, labels[key].label, "text")
            write_cell(sheet, r, 6 + 2 * i, total, labels[key].kind)
    widths = [max(len(n) for n in names) if names else 10, 40, 34, 8] + [28, 18] * width
    for c, w in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(c)].width = float(min(max(w + 2, _MIN_WIDTH), _MAX_WIDTH))
    sheet.column_dimensions["A"].width = max(sheet.column_dimensions["A"].width, 22.0)


def build_workbook(worklists: Sequence[Worklist], *, title: str, as_of: dt.date, currency: str,
                   generated_at: dt.datetime) -> Workbook:
    """The workbook in memory: the Summary sheet, then one sheet per worklist, in order."""
    book = Workbook()
    summary = book.active
    summary.title = SUMMARY_SHEET
    names = sheet_names([w.title for w in worklists])
    _summary_sheet(summary, worklists, names, title=title, as_of=as_of, currency=currency,
                   generated_at=generated_at)
    for worklist, name in zip(worklists, names):
        _worklist_sheet(book.create_sheet(name), worklist)

    # document properties: the title and the generation time only (openpyxl would otherwise stamp
    # "openpyxl" as the creator and the wall-clock time as created/modified)
    stamp = _excel_datetime(generated_at)
    book.properties.title = _text(title)
    book.properties.creator = None
    book.properties.created = stamp
    book.properties.modified = stamp
    return book


# ---------------------------------------------------------------------------------------------
# writing


def _workbook_bytes(book: Workbook, stamp: dt.datetime) -> bytes:
    """The .xlsx bytes, with every zip entry dated `stamp` so equal input gives equal bytes."""
    raw = io.BytesIO()
    # ExcelWriter rather than Workbook.save, which would reset the "modified" property to now
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(book, archive).save()
    date_time = (max(stamp.year, 1980), stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, source.read(info.filename))
    return out.getvalue()


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a published workbook is there to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_workbook(path: Path, worklists: Sequence[Worklist], *, title: str, as_of: dt.date,
                   currency: str, generated_at: dt.datetime) -> Path:
    """Write the finance workbook of `worklists` to `path` (atomically); returns `path`."""
    book = build_workbook(worklists, title=title, as_of=as_of, currency=currency,
                          generated_at=generated_at)
    _write_bytes_atomic(path, _workbook_bytes(book, _excel_datetime(generated_at)))
    return path
