"""Bulk API 2.0 query extraction, and the choice between Bulk and REST per object.

Bulk 2.0 (see `salesforce-api.md` §2–§4) costs a handful of API calls per job instead of one per
2,000 rows, so big objects go through it. We drive the real simple-salesforce client
(`sf.bulk2.<Object>.query_all(...)`): it creates the job, polls it (`poll_wait` before the first
poll) and yields one raw CSV string per result page, each with its own header row (NUL bytes already
stripped by the client, airbyte#8300; we strip again in case a page reaches us another way).

Each page becomes one Arrow table: pyarrow's C++ CSV reader (RFC 4180 quoting, newlines inside
quotes) reads every column as text, then each column is cast to the type describe gives it
(`...000Z` datetimes → timestamp UTC, `true`/`false` → bool, money → DECIMAL with describe's scale,
refusing any value that would lose a digit). Only one page is in memory at a time and no Python
object is made per value, which is what lets 1M rows land at ≥ 50k rows/s (benchmarks/).

A job that ends `Failed`/`Aborted`, times out, or is refused at creation (e.g. a compound field,
"Selecting compound data not supported in Bulk Query") raises `BulkJobFailed` before any row has
been yielded; `choose_pages` then falls back to REST with a note.
"""

from __future__ import annotations

import csv
import io
from typing import Iterator

import pyarrow as pa
import pyarrow.csv as pa_csv
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceOperationError

from connectors.salesforce.extract import FieldSpec, RecordConverter, arrow_type, first_page, iter_pages, snake

BULK_PAGE_SIZE = 50_000  # rows per results page (maxRecords)
POLL_WAIT = 0.5  # seconds before the first job poll; simple-salesforce then waits 0.5 + e^n/1000 s (≈10 polls in the first 10 s)


class BulkJobFailed(RuntimeError):
    """A Bulk 2.0 query job failed, was aborted, timed out or was refused; read the object via REST."""

    def __init__(self, obj: str, message: str):
        super().__init__(f"Bulk API 2.0 query job for {obj} failed: {message}")
        self.obj = obj
        self.reason = message


class BulkCsvError(ValueError):
    """A Bulk results page has a value its describe type cannot hold (the API broke its contract)."""


def _reason(exc: Exception) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode', '')}: {content[0].get('message', '')}".strip(": ")[:300]
    return str(exc)[:300]


def parse_csv_page(text: str) -> Iterator[dict[str, str]]:
    """One results page as text rows (its own header row; RFC 4180 quoting, newlines kept)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    yield from csv.DictReader(io.StringIO(text, newline=""))


def csv_page_to_arrow(text: str, fields: list[FieldSpec], obj: str = "?") -> pa.Table:
    """One results page → an Arrow table with snake_case columns typed from describe.

    Bulk CSV cannot tell null from empty string; both land as null, as the REST path's empty
    values do not exist (REST sends null)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    data = text.encode("utf-8")
    header_end = data.find(b"\n")
    header = next(csv.reader([data[: header_end if header_end >= 0 else len(data)].decode("utf-8")]), [])
    if not header:
        return pa.table({})
    table = pa_csv.read_csv(
        pa.py_buffer(data),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            # only the empty value is null: pyarrow's default list would also null "N/A", "NULL",
            # "nan"... which are real text in a CRM (a lead's Company is often "N/A")
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
        read_options=pa_csv.ReadOptions(block_size=16 << 20),
    )
    by_lower = {f.name.lower(): f for f in fields}
    schema, columns = [], []
    for name, column in zip(table.column_names, table.columns):
        spec = by_lower.get(name.lower())
        target = arrow_type(spec) if spec else pa.string()
        try:
            columns.append(column if target == pa.string() else column.cast(target))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise BulkCsvError(f"Bulk results for {obj}: column {name} does not fit {target}: {exc}") from exc
        schema.append(pa.field(spec.column if spec else snake(name), target, nullable=name != "Id"))
    return pa.Table.from_arrays(columns, schema=pa.schema(schema))


def iter_bulk_pages(
    sf,
    obj: str,
    soql: str,
    fields: list[FieldSpec],
    *,
    include_deleted: bool = True,
    page_size: int = BULK_PAGE_SIZE,
    poll_wait: float = POLL_WAIT,
) -> Iterator[pa.Table]:
    """Run `soql` as a Bulk 2.0 query (queryAll unless `include_deleted=False`); one Arrow table
    per results page. Raises `BulkJobFailed` (before yielding anything) if the job fails."""
    sftype = getattr(sf.bulk2, obj)
    run = sftype.query_all if include_deleted else sftype.query
    pages = run(soql, max_records=page_size, wait=poll_wait)
    try:
        first = next(pages)  # creates the job and waits for it
    except StopIteration:
        return
    except (SalesforceOperationError, SalesforceMalformedRequest) as exc:
        raise BulkJobFailed(obj, _reason(exc)) from exc
    text: str | None = first
    while text is not None:
        table = csv_page_to_arrow(text, fields, obj)
        text = None  # drop the raw page before fetching the next
        if table.num_rows:
            yield table
        del table
        text = next(pages, None)


def choose_pages(
    sf,
    obj: str,
    soql: str,
    convert: RecordConverter,
    fields: list[FieldSpec],
    *,
    bulk_threshold: int,
    notes: list[str] | None = None,
    before_bulk=None,
    page_size: int | None = None,
    poll_wait: float | None = None,
) -> Iterator[list[dict] | pa.Table]:
    """Pages of `soql` (deleted rows included): REST queryAll pages (lists of dicts), or, when the
    first REST page says the window holds at least `bulk_threshold` rows, Bulk 2.0 pages (Arrow
    tables). A failed Bulk job falls back to REST from that first page (noted in `notes`).

    `before_bulk()` runs right before a Bulk job is created (the quota check); the first REST
    page's `Sforce-Limit-Info` has just refreshed the client's usage figures."""
    notes = notes if notes is not None else []
    poll_wait = POLL_WAIT if poll_wait is None else poll_wait
    page_size = page_size or BULK_PAGE_SIZE
    first = first_page(sf, soql)
    total = int(first.get("totalSize") or 0)
    if bulk_threshold > 0 and total >= bulk_threshold:
        if before_bulk is not None:
            before_bulk()
        try:
            yield from iter_bulk_pages(sf, obj, soql, fields, page_size=page_size, poll_wait=poll_wait)
            notes.append(f"{obj}: Bulk API 2.0 ({total} rows in the window, threshold {bulk_threshold})")
            return
        except BulkJobFailed as exc:  # raised before any page was yielded: REST re-reads nothing twice
            notes.append(f"{obj}: {exc}; fell back to the REST API")
            first = None  # the first page's cursor may have expired while the job ran: start over
    yield from iter_pages(sf, soql, convert, first=first)
