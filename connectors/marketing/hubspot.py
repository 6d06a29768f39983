"""The marketing REST API (HubSpot v3 shapes), paged by hand and landed as Arrow tables.

Why not dlt's declarative `rest_api` source any more: it hands dlt one dict per object, and dlt's
JSON normaliser then coerced every value of every row in Python (at 10k leads ~25 s of a 50 s
profile for 43k rows) on top of `rest_api`'s per-item map step and two JSON parses per page. Here a
whole batch of pages becomes one Arrow table at once (`pa.array(objects, type=<the JSON's shape>)`
converts the nested dicts in C++, then typed columns are cast column-wise), so dlt writes Parquet
without normalising anything. Pages are fetched by background threads (`HubSpotClient.prefetched`)
while the batch before is converted and written. What stays from dlt: the resource state in the
warehouse (the cursors), the Parquet writing and the load. Marketing ingest with the sandbox's fake
in the same process, medians of 3 on a busy 2-core machine: 10k leads 20.2 s → 5.7 s, 100k leads
354 s → 61 s (the rest is mostly the fake serving ~2.7k pages and dlt's fixed cost).

Tables (all in `raw_marketing`, merged on their key, appended by a first load into an empty table;
explicit Arrow schemas, see `*_COLUMNS`):
- `hubspot_campaigns` (`id`): incremental on `updatedAt`;
- `hubspot_contacts` (`id`): incremental on `updatedAt`; properties as columns (`email`,
  `salesforceleadid` = the Salesforce Lead Id, `lifecyclestage`, `hs_v2_date_entered_<stage>`, ...);
- `hubspot_contacts__lifecyclestage_history` (`contact_id`, `history_index`): the stage history
  (`propertiesWithHistory.lifecyclestage`: `value`, `timestamp`, `source_type`; index 0 is the
  newest entry, as HubSpot lists them), landed by the contacts resource for the contacts it lands
  and replaced with its contact on every merge (`merge_key` = `contact_id`: the rows of every
  landed contact are deleted, then its current history inserted);
- `hubspot_forms` (`id`): incremental on `updatedAt`;
- `hubspot_form_submissions` (`conversion_id`, with `form_id`, `submitted_at` and the submitted
  values as text columns): incremental on `submittedAt`, the newest submission over all forms (so a
  submission back-dated below it would be missed). Every form is read each run, changed or not,
  newest first, up to the first page older than the cursor.

Timestamps land as `timestamp[us, UTC]`, money as `decimal128(18, 2)`, dates as `date32`; a value
that does not convert stops the run with the object's id, the column and the value (dlt's JSON path
silently created a `__v_text` variant column instead). Keys the schemas do not name (other
properties, other top-level fields) are not landed: the requests ask for the properties we land.

HubSpot's list endpoints cannot filter on `updatedAt`, so the incremental cursor filters client
side (`Cursor`): a run lands only rows changed since the last run (at or after the saved value,
minus the ids already landed at exactly that value). For campaigns and forms (a few hundred) every
run still pages through the list. Contacts are the bulk (at 1M leads ~9,700 list pages, ~290 s a
run, whatever changed), so a contacts run after a landed one asks the search endpoint instead
(`HubSpotClient.search_changed`: `lastmodifieddate` GTE the saved value, sorted by it then by id,
200 a page; at its 10,000-result cap it searches again from the last value seen, ids already found
skipped) and reads what the cursor keeps of it with the history through `batch/read` (100 ids a
request), then lands them exactly as a listing would (same Arrow conversion, history merge and
cursor). A first run (no saved cursor) lists, as the search would only be slower for everything.
Contacts-only runs after 1 % of the contacts changed, fake in the same process, busy 2-core
machine: 100k leads (97k contacts) 970 list requests, 3.8-4.2 s (~80 % of a full run) → 5 searches
+ 10 batch reads, 1.0 s (19-21 %), most of it dlt's fixed cost per run; 10k leads 97 requests,
0.6-0.85 s → 2 requests, 0.4-0.5 s. All four API tables at 10k leads: 0.93 s → 0.69 s (81 % → 68 %
of a full run): every run still read every form's submissions (~180 of the 185 requests left),
so an incremental run now stops each form at its first page older than the cursor (HubSpot lists
submissions newest first).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import queue
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator
from urllib.parse import urlencode

import dlt
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import urllib3
from dlt.common.normalizers.naming.snake_case import NamingConvention as SnakeCaseNaming

from connectors._http import RETRY_AFTER_MAX_S

CAMPAIGN_PROPERTIES = ("hs_name", "hs_start_date", "hs_end_date", "hs_campaign_status", "hs_currency_code",
                       "hs_budget_items_sum_amount", "hs_campaign_type", "salesforce_campaign_id")
LIFECYCLE_STAGES = ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
CONTACT_PROPERTIES = ("email", "firstname", "lastname", "company", "country", "hs_analytics_source",
                      "salesforceleadid", "lifecyclestage", "createdate", "lastmodifieddate",
                      *(f"hs_v2_date_entered_{s}" for s in LIFECYCLE_STAGES))
HISTORY_TABLE = "hubspot_contacts__lifecyclestage_history"
TABLES = ("hubspot_campaigns", "hubspot_contacts", HISTORY_TABLE, "hubspot_forms", "hubspot_form_submissions")
# tables landed by another table's resource
PARENT = {HISTORY_TABLE: "hubspot_contacts"}
EPOCH_DT = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

CONTACTS_PATH = "crm/v3/objects/contacts"
CAMPAIGNS_PATH = "marketing/v3/campaigns"
FORMS_PATH = "marketing/v3/forms"
SUBMISSIONS_PATH = "form-integrations/v1/submissions/forms/{form_id}"
SUBMISSIONS_LIMIT = 50  # HubSpot's maximum for this (v1) endpoint
LAST_MODIFIED = "lastmodifieddate"  # the contacts' property behind `updatedAt`, searchable
SEARCH_LIMIT = 200  # HubSpot's maximum page of a search
SEARCH_CAP = 10_000  # results HubSpot returns for one search; beyond, `after` answers 400
BATCH_READ_LIMIT = 100  # HubSpot's maximum inputs of a batch read
# Rows per Arrow table: a few pages at once. Each item costs dlt a fixed amount (schema check,
# writer call) whatever its size; 20 contact pages per table keep that negligible and the memory
# of a batch (its JSON objects) at a few MB.
BATCH_ROWS = 2000

# Pages fetched ahead by the fetching threads while the batch before is converted and written
# (a contact page is ~95 kB of JSON, ~1 MB as Python objects).
PREFETCH_PAGES = 40
# Forms whose submissions are paged at once (each form is its own cursor chain): a few requests in
# flight, not more: HubSpot limits requests per app per 10 s (a 429 with Retry-After beyond that,
# which the client waits out).
SUBMISSION_WORKERS = 4
POOL_SIZE = 8  # connections: the contacts fetcher, the submission fetchers and the small listings
RETRIES = 8
RETRY_STATUS = (429, 500, 502, 503, 504)

_NAMING = SnakeCaseNaming()
TS = pa.timestamp("us", tz="UTC")  # DuckDB/Postgres TIMESTAMP WITH TIME ZONE, as dlt landed them
MONEY = pa.decimal128(18, 2)


@dataclass(frozen=True)
class HubSpotApi:
    url: str
    token: str = field(repr=False)
    page_size: int = 100
    timeout_s: float = 60.0  # read timeout of every request (LTC_MARKETING_API_TIMEOUT_S)


class HubSpotDataError(ValueError):
    """A value the API returned does not convert to its column's type."""


