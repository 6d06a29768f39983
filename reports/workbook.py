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

The package (styles, workbook, document properties, the Summary sheet, each sheet's columns,
frozen pane and autofilter) is written by XlsxWriter; the cells of the worklist sheets, which grow
with the company, are serialised here straight to SpreadsheetML rows and spliced into those
sheets. Measured on the 159k cells of a 100k-lead edition (median of 3, CPU seconds on a busy
2-core machine): openpyxl, which builds a styled cell object per value, took 5.2 s; XlsxWriter's
own per-cell writers alone take 2.0 s (only 2.6x faster); this module takes 0.5 s
(0.2 s the rows, 0.15 s the column widths, 0.15 s compressing). The entries are deflated at zlib's
fastest level (`ZIP_LEVEL`): on the 74 MB of sheet XML of a 1M-lead edition, level 1 took 0.33 s
against 0.97 s at zlib's default (6), for a file of 11.6 MB instead of 9.1. Text is only ever
written as text (an inline string, and XlsxWriter's strings-to-formulas/URLs/numbers conversions
off): a customer named "=HYPERLINK(...)" stays a name, never a formula.

The file is written atomically (a temporary file in the target folder, then `os.replace`) and is
deterministic: the same worklists and `generated_at` give the same bytes (the document properties
and every zip entry's timestamp are `generated_at`, not the time of writing). The workbook holds
nothing beyond what the worklists carry: no author (the creator is empty), no personal data.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any

from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from reports.formatting import fmt_cell, fmt_column, label_words
from reports.i18n import N_, _
from reports.worklist import TEXT_KINDS, Column, Worklist

SUMMARY_SHEET = N_("Summary")  # its name in the workbook's language: _(SUMMARY_SHEET)
MAX_SHEET_NAME = 31  # Excel's limit
# Characters Excel refuses in a sheet name; a name may also not start or end with an apostrophe.
_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
# Control characters XML 1.0 cannot carry (openpyxl's ILLEGAL_CHARACTERS_RE); they carry nothing
# a reader needs, so they are dropped from every string.
_ILLEGAL_CHARACTERS = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
# "History" is reserved by Excel (change tracking); the summary's name is taken by the summary.
_RESERVED_SHEET_NAMES = {"history", SUMMARY_SHEET.lower(), "摘要"}

MONEY_FORMAT = "#,##0.00"
INT_FORMAT = "#,##0"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
PCT_FORMAT = "0.0%"
DAYS_FORMAT = "0"
DAYS_FRACTION_FORMAT = "0.0"

_MIN_WIDTH, _MAX_WIDTH = 8, 60  # column widths, in characters
_PIXELS_PER_CHARACTER = 7  # the default font's digit width: how XlsxWriter turns pixels into widths
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # day 0 of Excel's (1900) date system
_NUMERIC = (Decimal, int, float, dt.date)


# ---------------------------------------------------------------------------------------------
# sheet names


def sheet_names(titles: Sequence[str]) -> list[str]:
    """Valid, unique (case-insensitively, as Excel compares them) sheet names for `titles`, in
    order: invalid characters become "-", at most 31 characters, duplicates get " (2)", " (3)"."""
    taken = set(_RESERVED_SHEET_NAMES)
    out = []
    for title in titles:
        base = _INVALID_SHEET_CHARS.sub("-", _ILLEGAL_CHARACTERS.sub("", title))
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
# values


def _text(value: Any) -> str:
    return _ILLEGAL_CHARACTERS.sub("", str(value))


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


def _is_text(value: Any, kind: str) -> bool:
    """Whether a value is written as a string: every value of a text column, and anything that is
    neither a number nor a date (a bool is an int to Python, a TRUE/FALSE cell to Excel)."""
    return kind in TEXT_KINDS or not isinstance(value, _NUMERIC)


def _finite(value: Decimal | float, where: str) -> None:
    if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
        raise ValueError(f"cannot write {value} to {where}: not a finite number")


def _excel_serial(value: dt.date) -> str:
    """A date (or datetime) as Excel's serial day number, as written in a cell's <v>: whole days
    since 1899-12-30, with Excel's phantom 1900-02-29 (serials up to 60 are one day less)."""
    moment = _excel_datetime(value) if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
    delta = moment - _EXCEL_EPOCH
    days = delta.days - 1 if 0 < delta.days <= 60 else delta.days
    if not (delta.seconds or delta.microseconds):
        return str(days)
    return repr(days + (delta.seconds + delta.microseconds / 1e6) / 86400)


def _number_text(value: Decimal | int | float, where: str) -> str:
    """The exact digits of a number: a Decimal's own (9876543210.12 stays "9876543210.12", never
    passing through a float), an int's, a float's shortest round trip."""
    if isinstance(value, Decimal):
        _finite(value, where)
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    _finite(value, where)
    return repr(value)


# ---------------------------------------------------------------------------------------------
# styles


class _Styles:
    """One XlsxWriter format per (number format, bold, size), made on first use: cells share
    them, as Excel stores them (a few styles, not one per cell). `attr` is the style attribute of
    a cell written here, ' s="N"' with XlsxWriter's index of that format ("" for the default)."""

    def __init__(self, book: Workbook) -> None:
        self._book = book
        self._formats: dict[tuple[str | None, bool, int | None], Format | None] = {(None, False, None): None}
        self._attrs: dict[tuple[str | None, bool], str] = {(None, False): ""}

    def format(self, number_format: str | None = None, *, bold: bool = False,
               size: int | None = None) -> Format | None:
        key = (number_format, bold, size)
        if key not in self._formats:
            properties: dict[str, Any] = {"num_format": number_format, "bold": bold, "font_size": size}
            self._formats[key] = self._book.add_format({k: v for k, v in properties.items() if v})
        return self._formats[key]

    def attr(self, number_format: str | None, bold: bool = False) -> str:
        key = (number_format, bold)
        if key not in self._attrs:
            # the index XlsxWriter gives the format (and exports it under) in styles.xml
            self._attrs[key] = f' s="{self.format(number_format, bold=bold)._get_xf_index()}"'
        return self._attrs[key]


# ---------------------------------------------------------------------------------------------
# worklist rows, serialised here (the bulk of the workbook)


def _escape(text: str) -> str:
    # a bare carriage return would read back as a line feed (XML normalises line ends)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _cell_xml(ref: str, value: Any, kind: str, styles: _Styles, bold: bool = False) -> str:
    """One <c> element with the value's real type and number format ("" for an empty cell)."""
    if _is_text(value, kind):
        text = _text(value)
        if not text:  # an empty string is an empty cell
            return ""
        space = ' xml:space="preserve"' if text != text.strip() else ""
        # an inline string: text, never a formula (a name starting with "=" stays a name)
        return f'<c r="{ref}"{styles.attr(None, bold)} t="inlineStr"><is><t{space}>{_escape(text)}</t></is></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}"{styles.attr(None, bold)} t="b"><v>{int(value)}</v></c>'
    number = _excel_serial(value) if isinstance(value, dt.date) else _number_text(value, ref)
    return f'<c r="{ref}"{styles.attr(_number_format(kind, value), bold)}><v>{number}</v></c>'


def _row_xml(r: int, cells: Sequence[tuple[str, Any, str]], styles: _Styles, bold: bool = False) -> str:
    """Row `r` (1-based) of (column letter, value, kind) cells; "" when every cell is empty."""
    xml = "".join(_cell_xml(f"{letter}{r}", value, kind, styles, bold)
                  for letter, value, kind in cells if value is not None)
    return f'<row r="{r}">{xml}</row>' if xml else ""


# A string that can go into <t> as it is: no control character, nothing to escape, no leading or
# trailing whitespace to preserve.
_PLAIN_TEXT = re.compile(r"[^\000-\037&<>\s](?:[^\000-\010\013-\037&<>]*[^\000-\037&<>\s])?")
_SERIAL_ORDINAL = _EXCEL_EPOCH.toordinal()
# Rows written a column at a time, a block of them at a time: the cells of a whole 116k-row sheet
# at once (1.1M strings) cost more in memory traffic than the per-cell calls they save
_BLOCK = 1024


def _column_cells(letter: str, kind: str, values: Sequence[Any], numbers: Sequence[str],
                  styles: _Styles) -> list[str]:
    """The <c> of every value of one column, row by row ("" for an empty one), as `_cell_xml`
    writes them. The values of a column are nearly always of the column's own type (a str in a
    text column, a Decimal or int in a number column, a date in a date column); those take a
    short path with the column's style worked out once, anything else goes through `_cell_xml`.

    Why a column at a time: one comprehension per column instead of a function call per cell.
    At 1M leads (116k rows, 1.1M cells; CPU seconds, median of 5) the rows took 0.84 s through a
    per-cell encoder, 0.60 s so (in blocks of `_BLOCK` rows; 0.84 s again with a whole sheet at
    once). Through `_cell_xml` alone they took twice the encoder's time."""
    prefix = f'<c r="{letter}'

    def other(row: str, value: Any) -> str:
        return "" if value is None else _cell_xml(letter + row, value, kind, styles)

    if kind in TEXT_KINDS:
        plain = _PLAIN_TEXT.fullmatch
        style = styles.attr(None)
        if kind == "label":  # a mart's status or type word in the reader's language
            words = label_words(values)
            values = [words[value] if value.__class__ is str else value for value in values]
        return [f'{prefix}{row}"{style} t="inlineStr"><is><t>{value}</t></is></c>'
                if value.__class__ is str and plain(value) else other(row, value)
                for row, value in zip(numbers, values)]

    if kind == "date":
        date_style = styles.attr(DATE_FORMAT)
        # serials up to 60 (Excel's phantom 1900-02-29) go the long way
        return [f'{prefix}{row}"{date_style}><v>{serial}</v></c>'
                if value.__class__ is dt.date and (serial := value.toordinal() - _SERIAL_ORDINAL) > 60
                else other(row, value)
                for row, value in zip(numbers, values)]

    decimal_style, int_style = styles.attr(_number_format(kind, Decimal(0))), styles.attr(_number_format(kind, 0))
    return [f'{prefix}{row}"{decimal_style}><v>{value:f}</v></c>'
            if value.__class__ is Decimal and value.is_finite() else
            f'{prefix}{row}"{int_style}><v>{value}</v></c>' if value.__class__ is int else other(row, value)
            for row, value in zip(numbers, values)]


def _sheet_data(worklist: Worklist, totals: dict[str, Decimal | int],
                styles: _Styles) -> tuple[str, str, list[list[Any]]]:
    """The header (bold), the rows and the totals row (bold, right under the rows) of a worklist
    sheet as a <sheetData> element, the sheet's dimension (the range they cover), and each
    column's widest values (`_widest_values`, for `_width`).

    The rows are written in blocks of `_BLOCK`, a column at a time within a block
    (`_column_cells`), and the widest values are picked block by block too: while a block's
    values are at hand, not in passes of their own over a whole 116k-row sheet (at 1M leads the
    widths took 0.51 CPU seconds so, 0.18 s this way: a pass over 116k scattered values costs
    more in memory traffic than in the work it does)."""
    columns = worklist.columns
    letters = [xl_col_to_name(c) for c in range(len(columns))]
    parts = [_row_xml(1, [(letter, column.label, "text") for letter, column in zip(letters, columns)],
                      styles, bold=True)]
    widest: list[list[Any]] = [[] for _column in columns]
    rows = worklist.rows
    for start in range(0, len(rows), _BLOCK):
        block = rows[start:start + _BLOCK]
        numbers = [str(r) for r in range(start + 2, start + 2 + len(block))]
        cells = []
        for c, (letter, column) in enumerate(zip(letters, columns)):
            values = list(map(itemgetter(c), block))
            cells.append(_column_cells(letter, column.kind, values, numbers, styles))
            widest[c] += _widest_values(values, column.kind)
        for number, row in zip(numbers, zip(*cells)):
            if xml := "".join(row):  # a row of empty cells is no row
                parts.append(f'<row r="{number}">{xml}</row>')
    last_row = 1 + len(worklist.rows)
    if totals:
        last_row += 1
        label_col = next((c for c, col in enumerate(columns) if not col.total), None)
        cells = [(letter, _("Total"), "text") if c == label_col else (letter, totals.get(column.key), column.kind)
                 for c, (letter, column) in enumerate(zip(letters, columns))]
        parts.append(_row_xml(last_row, cells, styles, bold=True))
    xml = f"<sheetData>{''.join(parts)}</sheetData>"
    return xml, f"A1:{letters[-1] if letters else 'A'}{last_row}", widest


def _widest_values(values: list[Any], kind: str) -> list[Any]:
    """The value of `values` (in a list; empty when all are None) whose formatted form is the
    longest: the widest of a column is the widest of its blocks' widest."""
    candidates = _widest_candidates([value for value in values if value is not None], kind)
    if not candidates:
        return []
    lengths = list(map(len, fmt_column(candidates, kind)))
    return [candidates[lengths.index(max(lengths))]]


def _width(column: Column, values: Sequence[Any], totals: dict[str, Decimal | int]) -> float:
    """A column width that fits the header and the longest formatted value, within bounds."""
    longest = len(column.label) + 2  # room for the autofilter's drop-down button
    present = _widest_candidates([value for value in values if value is not None], column.kind)
    longest = max(longest, max(map(len, fmt_column(present, column.kind)), default=0))
    if column.key in totals:
        longest = max(longest, len(fmt_cell(totals[column.key], column.kind)))
    return float(min(max(longest + 1, _MIN_WIDTH), _MAX_WIDTH))


def _widest_candidates(values: list[Any], kind: str) -> list[Any]:
    """The values among which the longest formatted one is. In a column of numbers of one type it
    is the largest or the smallest where the kind formats it with a fixed number of decimals: that
    never makes a number of larger magnitude shorter (a minus sign only adds). In a column of
    dates (not datetimes) every value is 10 characters long (the ISO form pads the year to four
    digits). Formatting every cell of a 116,000-row sheet for its width cost 8.6 s of a 1M-lead
    edition (stop 21); text and mixed columns are still measured cell by cell (`fmt_column`)."""
    classes = set(map(type, values))
    if kind == "date" and classes == {dt.date}:
        return [min(values), max(values)]
    fixed = kind in ("money", "pct", "days") or (kind == "int" and classes == {int})  # formatting.fmt_cell
    if fixed and (classes == {int} or (classes == {Decimal} and all(map(Decimal.is_finite, values)))):
        return [min(values), max(values)]
    return values


def _set_width(sheet: Worksheet, col: int, width: float) -> None:
    # Set in pixels: XlsxWriter's set_column(width=w) stores w plus the cell padding (41 becomes
    # 41.7109375); in pixels the stored width is exactly `width`, as openpyxl stored it
    sheet.set_column_pixels(col, col, round(width * _PIXELS_PER_CHARACTER))


def _worklist_sheet(sheet: Worksheet, worklist: Worklist, totals: dict[str, Decimal | int],
                    styles: _Styles) -> tuple[str, str]:
    """The sheet's frame in XlsxWriter (frozen header, autofilter over header and rows, widths);
    returns its <sheetData> and dimension, spliced in by `_package`."""
    columns = worklist.columns
    xml, dimension, widest = _sheet_data(worklist, totals, styles)  # first: it refuses a NaN or an infinity
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, len(worklist.rows), max(len(columns), 1) - 1)  # the totals row stays out
    for c, (column, values) in enumerate(zip(columns, widest)):
        _set_width(sheet, c, _width(column, values, totals))
    return xml, dimension


