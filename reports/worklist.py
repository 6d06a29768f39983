"""Worklists: the row-level lists finance works through, one shape for HTML and Excel.

A worklist is what a report shows as a sortable, filterable table (HTML) and what the finance
workbook writes as one sheet (XLSX): the overdue invoices, the unapplied cash, the invoices
without a contract, and so on. Defining the shape once lets both formats show the same rows and
the same totals, and lets tests tie those totals to the marts.

Values are exact: money is `Decimal`, dates are `datetime.date`, counts are `int`. A worklist is
read from the marts only, and holds only what finance needs to act (no personal emails or phone
numbers).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter
from typing import Any

# "label": a text column whose values are a mart's status or type words (reports/labels.py), shown
# in the reader's language; a "text" column (names, numbers, ids) is shown exactly as it is, so a
# customer called "Partner" is not translated as the channel of that name
KINDS = ("text", "label", "int", "money", "date", "pct", "days")
TEXT_KINDS = ("text", "label")  # written as strings (Excel), compared as text


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # one of KINDS: how the value is formatted, sorted and typed in Excel
    total: bool = False  # summed in the totals row (int and money columns)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.key!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.total and self.kind not in ("int", "money"):
            raise ValueError(f"column {self.key!r}: only int and money columns have totals")

    @property
    def css_class(self) -> str:
        """The cells' class in HTML: text and dates left-aligned ("l"), numbers right."""
        return "l" if self.kind in (*TEXT_KINDS, "date") else ""


@dataclass(frozen=True)
class Worklist:
    key: str  # stable identifier: the HTML id, the data-metric prefix, the sheet's source
    title: str  # what a person reads: the heading, and the sheet name (up to 31 characters)
    description: str  # what one row is, and what to do about it
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    source: str  # the mart(s) the rows come from, for the reader and for the tie-out tests
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        width = len(self.columns)
        for i, row in enumerate(self.rows):
            if len(row) != width:
                raise ValueError(f"worklist {self.key!r}: row {i} has {len(row)} values, not {width}")

    def column_index(self, key: str) -> int:
        for i, column in enumerate(self.columns):
            if column.key == key:
                return i
        raise KeyError(f"worklist {self.key!r} has no column {key!r}")

    def values(self, key: str) -> list[Any]:
        i = self.column_index(key)
        return [row[i] for row in self.rows]

    def totals(self) -> dict[str, Decimal | int]:
        """The exact sum of every total column, over all rows (None counts as nothing)."""
        return dict(self._totals)

    @functools.cached_property
    def _totals(self) -> dict[str, Decimal | int]:
        # summed once per worklist (rows are a tuple): the HTML table and the workbook's sheet and
        # Summary all show them; 0.16 CPU seconds for all worklists at 1M leads
        out: dict[str, Decimal | int] = {}
        for i, column in enumerate(self.columns):
            if column.total:
                zero: Decimal | int = Decimal("0.00") if column.kind == "money" else 0
                out[column.key] = sum([value for value in map(itemgetter(i), self.rows) if value is not None], zero)
        return out

    def as_dicts(self) -> list[dict[str, Any]]:
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, row)) for row in self.rows]


def sort_key(value: Any) -> tuple[int, Any]:
    """A total order over one column's values, None last: what the HTML sorter does in Python."""
    if value is None:
        return (1, 0)
    if isinstance(value, (dt.date, str)):
        return (0, value)
    return (0, Decimal(value))


def worklists_by_key(worklists: Sequence[Worklist]) -> dict[str, Worklist]:
    out: dict[str, Worklist] = {}
    for worklist in worklists:
        if worklist.key in out:
            raise ValueError(f"two worklists are keyed {worklist.key!r}")
        out[worklist.key] = worklist
    return out