# ---- columns --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """A landed column: its name, where it is in an API object, its Arrow type and how the JSON
    delivers it (`raw`: string unless said otherwise)."""

    name: str
    path: tuple[str, ...]
    type: pa.DataType
    raw: pa.DataType = pa.string()
    nullable: bool = True

    @property
    def is_property(self) -> bool:  # HubSpot sends "" for an empty property: landed as NULL
        return self.path[0] == "properties"


def _props(names: Iterable[str], types: dict[str, pa.DataType] | None = None) -> list[Column]:
    types = types or {}
    return [Column(n, ("properties", n), types.get(n, pa.string())) for n in names]


def _object(*extra: Column) -> list[Column]:
    return [Column("id", ("id",), pa.string(), nullable=False), Column("created_at", ("createdAt",), TS),
            Column("updated_at", ("updatedAt",), TS), *extra,
            Column("archived", ("archived",), pa.bool_(), raw=pa.bool_())]


CAMPAIGN_COLUMNS = _object(*_props(CAMPAIGN_PROPERTIES, {"hs_start_date": pa.date32(), "hs_end_date": pa.date32(),
                                                         "hs_budget_items_sum_amount": MONEY}))
CONTACT_COLUMNS = _object(*_props(CONTACT_PROPERTIES, {p: TS for p in CONTACT_PROPERTIES
                                                       if p in ("createdate", "lastmodifieddate")
                                                       or p.startswith("hs_v2_date_entered_")}))
FORM_COLUMNS = _object(Column("name", ("name",), pa.string()), Column("form_type", ("formType",), pa.string()))
HISTORY_PATH = ("propertiesWithHistory", "lifecyclestage")
HISTORY_ENTRY = pa.struct([("value", pa.string()), ("timestamp", pa.string()), ("sourceType", pa.string())])
HISTORY_SCHEMA = pa.schema([pa.field("contact_id", pa.string(), nullable=False),
                            pa.field("history_index", pa.int64(), nullable=False),
                            pa.field("value", pa.string()), pa.field("timestamp", TS),
                            pa.field("source_type", pa.string())])
SUBMISSION_COLUMNS = [Column("conversion_id", ("conversionId",), pa.string(), nullable=False),
                      Column("page_url", ("pageUrl",), pa.string()),
                      # epoch milliseconds in this (v1) API
                      Column("submitted_at", ("submittedAt",), TS, raw=pa.int64())]
SUBMISSION_VALUES = pa.list_(pa.struct([("name", pa.string()), ("value", pa.string())]))


def _raw_type(columns: list[Column], extra: dict[tuple[str, ...], pa.DataType] | None = None) -> pa.StructType:
    """The Arrow struct type of the API objects, as far as `columns` (and `extra` paths) read them."""
    tree: dict = {}
    leaves = [(c.path, c.raw) for c in columns] + list((extra or {}).items())
    for path, raw in leaves:
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = raw

    def build(node: dict) -> pa.StructType:
        return pa.struct([(k, build(v) if isinstance(v, dict) else v) for k, v in node.items()])

    return build(tree)


def column(columns: list[Column], name: str) -> Column:
    return next(c for c in columns if c.name == name)


def arrow_schema(columns: list[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in columns])


# What a refused value's error says to do (checklist #8, "changed type: no silent NULLs").
REFUSED = ("; refused, nothing of this run landed and the cursors are unchanged: fix the value at the "
           "source (or, if the property's type changed for good, its column in connectors/marketing/"
           "hubspot.py and the dbt staging model that reads it), then re-run: the next run reads it again")


def _objects_array(objects: list[dict], raw_type: pa.StructType, table: str) -> pa.StructArray:
    try:
        return pa.array(objects, type=raw_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        culprit = _shape_culprit(objects, raw_type, table)
        raise HubSpotDataError(culprit or f"{table}: an object does not have the expected shape: {exc}{REFUSED}") from exc


def _shape_culprit(objects: list[dict], raw_type: pa.StructType, table: str) -> str | None:
    """Which object and field broke the JSON shape (e.g. a number where a property is text): only
    on failure, object by object, then leaf by leaf. None if no single leaf explains it."""
    for obj in objects:
        try:
            pa.array([obj], type=raw_type)
            continue
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            pass
        ident = obj.get("id", obj.get("conversionId")) if isinstance(obj, dict) else None
        for path, leaf in _leaves(raw_type):
            value = obj
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            try:
                pa.array([value], type=leaf)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
                return f"{table} id {ident}: {'.'.join(path)}={value!r} is not a {leaf}{REFUSED}"
    return None


def _leaves(struct: pa.StructType, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], pa.DataType]]:
    for f in struct:
        if pa.types.is_struct(f.type):
            yield from _leaves(f.type, (*prefix, f.name))
        else:
            yield (*prefix, f.name), f.type


def _convert(values: pa.Array, column: Column, ids: pa.Array, table: str) -> pa.Array:
    """`values` (as delivered) cast to the column's type; a value that does not convert raises
    `HubSpotDataError` naming the object and the value."""
    if column.is_property and pa.types.is_string(values.type):
        values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    if column.raw == column.type:
        return values
    if pa.types.is_timestamp(column.type) and pa.types.is_integer(values.type):
        return pc.cast(values, pa.timestamp("ms", tz="UTC")).cast(column.type)
    try:
        return pc.cast(values, column.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        for i, value in enumerate(values.to_pylist()):  # only on failure: find the culprit
            try:
                pc.cast(pa.array([value], values.type), column.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise HubSpotDataError(f"{table} id {ids[i].as_py()}: {column.name}={value!r} is not a "
                                       f"{column.type}{REFUSED}") from exc
        raise


def _table(objects: pa.StructArray, columns: list[Column], table: str, key: str = "id") -> pa.Table:
    ids = pc.struct_field(objects, list(column(columns, key).path))
    arrays = [_convert(pc.struct_field(objects, list(c.path)), c, ids, table) for c in columns]
    return pa.Table.from_arrays(arrays, schema=arrow_schema(columns))


def history_table(objects: pa.StructArray) -> pa.Table:
    """One row per entry of the contacts' `propertiesWithHistory.lifecyclestage`, with the contact's
    id and the entry's position in the list (0 = newest), built column-wise from the list array."""
    lists = pc.struct_field(objects, list(HISTORY_PATH))
    entries = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy()
    # position within its contact's list: parents is sorted, so the first entry of a contact is
    # where its index first appears
    index = np.arange(len(parents)) - np.searchsorted(parents, parents, side="left")
    contact_ids = pc.take(pc.struct_field(objects, ["id"]), pa.array(parents))
    stamp = Column("timestamp", ("timestamp",), TS)
    return pa.Table.from_arrays(
        [contact_ids, pa.array(index, pa.int64()), pc.struct_field(entries, ["value"]),
         _convert(pc.struct_field(entries, ["timestamp"]), stamp, contact_ids, HISTORY_TABLE),
         pc.struct_field(entries, ["sourceType"])],
        schema=HISTORY_SCHEMA)