# ---------------------------------------------------------------------------------------------
# the summary, written by XlsxWriter (a few dozen cells)


def write_cell(sheet: Worksheet, row: int, col: int, value: Any, kind: str, styles: _Styles, *,
               bold: bool = False) -> None:
    """One value through XlsxWriter, typed as `_cell_xml` types it (None leaves the cell empty);
    `row` and `col` count from 0, as in XlsxWriter."""
    if value is None:
        return
    where = f"{sheet.name}!{xl_col_to_name(col)}{row + 1}"
    if _is_text(value, kind):
        if text := _text(value):
            status = sheet.write_string(row, col, text, styles.format(bold=bold))  # never a formula
        else:
            return
    elif isinstance(value, bool):
        status = sheet.write_boolean(row, col, value, styles.format(bold=bold))
    elif isinstance(value, dt.date):
        status = sheet.write_datetime(row, col, _excel_datetime(value) if isinstance(value, dt.datetime) else value,
                                      styles.format(_number_format(kind, value), bold=bold))
    else:
        _number_text(value, where)  # refuses a NaN or an infinity
        # XlsxWriter writes f"{number:.16G}": a Decimal's own digits up to 16 of them
        status = sheet.write_number(row, col, value, styles.format(_number_format(kind, value), bold=bold))
    if status == -1:
        raise ValueError(f"cannot write {where}: outside the sheet")


