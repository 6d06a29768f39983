"""The finance workbook, read back with openpyxl as Excel would read it.

The worklists are built here by hand (Decimal money, dates, None cells, titles longer than Excel's
31 characters, duplicate titles), so every expected figure is the test's own arithmetic.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from reports import workbook as workbook_module
from reports.workbook import sheet_names, write_workbook
from reports.worklist import Column, Worklist

AS_OF = dt.date(2026, 6, 30)
GENERATED_AT = dt.datetime(2026, 7, 1, 6, 30, 15, tzinfo=dt.timezone.utc)
FORMULA_LIKE = '=HYPERLINK("http://evil.example","click")'  # a customer name must stay text

OVERDUE = Worklist(
    key="overdue",
    title="Overdue invoices: customers to chase this week",  # 46 characters, and a ":"
    description="One open invoice past its due date.",
    columns=(
        Column("customer", "Customer"),
        Column("invoice", "Invoice"),
        Column("due_date", "Due date", "date"),
        Column("days_overdue", "Days overdue", "int"),
        Column("outstanding", "Outstanding (USD)", "money", total=True),
        Column("open_invoices", "Open invoices", "int", total=True),
        Column("share", "Share of overdue", "pct"),
        Column("avg_days", "Average days late", "days"),
        Column("owner", "Owner"),
    ),
    rows=(
        ("Acme Corporation International Holdings", "INV-1001", dt.date(2026, 5, 1), 60,
         Decimal("9876543210.12"), 3, Decimal("0.5125"), Decimal("12.5"), "Dana"),
        (FORMULA_LIKE, "INV-1002", dt.date(2026, 6, 15), 15, Decimal("-20.05"), None, None, 7, None),
        ("Globex", None, None, None, None, 1, Decimal("0.1"), None, "Sam"),
        ("Initech", "INV-1004", dt.date(2026, 1, 31), 150, Decimal("0.10"), 2, Decimal("1"),
         Decimal("40.0"), "Dana"),
    ),
    source="marts.fct_invoices",
)


def _unapplied(key: str, amount: Decimal) -> Worklist:
    return Worklist(
        key=key, title="Unapplied cash", description="A receipt not applied to an invoice.",
        columns=(Column("receipt", "Receipt"), Column("received", "Received on", "date"),
                 Column("amount", "Amount (USD)", "money", total=True)),
        rows=(("R-1", dt.date(2026, 6, 1), amount), ("R-2", dt.date(2026, 6, 2), Decimal("0.01"))),
        source="marts.fct_payments",
    )


EMPTY = Worklist(
    key="no_contract", title="Invoices without a signed contract or order",  # 43 characters
    description="An invoice with no contract.",
    columns=(Column("invoice", "Invoice"), Column("amount", "Amount (USD)", "money", total=True)),
    rows=(), source="marts.fct_reconciliation_exceptions",
)
SAME_LONG_TITLE = Worklist(
    key="no_contract_2", title="Invoices without a signed contract or order",
    description="The same title twice.",
    columns=(Column("invoice", "Invoice"),), rows=(("INV-9",),), source="marts.fct_invoices",
)

WORKLISTS = (OVERDUE, _unapplied("unapplied", Decimal("1500.00")), _unapplied("unapplied_2", Decimal("2.50")),
             EMPTY, SAME_LONG_TITLE)
# Worked out by hand from the titles: ":" is invalid in a sheet name, 31 characters at most,
# duplicates numbered (the number fits inside the 31).
EXPECTED_SHEETS = [
    "Summary",
    "Overdue invoices- customers to",  # cut at 31, then the trailing space dropped
    "Unapplied cash",
    "Unapplied cash (2)",
    "Invoices without a signed contr",
    "Invoices without a signed c (2)",
]


def _write(tmp_path: Path, name: str = "finance.xlsx", **overrides) -> Path:
    kwargs = dict(title="Finance worklists", as_of=AS_OF, currency="USD", generated_at=GENERATED_AT)
    kwargs.update(overrides)
    return write_workbook(tmp_path / name, WORKLISTS, **kwargs)


@pytest.fixture
def book(tmp_path: Path):
    return load_workbook(_write(tmp_path))


def _money(value) -> Decimal:
    """A number read back from the sheet, as the Decimal it stands for (to the cent)."""
    assert isinstance(value, (int, float)) and not isinstance(value, bool), value
    return Decimal(repr(value)).quantize(Decimal("0.01"))


def test_sheet_names_are_valid_unique_and_at_most_31_characters(book):
    assert book.sheetnames == EXPECTED_SHEETS
    assert all(len(name) <= 31 for name in book.sheetnames)


def test_sheet_names_avoid_reserved_names_and_case_insensitive_duplicates():
    assert sheet_names(["Summary", "history", "A/B", "a-b", "'quoted'", "   "]) == [
        "Summary (2)", "history (2)", "A-B", "a-b (2)", "quoted", "Sheet"]


def test_each_sheet_has_a_bold_frozen_header_and_an_autofilter_over_header_and_data(book):
    for worklist, name in zip(WORKLISTS, EXPECTED_SHEETS[1:]):
        sheet = book[name]
        header = [sheet.cell(row=1, column=c + 1) for c in range(len(worklist.columns))]
        assert [cell.value for cell in header] == [column.label for column in worklist.columns]
        assert all(cell.font.bold for cell in header)
        assert sheet.freeze_panes == "A2"
        last_col = "ABCDEFGHI"[len(worklist.columns) - 1]
        assert sheet.auto_filter.ref == f"A1:{last_col}{1 + len(worklist.rows)}"


def test_cells_have_real_types_and_number_formats(book):
    sheet = book[EXPECTED_SHEETS[1]]
    rows = list(sheet.iter_rows(min_row=2, max_row=1 + len(OVERDUE.rows)))
    for cells, expected in zip(rows, OVERDUE.rows):
        for cell, column, value in zip(cells, OVERDUE.columns, expected):
            if value is None:
                assert cell.value is None, (cell.coordinate, cell.value)
                continue
            if column.kind == "date":
                assert isinstance(cell.value, dt.datetime) and cell.value.date() == value
                assert cell.number_format == "yyyy-mm-dd"
            elif column.kind == "money":
                assert _money(cell.value) == value and cell.number_format == "#,##0.00"
            elif column.kind == "int":
                assert cell.value == value and isinstance(cell.value, int) and cell.number_format == "#,##0"
            elif column.kind == "pct":
                assert Decimal(repr(cell.value)) == value and cell.number_format == "0.0%"
            elif column.kind == "days":
                assert Decimal(repr(cell.value)) == value
                assert cell.number_format == ("0" if isinstance(value, int) else "0.0")
            else:
                assert cell.value == value and cell.data_type == "s"
    # the formula-like customer name is text, not a formula
    assert sheet["A3"].value == FORMULA_LIKE and sheet["A3"].data_type == "s"


def test_money_is_written_with_the_decimals_exact_digits(tmp_path: Path):
    path = _write(tmp_path)
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet2.xml").decode()
    assert "<v>9876543210.12</v>" in xml and "<v>-20.05</v>" in xml


def test_the_totals_row_sits_under_the_data_outside_the_filter_and_holds_the_exact_totals(book):
    for worklist, name in zip(WORKLISTS, EXPECTED_SHEETS[1:]):
        sheet = book[name]
        totals_row = 2 + len(worklist.rows)
        expected = worklist.totals()
        # the test's own sums agree with Worklist.totals()
        for key, total in expected.items():
            values = [v for v in worklist.values(key) if v is not None]
            assert total == sum(values, Decimal("0.00") if isinstance(total, Decimal) else 0)
        assert int(sheet.auto_filter.ref.split(":")[1][1:]) == totals_row - 1
        for c, column in enumerate(worklist.columns, start=1):
            cell = sheet.cell(row=totals_row, column=c)
            if column.key in expected:
                got = _money(cell.value) if column.kind == "money" else cell.value
                assert got == expected[column.key], (name, column.key)
                assert cell.font.bold
        if not expected:
            assert all(cell.value is None for cell in sheet[totals_row])
    overdue = book[EXPECTED_SHEETS[1]]
    assert overdue.cell(row=6, column=1).value == "Total"
    # 9876543210.12 - 20.05 + 0.10
    assert _money(overdue.cell(row=6, column=5).value) == Decimal("9876543190.17")
    assert overdue.cell(row=6, column=6).value == 6
    assert _money(book[EXPECTED_SHEETS[4]].cell(row=2, column=2).value) == Decimal("0.00")  # empty list: 0


def test_column_widths_fit_the_content_within_bounds(book):
    sheet = book[EXPECTED_SHEETS[1]]
    widths = {c: sheet.column_dimensions[c].width for c in "ABCDEFGHI"}
    assert all(8 <= w <= 60 for w in widths.values())
    assert widths["A"] >= len("Acme Corporation International Holdings")
    assert widths["A"] > widths["B"]


def test_the_summary_sheet_lists_every_worklist_with_rows_and_totals(book):
    summary = book["Summary"]
    facts = {summary.cell(row=r, column=1).value: summary.cell(row=r, column=2) for r in range(1, 7)}
    assert summary["A1"].value == "Finance worklists"
    assert facts["As of"].value == dt.datetime(2026, 6, 30) and facts["As of"].number_format == "yyyy-mm-dd"
    assert facts["Reporting currency"].value == "USD"
    assert facts["Generated at (UTC)"].value == dt.datetime(2026, 7, 1, 6, 30, 15)

    header = next(r for r in range(1, 20) if summary.cell(row=r, column=1).value == "Sheet")
    assert [c.value for c in summary[header][:4]] == ["Sheet", "Worklist", "Source", "Rows"]
    for i, (worklist, name) in enumerate(zip(WORKLISTS, EXPECTED_SHEETS[1:]), start=header + 1):
        row = [c.value for c in summary[i]]
        assert row[:4] == [name, worklist.title, worklist.source, len(worklist.rows)]
        assert summary.cell(row=i, column=1).hyperlink.location == f"'{name}'!A1"  # jumps to the sheet
        labels = {column.key: column.label for column in worklist.columns}
        pairs = [(row[j], row[j + 1]) for j in range(4, len(row) - 1, 2) if row[j] is not None]
        expected = [(labels[k], v) for k, v in worklist.totals().items()]
        assert [p[0] for p in pairs] == [e[0] for e in expected]
        for (_, got), (_, want) in zip(pairs, expected):
            assert (_money(got) if isinstance(want, Decimal) else got) == want
    unapplied = [c.value for c in summary[header + 2]]
    assert _money(unapplied[5]) == Decimal("1500.01")  # 1500.00 + 0.01


def test_the_workbook_is_deterministic_and_carries_no_author(tmp_path: Path):
    first, second = _write(tmp_path, "a.xlsx"), _write(tmp_path, "b.xlsx")
    assert first.read_bytes() == second.read_bytes()
    later = _write(tmp_path, "c.xlsx", generated_at=GENERATED_AT + dt.timedelta(minutes=1))
    assert later.read_bytes() != first.read_bytes()
    with zipfile.ZipFile(first) as archive:
        core = archive.read("docProps/core.xml").decode()
        # every entry dated generated_at (zip times have 2-second steps: 15 s reads back as 14 s)
        assert {info.date_time for info in archive.infolist()} == {(2026, 7, 1, 6, 30, 14)}
    assert "2026-07-01T06:30:15Z" in core and "openpyxl" not in core
    # no author: the creator and last-modified-by elements, where written, are empty
    assert not re.search(r"<dc:creator>[^<]|<cp:lastModifiedBy>[^<]", core), core
    assert load_workbook(first).properties.title == "Finance worklists"


def test_the_workbook_is_written_atomically(tmp_path: Path, monkeypatch):
    path = _write(tmp_path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(workbook_module.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        _write(tmp_path, generated_at=GENERATED_AT + dt.timedelta(days=1))
    assert path.read_bytes() == before  # the last good workbook is untouched
    assert sorted(os.listdir(tmp_path)) == ["finance.xlsx"]  # no temporary file left behind


# Values off the common path: each column's usual type is written by a short path, anything else
# by the general one; both must read back as the same typed cells.
INJECTIONS = ("=1+1", "+1", "-1", "@SUM(A1:A2)", "=cmd|' /C calc'!A0", "http://example.com")
ODD = Worklist(
    key="odd", title="=Odd values", description="Values off each column's usual type.",
    columns=(Column("name", "Name"), Column("on", "On", "date"), Column("amount", "Amount", "money"),
             Column("count", "Count", "int", total=True), Column("days", "Days", "days")),
    rows=(
        ("  padded & <tagged> ", dt.datetime(2026, 6, 30, 18, 45, 30), 12.5, 3, 4),
        ("bell\x07 and\r\nbreak", dt.date(1900, 1, 1), 7, True, Decimal("2.25")),
        (42, dt.date(1900, 2, 28), Decimal("0.001"), 0, None),
        (dt.date(2026, 1, 2), dt.date(1900, 3, 1), Decimal("-1E+3"), -5, 0),
        *((text, None, None, None, None) for text in INJECTIONS),
        ("", None, None, None, None),
    ),
    source="the test",
)


def test_values_off_the_usual_path_keep_their_type_and_format(tmp_path: Path):
    book = load_workbook(write_workbook(tmp_path / "odd.xlsx", [ODD], title="=Odd", as_of=AS_OF,
                                        currency="USD", generated_at=GENERATED_AT))
    assert book.sheetnames == ["Summary", "=Odd values"]
    sheet = book["=Odd values"]
    column = {c: [sheet.cell(row=r, column=c) for r in range(2, 2 + len(ODD.rows))] for c in range(1, 6)}
    names = [cell.value for cell in column[1]]
    # control characters dropped, whitespace, "&" and "<>" kept as written, a non-text value as its text
    assert names[:4] == ["  padded & <tagged> ", "bell and\r\nbreak", "42", "2026-01-02"]
    assert names[4:-1] == list(INJECTIONS) and names[-1] is None  # an empty string is an empty cell
    assert all(cell.data_type == "s" for cell in column[1][:-1])
    on = [cell.value for cell in column[2][:4]]
    # a datetime with its time, and the dates around Excel's phantom 1900-02-29
    assert on == [dt.datetime(2026, 6, 30, 18, 45, 30), dt.datetime(1900, 1, 1),
                  dt.datetime(1900, 2, 28), dt.datetime(1900, 3, 1)]
    assert [cell.number_format for cell in column[2][:4]] == ["yyyy-mm-dd hh:mm:ss"] + ["yyyy-mm-dd"] * 3
    assert [cell.value for cell in column[3][:4]] == [12.5, 7, 0.001, -1000]
    assert {cell.number_format for cell in column[3][:4]} == {"#,##0.00"}
    assert [cell.value for cell in column[4][:4]] == [3, True, 0, -5] and column[4][1].data_type == "b"
    assert [cell.value for cell in column[5][:4]] == [4, 2.25, None, 0]
    assert [column[5][i].number_format for i in (0, 1, 3)] == ["0", "0.0", "0"]
    totals = [sheet.cell(row=2 + len(ODD.rows), column=c).value for c in range(1, 6)]
    assert totals == ["Total", None, None, 3 + 1 + 0 - 5, None]  # True sums as 1, as in Worklist.totals()
    # the title and the worklist's title in the Summary are text too, and nothing is a formula
    assert book["Summary"]["A1"].value == "=Odd" and book["Summary"]["A1"].data_type == "s"
    with zipfile.ZipFile(tmp_path / "odd.xlsx") as archive:
        assert not [n for n in archive.namelist() if n.startswith("xl/worksheets/")
                    and re.search(r"<f[ >]", archive.read(n).decode())]


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), float("inf"), float("nan")])
def test_a_number_that_is_not_finite_is_refused(tmp_path: Path, bad):
    worklist = Worklist(key="bad", title="Bad", description="", columns=(Column("x", "X", "money"),),
                        rows=((Decimal("1.00"),), (bad,)), source="the test")
    with pytest.raises(ValueError, match="not a finite number"):
        write_workbook(tmp_path / "bad.xlsx", [worklist], title="Bad", as_of=AS_OF, currency="USD",
                       generated_at=GENERATED_AT)
    assert not list(tmp_path.iterdir())  # nothing written


_numbers = st.one_of(
    st.lists(st.integers(min_value=-10**12, max_value=10**12), max_size=30),
    st.lists(st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("-1e12"),
                         max_value=Decimal("1e12")), max_size=30),
    st.lists(st.one_of(st.integers(-10**6, 10**6), st.decimals(allow_nan=False, allow_infinity=False),
                       st.none()), max_size=30),
)
_cells = st.one_of(
    st.tuples(_numbers, st.sampled_from(("money", "pct", "int", "days", "text"))),
    st.tuples(st.lists(st.one_of(st.text(max_size=40), st.dates(), st.none(), st.integers()), max_size=30),
              st.sampled_from(("text", "date"))),
)


@settings(max_examples=300, deadline=None)
@given(column_cells=_cells)
def test_a_column_width_measured_from_its_extremes_equals_one_measured_from_every_cell(column_cells):
    """The width shortcut (workbook._widest_candidates: only the smallest and the largest number of
    a numeric column are formatted) must give the width that formatting every cell gives."""
    from itertools import repeat

    from reports.formatting import fmt_cell

    values, kind = column_cells
    column = Column("amount", "Amount", kind)
    present = [value for value in values if value is not None]
    every_cell = max(map(len, map(fmt_cell, present, repeat(kind))), default=0)
    candidates = workbook_module._widest_candidates(present, kind)
    assert max(map(len, map(fmt_cell, candidates, repeat(kind))), default=0) == every_cell
    assert workbook_module._width(column, values, {}) == float(
        min(max(max(len(column.label) + 2, every_cell) + 1, workbook_module._MIN_WIDTH), workbook_module._MAX_WIDTH))


def test_only_label_columns_show_mart_words_in_the_readers_language(tmp_path: Path):
    """A status column ("label") is translated in a Chinese workbook and HTML cell; a customer
    whose name happens to be a mart word ("Partner", a channel) stays as it is written."""
    from reports import i18n
    from reports.formatting import fmt_cell

    worklist = Worklist(
        key="receipts", title="Receipts", description="One receipt.",
        columns=(Column("customer", "Customer"), Column("status", "Status", "label")),
        rows=(("Partner", "unapplied"), ("Globex", "invoice cancelled")),
        source="marts.fct_cash_receipts",
    )
    with i18n.using("zh_CN"):
        path = write_workbook(tmp_path / "zh.xlsx", [worklist], title="t", as_of=AS_OF, currency="CNY",
                              generated_at=GENERATED_AT)
        html_cells = [fmt_cell(v, c.kind) for row in worklist.rows for v, c in zip(row, worklist.columns)]
    sheet = load_workbook(path)[sheet_names([worklist.title])[0]]
    cells = [[c.value for c in row] for row in sheet.iter_rows(min_row=2, max_row=3)]
    assert cells == [["Partner", "未核销"], ["Globex", "发票已作废"]]
    assert html_cells == ["Partner", "未核销", "Globex", "发票已作废"]


_column_values = st.lists(st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(), st.datetimes(timezones=st.none() | st.just(dt.timezone.utc)),
    st.text(max_size=20) | st.sampled_from(("unapplied", "no contract:CNY", " padded ", "a & b", "x\r\ny", "")),
), max_size=20)


@settings(max_examples=300, deadline=None)
@given(values=_column_values, kind=st.sampled_from(("text", "label", "int", "money", "date", "pct", "days")),
       locale=st.sampled_from(("en", "zh_CN")))
def test_a_column_of_cells_is_what_each_cell_alone_writes(values, kind, locale):
    """workbook._column_cells (a column at a time, short paths for the column's own type) writes
    every cell as workbook._cell_xml writes it alone (a label column's words in the reader's
    language, as the rows always had them)."""
    import io

    from xlsxwriter import Workbook

    from reports import i18n
    from reports.labels import label

    styles = workbook_module._Styles(Workbook(io.BytesIO(), {"in_memory": True}))
    numbers = [str(r) for r in range(2, len(values) + 2)]
    with i18n.using(locale):
        shown = [label(v) if kind == "label" and v.__class__ is str else v for v in values]
        expected = ["" if v is None else workbook_module._cell_xml(f"C{n}", v, kind, styles)
                    for n, v in zip(numbers, shown)]
        assert workbook_module._column_cells("C", kind, values, numbers, styles) == expected


@settings(max_examples=200, deadline=None)
@given(column_cells=_cells, block=st.integers(min_value=1, max_value=7))
def test_a_width_measured_block_by_block_is_the_width_of_the_whole_column(column_cells, block):
    """_sheet_data keeps the widest values of each block of rows (workbook._BLOCK of them); the
    width of those is the width of every value of the column."""
    import io
    from unittest import mock

    from xlsxwriter import Workbook

    values, kind = column_cells
    column = Column("amount", "Amount", kind)
    worklist = Worklist(key="w", title="W", description="", columns=(column,), rows=tuple((v,) for v in values),
                        source="the test")
    styles = workbook_module._Styles(Workbook(io.BytesIO(), {"in_memory": True}))
    with mock.patch.object(workbook_module, "_BLOCK", block):
        _xml, _dimension, (widest,) = workbook_module._sheet_data(worklist, {}, styles)
    assert workbook_module._width(column, widest, {}) == workbook_module._width(column, values, {})