def submissions_table(objects: pa.StructArray, form_ids: pa.Array) -> pa.Table:
    """The submissions with `form_id` and one text column per submitted field name (first seen
    first), pivoted column-wise: per name, the row each value belongs to."""
    table = _table(objects, SUBMISSION_COLUMNS, "hubspot_form_submissions", key="conversion_id")
    table = table.add_column(1, pa.field("form_id", pa.string()), form_ids)
    values = pc.struct_field(objects, ["values"])
    entries = pc.list_flatten(values)
    if not len(entries):
        return table
    rows = pc.list_parent_indices(values).to_numpy()
    names = pc.struct_field(entries, ["name"])
    texts = pc.struct_field(entries, ["value"])
    for name in dict.fromkeys(n for n in names.unique().to_pylist() if n is not None):
        picked = np.flatnonzero(pc.equal(names, name).to_numpy(zero_copy_only=False))
        where = np.full(table.num_rows, -1, dtype=np.int64)
        where[rows[picked]] = picked  # a field submitted twice: the last value wins
        cells = pc.take(texts, pa.array(where, mask=where < 0))
        # the landed name (dlt's snake_case), never one of our columns or another field's
        target = _NAMING.normalize_identifier(name)
        while target in table.column_names:
            target += "_value"
        table = table.append_column(pa.field(target, pa.string()), cells)
    return table