def _summary_sheet(sheet: Worksheet, worklists: Sequence[Worklist], names: Sequence[str],
                   totals: Sequence[dict[str, Decimal | int]], styles: _Styles, *, title: str,
                   as_of: dt.date, currency: str, generated_at: dt.datetime) -> None:
    sheet.write_string(0, 0, _text(title), styles.format(bold=True, size=14))
    facts: tuple[tuple[str, Any, str], ...] = (
        (_("As of"), as_of, "date"),
        (_("Reporting currency"), currency, "text"),
        (_("Generated at (UTC)") if generated_at.tzinfo else _("Generated at"), generated_at, "date"),
    )
    for r, (label, value, kind) in enumerate(facts, start=2):
        write_cell(sheet, r, 0, label, "text", styles, bold=True)
        write_cell(sheet, r, 1, value, kind, styles)

    header_row = 2 + len(facts) + 1
    width = max((len(t) for t in totals), default=0)
    header = [_("Sheet"), _("Worklist"), _("Source"), _("Rows")] + [_("Total"), _("Value")] * width
    for c, label in enumerate(header):
        write_cell(sheet, header_row, c, label, "text", styles, bold=True)
    for r, (worklist, name, sums) in enumerate(zip(worklists, names, totals), start=header_row + 1):
        # an internal link (a location, not a URL) in Excel's "Hyperlink" style; an apostrophe
        # in the name is doubled
        sheet.write_url(r, 0, "internal:'{}'!A1".format(name.replace("'", "''")), string=name)
        write_cell(sheet, r, 1, worklist.title, "text", styles)
        write_cell(sheet, r, 2, worklist.source, "text", styles)
        write_cell(sheet, r, 3, len(worklist.rows), "int", styles)
        labels = {column.key: column for column in worklist.columns}
        for i, (key, total) in enumerate(sums.items()):
            write_cell(sheet, r, 4 + 2 * i, labels[key].label, "text", styles)
            write_cell(sheet, r, 5 + 2 * i, total, labels[key].kind, styles)
    widths = [max(len(n) for n in names) if names else 10, 40, 34, 8] + [28, 18] * width
    for c, w in enumerate(widths):
        fitted = float(min(max(w + 2, _MIN_WIDTH), _MAX_WIDTH))
        _set_width(sheet, c, max(fitted, 22.0) if c == 0 else fitted)


