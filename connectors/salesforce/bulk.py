"""Bulk API 2.0 query extraction, and the choice between Bulk and REST per object.

Bulk 2.0 (see `salesforce-api.md` §2–§4) costs a handful of API calls per job instead of one per
2,000 rows, so big objects go through it. We drive the real simple-salesforce client
(`sf.bulk2.<Object>.query_all(...)`): it creates the job, polls it (`poll_wait` before the first
poll) and yields one raw CSV string per result page, each with its own header row. Each page is
parsed with the csv module (NUL bytes stripped first, as airbyte#8300 taught everyone), typed by
the same `RecordConverter` the REST path uses (`from_text`: `...000Z` datetimes, `true`/`false`,
empty → None, Decimal money) and yielded on its own, so at most one page is in memory.

A job that ends `Failed`/`Aborted`, times out, or is refused at creation (e.g. a compound field,
"Selecting compound data not supported in Bulk Query") raises `BulkJobFailed` before any row has
been yielded; `choose_pages` then falls back to REST with a note.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Iterator

from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceOperationError

from connectors.salesforce.extract import PAGE_SIZE, RecordConverter, iter_pages

BULK_PAGE_SIZE = 50_000  # rows per results page (maxRecords)
POLL_WAIT = 5.0  # seconds before the first job poll (simple-salesforce then backs off from there)


class BulkJobFailed(RuntimeError):
    """A Bulk 2.0 query job failed, was aborted, timed out or was refused; read the object via REST."""

    def __init__(self, obj: str, message: str):
        super().__init__(f"Bulk API 2.0 query job for {obj} failed: {message}")
        self.obj = obj
        self.reason = message


def _reason(exc: Exception) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode', '')}: {content[0].get('message', '')}".strip(": ")[:300]
    return str(exc)[:300]


def parse_csv_page(text: str) -> Iterator[dict[str, str]]:
    """One results page (its own header row; RFC 4180 quoting, newlines inside quotes kept)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    yield from csv.DictReader(io.StringIO(text, newline=""))


def iter_bulk_pages(
    sf,
    obj: str,
    soql: str,
    convert: RecordConverter,
    *,
    include_deleted: bool = True,
    page_size: int = BULK_PAGE_SIZE,
    poll_wait: float = POLL_WAIT,
) -> Iterator[list[dict]]:
    """Run `soql` as a Bulk 2.0 query (queryAll unless `include_deleted=False`); converted rows,
    one list per results page. Raises `BulkJobFailed` (before yielding anything) if the job fails."""
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
        rows = [convert.from_text(record) for record in parse_csv_page(text)]
        text = None  # drop the raw page before fetching the next
        if rows:
            yield rows
        rows = []
        text = next(pages, None)


def count_soql(soql: str) -> str:
    """`SELECT a, b FROM Obj WHERE … ORDER BY … LIMIT n` → `SELECT COUNT() FROM Obj WHERE …`."""
    m = re.match(r"\s*SELECT\s+.+?\s+FROM\s+(.*)$", soql, re.I | re.S)
    if not m:
        raise ValueError(f"not a SELECT: {soql[:80]!r}")
    rest = re.split(r"\s+ORDER\s+BY\s+|\s+LIMIT\s+|\s+OFFSET\s+", m.group(1), maxsplit=1, flags=re.I)[0]
    return f"SELECT COUNT() FROM {rest}"


def estimate_rows(sf, soql: str, *, include_deleted: bool = True) -> int:
    """Rows the query would return, via one REST `SELECT COUNT()` with the same WHERE."""
    return int(sf.query(count_soql(soql), include_deleted=include_deleted)["totalSize"])


def choose_pages(
    sf,
    obj: str,
    soql: str,
    convert: RecordConverter,
    *,
    bulk_threshold: int | None = None,
    estimated_rows: int | None = None,
    notes: list[str] | None = None,
    page_size: int = BULK_PAGE_SIZE,
    rest_page_size: int = PAGE_SIZE,
    poll_wait: float | None = None,
) -> Iterator[list[dict]]:
    """Pages of `soql` (deleted rows included) through Bulk 2.0 when the object is big enough,
    else through REST queryAll; a failed Bulk job falls back to REST (noted in `notes`).

    `bulk_threshold` defaults to `Settings.salesforce_bulk_threshold` (`LTC_SF_BULK_THRESHOLD`);
    `estimated_rows` skips the REST `SELECT COUNT()` when the caller already knows.
    Rows come in the same shape either way (same `RecordConverter`).
    """
    if bulk_threshold is None:
        from connectors.settings import Settings

        bulk_threshold = Settings.from_env().salesforce_bulk_threshold
    notes = notes if notes is not None else []
    poll_wait = POLL_WAIT if poll_wait is None else poll_wait
    if estimated_rows is None:
        estimated_rows = estimate_rows(sf, soql)
    if estimated_rows >= bulk_threshold:
        try:
            yield from iter_bulk_pages(sf, obj, soql, convert, page_size=page_size, poll_wait=poll_wait)
            notes.append(f"{obj}: Bulk API 2.0 ({estimated_rows} rows estimated, threshold {bulk_threshold})")
            return
        except BulkJobFailed as exc:  # raised before any page was yielded: REST re-reads nothing twice
            notes.append(f"{obj}: {exc}; fell back to the REST API")
    yield from iter_pages(sf, soql, convert, page_size=rest_page_size)