# ---- incremental cursor ---------------------------------------------------------------------

class Cursor:
    """Client-side incremental filter on a timestamp column, kept in the resource state (i.e. in
    the warehouse, committed with the load): a row lands if its value is after the saved one, or
    equal to it and its id was not landed at that value (the boundary); null values always land."""

    def __init__(self, state: dict, column: str, initial: dt.datetime = EPOCH_DT) -> None:
        saved = state.get(column) or {}
        self.state, self.column = state, column
        self.start = dt.datetime.fromisoformat(saved["last_value"]) if saved else initial
        self.boundary = list(saved.get("ids", []))
        self.resumed = bool(saved)  # a run after a landed one: the contacts are searched, not listed
        self.last, self.last_ids = self.start, set(self.boundary)
        self.listed = self.landed = 0

    def keep(self, values: pa.Array, ids: pa.Array) -> pa.Array:
        """The mask of the rows to land (and the new cursor value noted from them)."""
        start = pa.scalar(self.start, TS)
        newer = pc.greater(values, start)
        at_boundary = pc.and_(pc.equal(values, start), pc.invert(pc.is_in(ids, pa.array(self.boundary, pa.string()))))
        mask = pc.fill_null(pc.or_(newer, at_boundary), True)
        kept = pc.filter(values, mask)
        newest = pc.max(kept).as_py()
        if newest is not None and newest >= self.last:
            at_newest = pc.filter(pc.filter(ids, mask), pc.fill_null(pc.equal(kept, pa.scalar(newest, TS)), False))
            if newest > self.last:
                self.last, self.last_ids = newest, set()
            self.last_ids.update(at_newest.to_pylist())
        self.listed += len(values)
        self.landed += pc.sum(mask).as_py() or 0
        return mask

    def save(self) -> None:
        self.state[self.column] = {"last_value": self.last.isoformat(), "ids": sorted(self.last_ids)}

    def note(self, table: str, how: str = "listed") -> str:
        return f"{table}: {self.listed} {how}, {self.landed} new or changed since {self.start.isoformat()}"


# ---- HTTP paging ----------------------------------------------------------------------------

class HubSpotApiError(RuntimeError):
    """The API answered an error status (after the retries, for 429 and 5xx). `status` is what the
    orchestration's retry policy reads (5xx and 429 transient, other 4xx permanent)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Retry(urllib3.Retry):
    """urllib3's Retry, except that HubSpot's daily limit (429 with `policyName: DAILY`) is final at
    once: it lasts until the account's midnight, so the backoff only burnt ~2 minutes of retries
    (0.5 * 2^n s, no Retry-After) before failing anyway. The 429 then goes to `_request`, which
    says so."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if response is not None and response.status == 429 and b'"DAILY"' in (response.data or b""):
            raise urllib3.exceptions.MaxRetryError(_pool, url, urllib3.exceptions.ResponseError("daily limit"))
        return super().increment(method, url, response, error, _pool, _stacktrace)


