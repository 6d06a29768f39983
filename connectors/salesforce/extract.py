"""Describe-driven, windowed extraction from the Salesforce REST API.

Why this shape (see `salesforce-api.md` §6.2): the field list comes from `describe()` on every run,
so new custom fields arrive without code changes; compound parents (`BillingAddress`, geolocations)
are dropped in favour of their components so one schema serves REST and Bulk (`Name` is kept); every
query goes through queryAll so soft-deleted rows (`IsDeleted = true`) land too; the window is
`cursor >= lower AND cursor < upper ORDER BY cursor, Id`, where `upper` is the run start, so the
saved cursor never passes rows that could still be committing, and `>=` plus a lookback re-reads
ties and late commits (the merge on `id` makes the re-read harmless).

Rows leave here with dlt-normalised (snake_case) keys, aware-UTC datetimes, `date`s and `Decimal`
money, grouped in pages so dlt's per-item overhead is paid per page, not per row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterator

import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention

from connectors.salesforce.errors import changed_type

CURSOR_PREFERENCE = ("SystemModstamp", "LastModifiedDate", "CreatedDate")
PAGE_SIZE = 2000  # the REST API's maximum batch size
# describe types with no scalar value to land: compound address/location and blobs
SKIP_TYPES = frozenset({"address", "location", "base64", "complexvalue"})
# history objects: immutable rows with no SystemModstamp, read on CreatedDate and only ever inserted
HISTORY_CURSOR = "CreatedDate"

_naming = NamingConvention()


def snake(name: str) -> str:
    """The column/table name dlt will use (same naming convention, so hints and rows agree)."""
    return _naming.normalize_identifier(name)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str  # describe type, lower case
    precision: int = 0  # describe precision/scale (currency fields land as DECIMAL(precision, scale))
    scale: int = 0

    @property
    def column(self) -> str:
        return snake(self.name)

    @property
    def decimal(self) -> tuple[int, int] | None:
        """(precision, scale) this field lands with, or None if it is not a number with a fraction.

        Currency takes describe's own precision and scale (18, 2 in most orgs); double and percent
        have no reliable scale in describe, so they get DECIMAL(38, 9): exact for any value the
        API sends, never float."""
        if self.type == "currency":
            return (min(self.precision or 18, 38), self.scale if self.precision else 2)
        if self.type in ("double", "percent"):
            return (38, 9)
        return None


def select_fields(describe: dict) -> list[FieldSpec]:
    """Queryable scalar fields of an object, compound parents dropped (but `Name` kept)."""
    raw = describe.get("fields") or []
    compound_parents = {f.get("compoundFieldName") for f in raw if f.get("compoundFieldName")}
    compound_parents.discard("Name")
    specs = []
    for f in raw:
        ftype = (f.get("type") or "string").lower()
        if f["name"] in compound_parents or ftype in SKIP_TYPES:
            continue
        specs.append(FieldSpec(f["name"], ftype, int(f.get("precision") or 0), int(f.get("scale") or 0)))
    return specs


def cursor_field(fields: list[FieldSpec]) -> str:
    names = {f.name for f in fields}
    for candidate in CURSOR_PREFERENCE:
        if candidate in names:
            return candidate
    raise ValueError("object has none of SystemModstamp, LastModifiedDate, CreatedDate; cannot extract incrementally")


def soql_datetime(value: dt.datetime) -> str:
    """SOQL datetime literal (unquoted, UTC, whole seconds: SOQL rejects fractional seconds)."""
    if value.tzinfo is None:
        raise ValueError("SOQL window bounds must be timezone-aware")
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_second(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=0)


def build_soql(
    obj: str,
    fields: list[str],
    cursor: str,
    lower: dt.datetime | None,
    upper: dt.datetime,
) -> str:
    """`SELECT … FROM obj WHERE cursor >= lower AND cursor < upper ORDER BY cursor, Id`.

    `lower` is floored to the second (re-reading a little more is safe), `upper` too (the rows in the
    last partial second are picked up by the next run's `>=`).
    """
    where = []
    if lower is not None:
        where.append(f"{cursor} >= {soql_datetime(floor_second(lower))}")
    where.append(f"{cursor} < {soql_datetime(floor_second(upper))}")
    return f"SELECT {', '.join(fields)} FROM {obj} WHERE {' AND '.join(where)} ORDER BY {cursor}, Id"


# ---- value conversion -------------------------------------------------------------------------

def parse_datetime(value: str | None) -> dt.datetime | None:
    # REST: 2025-01-01T10:00:00.000+0000; Bulk CSV: 2025-01-01T10:00:00.000Z — both parse in 3.11+
    if value is None or value == "":
        return None
    return dt.datetime.fromisoformat(value).astimezone(dt.timezone.utc)


def parse_date(value: str | None) -> dt.date | None:
    if value is None or value == "":
        return None
    return dt.date.fromisoformat(value)


def any_text(value: Any) -> str | None:
    """`anyType` (history OldValue/NewValue: text, number, date or boolean, airbyte#6886) → text,
    numbers from their exact digits, booleans as `true`/`false`."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


_PARSERS: dict[str, Callable[[Any], Any]] = {"datetime": parse_datetime, "date": parse_date, "anytype": any_text}


def parse_bool(value: str) -> bool:
    low = value.strip().lower()
    if low not in ("true", "false"):
        raise ValueError(f"not a Salesforce boolean: {value!r}")
    return low == "true"


# Bulk API 2.0 CSV: every value is text (datetimes `...000Z`, booleans `true`/`false`, empty = null)
_TEXT_PARSERS: dict[str, Callable[[str], Any]] = {
    **_PARSERS,
    "boolean": parse_bool,
    "currency": Decimal, "double": Decimal, "percent": Decimal,  # exact, never float
    "int": int, "long": int,
}


class RecordConverter:
    """Turns API records into landing rows: strip `attributes`, snake-case keys, parse dates."""

    def __init__(self, fields: list[FieldSpec], table: str = "?"):
        self.table = table  # named with the record in the error of a value that does not parse
        self.types = {f.name: f.type for f in fields}
        self.columns = {f.name: f.column for f in fields}
        self.parsers = {f.name: _PARSERS[f.type] for f in fields if f.type in _PARSERS}
        self.text_parsers = {f.name: _TEXT_PARSERS[f.type] for f in fields if f.type in _TEXT_PARSERS}
        self._by_lower = {f.name.lower(): f.name for f in fields}

    def __call__(self, record: dict) -> dict:
        row = {}
        columns, parsers = self.columns, self.parsers
        for key, value in record.items():
            if key == "attributes":
                continue
            parse = parsers.get(key)
            if parse and value is not None:
                try:
                    value = parse(value)
                except (ValueError, TypeError, AttributeError) as exc:  # e.g. "soon" in a date field
                    column = columns.get(key) or snake(key)
                    raise changed_type(self.table, record.get("Id"), column, value, self.types.get(key)) from exc
            row[columns.get(key) or snake(key)] = value
        return row

    def from_text(self, record: dict[str, str]) -> dict:
        """A Bulk API 2.0 CSV row (all strings) → the same landing row the REST path gives:
        empty → None, typed by describe (bool, Decimal money, int, aware-UTC datetime, date)."""
        row = {}
        columns, parsers = self.columns, self.text_parsers
        for key, value in record.items():
            if key not in columns:  # CSV headers echo the SOQL's spelling; describe's is canonical
                key = self._by_lower.get(key.lower(), key)
            parse = parsers.get(key)
            if value is None or value == "":
                value = None
            elif parse:
                value = parse(value)
            row[columns.get(key) or snake(key)] = value
        return row


# ---- dlt column hints from describe ------------------------------------------------------------

def column_hints(fields: list[FieldSpec]) -> dict[str, dict]:
    """Typed dlt columns for every selected field, so all-null columns still exist with the right
    type and money lands as DECIMAL(18,2) (never DOUBLE)."""
    hints: dict[str, dict] = {}
    for f in fields:
        hint: dict[str, Any] = {"name": f.column, "nullable": f.name != "Id"}
        if f.decimal:
            precision, scale = f.decimal
            hint.update(data_type="decimal", precision=precision, scale=scale)  # exact, never DOUBLE
        elif f.type in ("int", "long"):
            hint.update(data_type="bigint")
        elif f.type == "boolean":
            hint.update(data_type="bool")
        elif f.type == "date":
            hint.update(data_type="date")
        elif f.type == "datetime":
            hint.update(data_type="timestamp", timezone=True)
        else:
            hint.update(data_type="text")
        hints[f.column] = hint
    return hints


# ---- Arrow schema (the Bulk path lands Arrow tables with exactly these types) ---------------------

def arrow_type(f: FieldSpec) -> pa.DataType:
    if f.decimal:
        return pa.decimal128(*f.decimal)
    return _ARROW_TYPES.get(f.type, pa.string())


_ARROW_TYPES = {
    "int": pa.int64(), "long": pa.int64(), "boolean": pa.bool_(), "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
}


def arrow_schema(fields: list[FieldSpec]) -> pa.Schema:
    """The landing schema of an object as Arrow (snake_case names), mirroring `column_hints`."""
    return pa.schema([pa.field(f.column, arrow_type(f), nullable=f.name != "Id") for f in fields])


# ---- paging -----------------------------------------------------------------------------------

def iter_pages(sf, soql: str, convert: RecordConverter, first: dict | None = None) -> Iterator[list[dict]]:
    """queryAll (deleted rows included), following `nextRecordsUrl`; one list of converted rows
    per API page (≤ 2,000). `first` is the first page's response if the caller already has it
    (see `first_page`)."""
    response = first if first is not None else first_page(sf, soql)
    while True:
        records = response.get("records") or []
        if records:
            yield [convert(r) for r in records]
        next_url = response.get("nextRecordsUrl")
        if response.get("done", True) or not next_url:
            return
        # queryAll continuations say /query/ but continue the queryAll cursor (deleted rows too)
        response = sf.query_more(next_url, identifier_is_url=True, include_deleted=True)


def first_page(sf, soql: str) -> dict:
    """The first queryAll page; its `totalSize` is the exact row count of the whole window, which
    is what the Bulk-or-REST choice needs, at no extra API call."""
    return sf.query(soql, include_deleted=True)