# ---------------------------------------------------------------------------------------------
# writing


_EMPTY_SHEET_DATA = "<sheetData/>"
_DIMENSION = re.compile(r'<dimension ref="[^"]*"/>')


def _splice(xml: str, sheet_data: str, dimension: str) -> str:
    """A worklist sheet as XlsxWriter wrote it (no cells), with its rows and dimension put in."""
    if xml.count(_EMPTY_SHEET_DATA) != 1 or len(_DIMENSION.findall(xml)) != 1:
        raise RuntimeError("unexpected worksheet XML from XlsxWriter: cannot place the rows")
    xml = _DIMENSION.sub(f'<dimension ref="{dimension}"/>', xml)
    return xml.replace(_EMPTY_SHEET_DATA, sheet_data)


# zlib's fastest level: see the module docstring (any level reads the same in every spreadsheet)
ZIP_LEVEL = 1


def _package(skeleton: bytes, sheet_data: dict[str, tuple[str, str]], stamp: dt.datetime) -> bytes:
    """XlsxWriter's package with the worklist rows spliced into their sheets, every zip entry
    dated `stamp` (XlsxWriter dates them 1980-01-01) so equal input gives equal bytes."""
    date_time = (max(stamp.year, 1980), stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(skeleton)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename in sheet_data:
                data = _splice(data.decode("utf-8"), *sheet_data.pop(info.filename)).encode("utf-8")
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, data, compresslevel=ZIP_LEVEL)
    if sheet_data:
        raise RuntimeError(f"no worksheet {sorted(sheet_data)} in XlsxWriter's package")
    return out.getvalue()