class HubSpotClient:
    """Cursor paging over HubSpot list endpoints (`limit`, `after`, `paging.next.after`), the
    search endpoint (`search_changed`) and batch reads.

    urllib3 rather than `requests` (dlt's REST client is built on it): a 95 kB contact page cost
    4.1-4.7 ms of client CPU through requests/dlt's session and 2.7-3.0 ms through urllib3 (of
    which 0.6 ms is the orjson parse), ~40 s over the ~27k requests of 1M leads. Retries are
    urllib3's: 429 and 5xx up to `RETRIES` times, waiting what `Retry-After` says (else an
    exponential backoff), and connection errors; POSTs too, as the search and the batch read
    only read. Thread-safe (one pool, `POOL_SIZE` connections).
    """

    def __init__(self, api: HubSpotApi, retries: int = RETRIES, timeout_s: float | None = None) -> None:
        self.base = api.url.rstrip("/") + "/"
        self.page_size = api.page_size
        self._headers = {"Authorization": f"Bearer {api.token}", "Accept": "application/json"}
        self._post_headers = {**self._headers, "Content-Type": "application/json"}
        # Retry-After honoured up to RETRY_AFTER_MAX_S, not urllib3's 6 h (connectors/_http.py says why)
        retry = _Retry(total=retries, backoff_factor=0.5, backoff_max=60, status_forcelist=RETRY_STATUS,
                       respect_retry_after_header=True, retry_after_max=RETRY_AFTER_MAX_S,
                       allowed_methods=None, raise_on_status=False)
        self._pool = urllib3.PoolManager(maxsize=POOL_SIZE, retries=retry,
                                         timeout=api.timeout_s if timeout_s is None else timeout_s)
        self.retries = retries
        self._count = itertools.count(1)
        self.requests = 0

    def get(self, path: str, query: dict) -> dict:
        """One GET, parsed; an error status raises `HubSpotApiError` with the API's message."""
        # commas left as they are: a query without '%' takes urllib3's fast path, where a percent-
        # encoded one is re-scanned character by character (~0.2 ms of a contact page's ~3 ms)
        url = self.base + path + ("?" + urlencode(query, safe=",") if query else "")
        return self._request("GET", path, url)

    def post(self, path: str, body: dict) -> dict:
        """One POST of a JSON body, parsed; errors as `get`. A 207 (a batch read that missed some
        ids) is a success: its `results` hold what was found."""
        return self._request("POST", path, self.base + path, orjson.dumps(body))

    def _request(self, method: str, path: str, url: str, body: bytes | None = None) -> dict:
        headers = self._headers if body is None else self._post_headers
        response = self._pool.request(method, url, body=body, headers=headers, preload_content=True)
        self.requests = next(self._count)
        if response.status >= 400:
            try:
                body = orjson.loads(response.data)
                message = body.get("message", "")
            except (orjson.JSONDecodeError, AttributeError):
                body, message = {}, response.data[:200].decode("utf-8", "replace")
            raise HubSpotApiError(f"{method} /{path}: HTTP {response.status}: {message}"
                                  f"{self._advice(response.status, body)}", response.status)
        return orjson.loads(response.data)

    def _advice(self, status: int, body: dict) -> str:
        """What to do about an error status, for the run's one-line message (429 and 5xx come
        here only once the retries are spent). Nothing of an API error is loaded, the cursors stay."""
        if status == 401:
            return ("; the API refused the token: set a valid LTC_MARKETING_API_TOKEN (a private app's token "
                    "changes when it is rotated) and re-run")
        if status == 403:
            return "; the token lacks the scope for this endpoint: grant it to the app and re-run"
        if status == 429 and isinstance(body, dict) and body.get("policyName") == "DAILY":
            return ("; the account's daily API limit is used up: nothing from this run was loaded, re-run "
                    "after it resets at midnight (the HubSpot account's time zone)")
        if status == 429 or status >= 500:
            return (f"; still failing after {self.retries} retries with backoff: nothing from this run was "
                    "loaded, re-run later")
        return ""

    def pages(self, path: str, params: dict | None = None, limit: int | None = None,
              stop: threading.Event | None = None) -> Iterator[list[dict]]:
        query = {**(params or {}), "limit": limit or self.page_size}
        while stop is None or not stop.is_set():
            body = self.get(path, query)
            yield body.get("results") or []
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            query["after"] = after

    def search_changed(self, path: str, since: dt.datetime,
                       stop: threading.Event | None = None) -> Iterator[list[dict]]:
        """Pages of the objects whose `lastmodifieddate` is at or after `since` (`id` and that
        property only), oldest first, each object once.

        A search returns at most `SEARCH_CAP` results; at the cap it starts again from the last
        value seen, and the objects already seen at that value are skipped (a set of every id
        found, which also drops an object that changed again and moved to the end while paging).
        A whole window at one instant (a bulk import) would never move on that way: then the next
        search takes the rest of that instant by `hs_object_id` (the second sort), then what
        follows it (a second filter group: groups are ORed)."""
        seen: set[str] = set()
        since_ms, tie_id, after = _epoch_ms(since), None, None
        while stop is None or not stop.is_set():
            body = self.post(path + "/search", _search_request(since_ms, tie_id, after))
            results = body.get("results") or []
            fresh = [r for r in results if r["id"] not in seen]
            seen.update(r["id"] for r in fresh)
            if fresh:
                yield fresh
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after or not results:
                return
            if int(after) >= SEARCH_CAP:
                since_ms, tie_id = _restart(since_ms, results[-1])
                after = None

    def batch_read(self, path: str, ids: list[str], properties: Iterable[str],
                   history: Iterable[str] = ()) -> list[dict]:
        """The objects of `ids` (at most `BATCH_READ_LIMIT`), shaped as the list returns them; ids
        not found (deleted since the search) are left out."""
        body = self.post(path + "/batch/read", {"inputs": [{"id": i} for i in ids], "properties": list(properties),
                                                "propertiesWithHistory": list(history)})
        return body.get("results") or []

    def prefetched(self, jobs: list[tuple[str, str, dict | None, int | None]], workers: int = 1,
                   depth: int = PREFETCH_PAGES) -> Iterator[tuple[str, list[dict]]]:
        """(job key, page) for every page of every `(key, path, params, limit)` job, fetched by
        `workers` threads while the caller converts and lands what it got (up to `depth` pages
        ahead). The pages of one job keep their order; jobs interleave. A worker's error is raised
        here; leaving early stops the workers."""
        sources = [(key, functools.partial(self.pages, path, params, limit)) for key, path, params, limit in jobs]
        return self.prefetched_from(sources, workers, depth)

    def prefetched_from(self, sources: list[tuple[str, Callable[[threading.Event], Iterator[list]]]],
                        workers: int = 1, depth: int = PREFETCH_PAGES) -> Iterator[tuple[str, list]]:
        """As `prefetched`, for any `(key, pages)` source: `pages(stop)` yields the pages."""
        out: queue.Queue = queue.Queue(maxsize=depth)
        stop = threading.Event()
        todo = iter(sources)
        lock = threading.Lock()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def work() -> None:
            try:
                while not stop.is_set():
                    with lock:
                        job = next(todo, None)
                    if job is None:
                        return
                    key, pages = job
                    for page in pages(stop):
                        if not put((key, page)):
                            return
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                put(exc)
            finally:
                put(_DONE)

        threads = [threading.Thread(target=work, name=f"hubspot-fetch-{i}", daemon=True)
                   for i in range(max(1, min(workers, len(sources))))]
        for t in threads:
            t.start()
        running = len(threads)
        try:
            while running:
                item = out.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=5)


_DONE = object()
_ASCENDING = [{"propertyName": LAST_MODIFIED, "direction": "ASCENDING"},
              {"propertyName": "hs_object_id", "direction": "ASCENDING"}]


def _submission_pages(client: "HubSpotClient", form_id: str, since_ms: int,
                      stop: threading.Event) -> Iterator[list[dict]]:
    """A form's submission pages, newest first (HubSpot lists them in reverse-chronological
    order), ending with the first page that reaches below `since_ms`: every later page is older
    still, so nothing in it is new for the cursor. A first load (cursor at the epoch) reads all."""
    for page in client.pages(SUBMISSIONS_PATH.format(form_id=form_id), None, SUBMISSIONS_LIMIT, stop):
        yield page
        oldest = min((s["submittedAt"] for s in page if s.get("submittedAt") is not None), default=None)
        if oldest is not None and int(oldest) < since_ms:
            return


def _epoch_ms(value: dt.datetime) -> int:
    return (value - EPOCH_DT) // dt.timedelta(milliseconds=1)


def _search_request(since_ms: int, tie_id: str | None, after: str | None) -> dict:
    """The search body: changed at or after `since_ms`; with `tie_id`, at `since_ms` only the ids
    after it (one filter group), or later (the other: groups are ORed)."""
    def where(operator: str, value: object) -> dict:
        return {"propertyName": LAST_MODIFIED, "operator": operator, "value": str(value)}

    groups = [{"filters": [where("GTE", since_ms)]}] if tie_id is None else [
        {"filters": [where("EQ", since_ms), {"propertyName": "hs_object_id", "operator": "GT", "value": tie_id}]},
        {"filters": [where("GT", since_ms)]}]
    body = {"filterGroups": groups, "sorts": _ASCENDING, "properties": [LAST_MODIFIED], "limit": SEARCH_LIMIT}
    return body if after is None else {**body, "after": after}


def _restart(since_ms: int, last: dict) -> tuple[int, str | None]:
    """Where the next search starts after a capped one ended on `last`: at its value; or, when
    the whole window was at `since_ms`, at that value after `last`'s id."""
    value = (last.get("properties") or {}).get(LAST_MODIFIED)
    last_ms = _epoch_ms(dt.datetime.fromisoformat(value.replace("Z", "+00:00"))) if value else since_ms
    return (since_ms, last["id"]) if last_ms <= since_ms else (last_ms, None)