def workbook_bytes(worklists: Sequence[Worklist], *, title: str, as_of: dt.date, currency: str,
                   generated_at: dt.datetime) -> bytes:
    """The .xlsx bytes: the Summary sheet, then one sheet per worklist, in order."""
    skeleton = io.BytesIO()
    book = Workbook(skeleton, {
        "in_memory": True,  # the package without the rows is small: no temporary files
        # text is text: no "=..." string turned into a formula, no URL into a link, no "12" into
        # a number (write_string does none of these either; this guards any other write)
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
    })
    styles = _Styles(book)
    names = sheet_names([w.title for w in worklists])
    totals = [w.totals() for w in worklists]
    _summary_sheet(book.add_worksheet(_(SUMMARY_SHEET)), worklists, names, totals, styles, title=title,
                   as_of=as_of, currency=currency, generated_at=generated_at)
    sheet_data = {}
    for index, (worklist, name, sums) in enumerate(zip(worklists, names, totals), start=2):
        # XlsxWriter names the parts in the order the sheets are added: the Summary is sheet1
        sheet = book.add_worksheet(name)
        sheet_data[f"xl/worksheets/sheet{index}.xml"] = _worklist_sheet(sheet, worklist, sums, styles)
    # document properties: the title and the generation time only; the creator stays empty
    stamp = _excel_datetime(generated_at)
    book.set_properties({"title": _text(title), "created": stamp})
    book.close()
    return _package(skeleton.getvalue(), sheet_data, stamp)


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
    data = workbook_bytes(worklists, title=title, as_of=as_of, currency=currency,
                          generated_at=generated_at)
    _write_bytes_atomic(path, data)
    return path