def batched(pages: Iterable[tuple[str, list]], rows: int = BATCH_ROWS) -> Iterator[tuple[list, pa.Array]]:
    """Join `(key, page)` pages until a batch holds at least `rows` items: (the items, each
    item's key as an Arrow array)."""
    items: list = []
    keys: list[str] = []
    lengths: list[int] = []

    def flush():
        return items, pa.array(np.repeat(np.array(keys, dtype=object), lengths), pa.string())

    for key, page in pages:
        items.extend(page)
        keys.append(key)
        lengths.append(len(page))
        if len(items) >= rows:
            yield flush()
            items, keys, lengths = [], [], []
    if items:
        yield flush()


# ---- resources ------------------------------------------------------------------------------

HISTORY_HINTS = dict(table_name=HISTORY_TABLE, write_disposition="merge", merge_key="contact_id",
                     primary_key=["contact_id", "history_index"])


def _listing(client: HubSpotClient, name: str, path: str, params: dict, columns: list[Column],
             notes: list[str], extra: Callable[[pa.StructArray], Iterator] | None = None,
             extra_paths: dict | None = None, search: Callable[[Cursor], Callable] | None = None):
    """The generator of a listed object type, incremental on `updatedAt`. With `search`, a run
    after a landed one takes its pages from `search(cursor)` (the changed objects only, already
    filtered by the cursor) instead of listing them all."""
    raw_type = _raw_type(columns, extra_paths)
    updated_at = column(columns, "updated_at")

    def rows():
        cursor = Cursor(dlt.current.resource_state().setdefault("cursor", {}), "updated_at")
        searched = search is not None and cursor.resumed
        pages = client.prefetched_from([(name, search(cursor))]) if searched else \
            client.prefetched([(name, path, params, None)])
        for batch, _ in batched(pages):
            objects = _objects_array(batch, raw_type, name)
            if not searched:
                ids = pc.struct_field(objects, ["id"])
                objects = objects.filter(cursor.keep(_convert(pc.struct_field(objects, ["updatedAt"]), updated_at,
                                                              ids, name), ids))
            if not len(objects):
                continue
            yield _table(objects, columns, name)
            if extra is not None:
                yield from extra(objects)
        cursor.save()
        notes.append(cursor.note(name, "found by search" if searched else "listed"))

    return rows


def _changed_contacts(client: HubSpotClient) -> Callable[[Cursor], Callable[[threading.Event], Iterator[list]]]:
    """The pages of an incremental contacts run: the contacts the search finds changed since the
    cursor, those the cursor keeps (its boundary ids dropped), read with their stage history
    `BATCH_READ_LIMIT` at a time. The cursor moves on the search's values, not the batch read's:
    a contact changed again in between is read newer, and searched again by the next run."""
    last_modified = column(CONTACT_COLUMNS, LAST_MODIFIED)

    def kept_ids(cursor: Cursor, found: list[dict]) -> list[str]:
        ids = pa.array([r["id"] for r in found], pa.string())
        values = pa.array([(r.get("properties") or {}).get(LAST_MODIFIED) for r in found], pa.string())
        return pc.filter(ids, cursor.keep(_convert(values, last_modified, ids, "hubspot_contacts"), ids)).to_pylist()

    def source(cursor: Cursor) -> Callable[[threading.Event], Iterator[list]]:
        def pages(stop: threading.Event) -> Iterator[list]:
            # runs in the fetching thread; the resource reads the cursor only once the pages ended
            for found in client.search_changed(CONTACTS_PATH, cursor.start, stop):
                ids = kept_ids(cursor, found)
                for i in range(0, len(ids), BATCH_READ_LIMIT):
                    yield client.batch_read(CONTACTS_PATH, ids[i:i + BATCH_READ_LIMIT], CONTACT_PROPERTIES,
                                            ("lifecyclestage",))
        return pages

    return source


def _history(first_load: bool) -> Callable[[pa.StructArray], Iterator]:
    hints = dict(HISTORY_HINTS, write_disposition="append") if first_load else HISTORY_HINTS

    def tables(objects: pa.StructArray) -> Iterator:
        table = history_table(objects)
        if table.num_rows:
            yield dlt.mark.with_hints(table, dlt.mark.make_hints(**hints), create_table_variant=True)

    return tables


def upgrade_nested_history(pipeline: dlt.Pipeline, notes: list[str]) -> bool:
    """A warehouse landed by the previous connector (dlt's `rest_api` source) holds the history as
    a dlt nested table (`_dlt_root_id`, `_dlt_parent_id`, `_dlt_list_idx`, NOT NULL); the Arrow
    table cannot merge into it (the run would stop at extract). Drop `hubspot_contacts` with its
    nested table and its state, as `dlt pipeline ltc_marketing drop hubspot_contacts` would: the
    contacts cursor is new anyway (see `Cursor`), so this run lands every contact and its history
    again. Returns whether it dropped them."""
    from dlt.pipeline.helpers import pipeline_drop

    def history() -> dict | None:
        if "marketing" not in pipeline.schema_names:
            return None
        return pipeline.schemas["marketing"].tables.get(HISTORY_TABLE)

    if pipeline.has_pending_data:
        return False  # `connectors.ingest` loads those first; the next run upgrades
    local = history()
    if local is not None and not local.get("parent"):
        return False  # the local schema already has the Arrow table: no round trip to the warehouse
    pipeline.sync_destination()
    if not (history() or {}).get("parent"):
        return False
    pipeline_drop(pipeline, resources=["hubspot_contacts"], schema_name="marketing")()
    notes.append(f"{HISTORY_TABLE}: was a dlt nested table (previous connector); dropped it and "
                 "hubspot_contacts to land both again in the current shape")
    return True


def prepare_landing(pipeline: dlt.Pipeline, contacts: bool, notes: list[str]) -> set[str]:
    """Before a run: upgrade a warehouse with the nested history (when `contacts` are landed this
    run, see `upgrade_nested_history`), then the API tables that are empty or missing (their first
    load appends, see `hubspot_resources`)."""
    from connectors.landing import empty_tables

    if contacts:
        upgrade_nested_history(pipeline, notes)
    return empty_tables(pipeline, list(TABLES))


def hubspot_resources(api: HubSpotApi, notes: list[str], first_loads: Iterable[str] = ()) -> list:
    """The API's resources. `first_loads`: tables that are empty or missing; their first load
    appends rather than merges: the keys are unique within a listing, so the result is the same
    without dlt's staging copy and delete-insert (100k leads, 418k rows: load step 13.2 s → 5.8 s,
    normalize 1.5 s → 0.4 s, on a loaded machine)."""
    client = HubSpotClient(api)
    notes.append(f"marketing api: {api.url}")
    first_loads = set(first_loads)

    def keyed(table: str, key: str = "id") -> dict:
        return dict(name=table, primary_key=key, write_disposition="append" if table in first_loads else "merge")

    campaigns = dlt.resource(
        _listing(client, "hubspot_campaigns", CAMPAIGNS_PATH, {"properties": ",".join(CAMPAIGN_PROPERTIES)},
                 CAMPAIGN_COLUMNS, notes),
        **keyed("hubspot_campaigns"))
    contacts = dlt.resource(
        _listing(client, "hubspot_contacts", CONTACTS_PATH,
                 {"properties": ",".join(CONTACT_PROPERTIES), "propertiesWithHistory": "lifecyclestage",
                  "archived": "false"},
                 CONTACT_COLUMNS, notes, extra=_history(HISTORY_TABLE in first_loads),
                 extra_paths={HISTORY_PATH: pa.list_(HISTORY_ENTRY)}, search=_changed_contacts(client)),
        **keyed("hubspot_contacts"))
    forms = dlt.resource(_listing(client, "hubspot_forms", FORMS_PATH, {}, FORM_COLUMNS, notes),
                         **keyed("hubspot_forms"))

    @dlt.resource(**keyed("hubspot_form_submissions", "conversion_id"))
    def form_submissions():
        """Every form's submissions (all forms, changed or not), newer than the newest landed."""
        cursor = Cursor(dlt.current.resource_state().setdefault("cursor", {}), "submitted_at")
        raw_type = _raw_type(SUBMISSION_COLUMNS, {("values",): SUBMISSION_VALUES})
        form_ids = [f["id"] for page in client.pages(FORMS_PATH) for f in page]
        since_ms = _epoch_ms(cursor.start)
        sources = [(f, functools.partial(_submission_pages, client, f, since_ms)) for f in form_ids]
        pages = client.prefetched_from(sources, workers=SUBMISSION_WORKERS)
        for batch, batch_form_ids in batched(pages):
            objects = _objects_array(batch, raw_type, "hubspot_form_submissions")
            ids = pc.struct_field(objects, ["conversionId"])
            submitted = _convert(pc.struct_field(objects, ["submittedAt"]), column(SUBMISSION_COLUMNS, "submitted_at"), ids,
                                 "hubspot_form_submissions")
            mask = cursor.keep(submitted, ids)
            objects = objects.filter(mask)
            if len(objects):
                yield submissions_table(objects, pc.filter(batch_form_ids, mask))
        cursor.save()
        notes.append(cursor.note("hubspot_form_submissions") + f" over {len(form_ids)} forms")

    return [campaigns, contacts, forms, form_submissions]
