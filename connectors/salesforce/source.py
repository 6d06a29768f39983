"""dlt source for Salesforce: one resource per object, incremental on SystemModstamp.

Semantics per resource (table `raw_salesforce.<object_snake>`):
- grain: one row per record `id`, deleted records included (`is_deleted = true`, via queryAll);
- `write_disposition="merge"` on `id`, so re-reading a row updates it instead of adding one;
  history objects without a SystemModstamp (OpportunityFieldHistory) are read on `CreatedDate`
  and only inserted (`insert-only`: the overlap re-read cannot duplicate a row);
- cursor kept by `dlt.sources.incremental` in the pipeline state (which dlt stores in the warehouse
  next to the data, so it commits only together with the data it covers), `range_start="closed"`
  and `lag=lookback` (600 s by default, `LTC_SF_LOOKBACK_S`): each run reads
  `[last cursor − lookback, run start)` so same-second ties and late commits are not lost;
- the upper bound is in the SOQL itself (not dlt's `end_value`, which would leave the state alone),
  so the saved cursor can never pass rows that were still being written when the run started;
- a window of at least `LTC_SF_BULK_THRESHOLD` rows (the first REST page's `totalSize` says) is
  read through Bulk API 2.0 as Arrow tables; REST is the fallback;
- hard deletes, which no query returns any more, come from getDeleted into `deleted_records`.

Failure handling: `INVALID_SESSION_ID` → rebuild the client once and resume from the last row
yielded; `403 REQUEST_LIMIT_EXCEEDED`, or fewer than `api_reserve_pct` % of the daily requests left
(read from `Sforce-Limit-Info` after every REST page and before every Bulk job) → stop reading
(`RunStop`): what was read so far loads with its cursor, then the run fails with the quota error;
5xx/420/429 and timeouts are retried by the transport (`connectors/_http.py`) and, once its bound is
spent, stop the run with `SalesforceExtractError` and nothing loaded.

Schema drift: describe runs every time; the field list is kept in the resource state, and fields
added or removed since the last committed run are reported in the notes (a new field becomes a new
column; a removed field's column stays, null for rows landed from then on). A value whose type
changed (text in a currency, date or boolean field) stops the run at extract, naming the table,
record, column and value (`_typed_page`): nothing lands, no cursor moves, never a variant column.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable, Iterable, Iterator

import dlt
import pyarrow as pa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connectors.salesforce.bulk import choose_pages
from connectors.salesforce.errors import SalesforceExtractError, SalesforceLimitError  # noqa: F401 - re-exported
from connectors.salesforce.errors import changed_type
from connectors.salesforce.extract import (
    HISTORY_CURSOR,
    FieldSpec,
    RecordConverter,
    arrow_schema,
    build_soql,
    column_hints,
    cursor_field,
    parse_datetime,
    select_fields,
    snake,
)
from connectors.salesforce.objects import (  # noqa: F401 - re-exported
    DEFAULT_OBJECTS,
    DELETED_TABLE,
    OPTIONAL_OBJECTS,
    configured_objects,
    table_name,
)
from connectors.settings import Settings

LOOKBACK_SECONDS = 600  # 10 min overlap, as Airbyte: SystemModstamp can lag the commit


def _error_code(exc: Exception) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", ""))
    return ""


def _error_message(exc: Exception) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message", "")).splitlines()[-1][:200]
    return str(exc)[:200]


class ClientHolder:
    """Owns the client; `rebuild()` replaces it (new token) at most once per run."""

    def __init__(self, factory: Callable[[], Salesforce]):
        self._factory = factory
        self.client = factory()
        self.rebuilds = 0

    def rebuild(self) -> None:
        if self.rebuilds >= 1:
            raise SalesforceExtractError(
                "Salesforce refused the session (401 INVALID_SESSION_ID) again after re-authenticating once: "
                "the credentials are wrong or expired; set a fresh SALESFORCE_ACCESS_TOKEN (or the connected "
                "app's SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET) and re-run"
            )
        self.rebuilds += 1
        self.client = self._factory()


class QuotaGuard:
    """Stops the run once fewer than `reserve_pct` % of the org's daily API requests remain, as
    reported by `Sforce-Limit-Info` (simple-salesforce parses it into `sf.api_usage` on every REST
    call through `Salesforce._call_salesforce`, i.e. every query page)."""

    def __init__(self, reserve_pct: float):
        self.reserve_pct = float(reserve_pct)
        self.last: tuple[int, int] | None = None  # (used, max) seen last

    def check(self, client: Salesforce, obj: str) -> None:
        usage = (getattr(client, "api_usage", None) or {}).get("api-usage")
        if usage is None:
            return
        used, total = int(usage.used), int(usage.total)
        self.last = (used, total)
        remaining = total - used
        if total > 0 and remaining < total * self.reserve_pct / 100:
            raise SalesforceLimitError(
                f"Salesforce API quota reserve reached while reading {obj}: {remaining} of {total} daily "
                f"requests left, below the {self.reserve_pct:g}% reserve (LTC_SF_API_RESERVE_PCT); nothing "
                "from this run was loaded and cursors are unchanged: re-run after the org's limit resets"
            )


def _translate(obj: str, exc: Exception) -> Exception:
    code = _error_code(exc)
    if isinstance(exc, SalesforceRefusedRequest) and code == "REQUEST_LIMIT_EXCEEDED":
        return SalesforceLimitError(
            "Salesforce API request limit exceeded (403 REQUEST_LIMIT_EXCEEDED); nothing from this run "
            "was loaded and cursors are unchanged: re-run after the org's limit resets"
        )
    if isinstance(exc, SalesforceGeneralError) and not isinstance(
        exc, (SalesforceRefusedRequest, SalesforceMalformedRequest, SalesforceResourceNotFound, SalesforceExpiredSession)
    ):
        status = getattr(exc, "status", "?")
        return SalesforceExtractError(
            f"Salesforce kept answering HTTP {status} ({code or 'no error code'}) for {obj} after the "
            "transport's retries with backoff; nothing from this run was loaded and cursors are "
            "unchanged: re-run later"
        )
    if not code:  # no readable errorCode (e.g. a body cut short): say what to check, as for a coded refusal
        status = getattr(exc, "status", "?")
        return SalesforceExtractError(
            f"Salesforce refused {obj} (HTTP {status}, {type(exc).__name__}, no readable error code); nothing "
            "from this run was loaded and cursors are unchanged: re-run, and if it persists check the "
            "integration user's access to the object and the org's API limits")
    return SalesforceExtractError(f"Salesforce refused {obj} ({code or type(exc).__name__}): {_error_message(exc)}")


def _call(holder: ClientHolder, what: str, call: Callable[[Salesforce], object]):
    """One API call (describe, getDeleted, ...) with the run's single re-authentication, and the
    library's errors turned into ours (simple-salesforce's SFType calls never refresh a session)."""
    while True:
        try:
            return call(holder.client)
        except SalesforceExpiredSession:
            holder.rebuild()  # raises on the second expiry
        except (SalesforceRefusedRequest, SalesforceMalformedRequest, SalesforceResourceNotFound,
                SalesforceGeneralError) as exc:
            raise _translate(what, exc) from exc


def describe_object(holder: ClientHolder, obj: str) -> list[FieldSpec]:
    return select_fields(_call(holder, obj, lambda sf: getattr(sf, obj).describe()))


class RunStop:
    """Shared by the resources of one run: once the API quota stops one object, the objects after
    it read nothing. What was read before the stop is loaded with its cursor (REST pages come in
    cursor order, so the last row read is a safe checkpoint), and `run_ingest` then raises the
    quota error so the run still ends red, with the message that says when to re-run."""

    def __init__(self) -> None:
        self.error: SalesforceLimitError | None = None
        self.skipped: list[str] = []

    def raise_if_stopped(self) -> None:
        if self.error is not None:
            skipped = f"; not read this run: {', '.join(self.skipped)}" if self.skipped else ""
            raise SalesforceLimitError(
                f"{self.error} (rows read before the stop were loaded and their cursors saved, so the "
                f"next run continues from there{skipped})"
            )


def _pages_with_refresh(
    holder: ClientHolder,
    obj: str,
    fields: list[FieldSpec],
    cursor: str,
    lower: dt.datetime | None,
    upper: dt.datetime,
    convert: RecordConverter,
    guard: QuotaGuard | None = None,
    *,
    bulk_threshold: int = 0,
    notes: list[str] | None = None,
    stop: RunStop | None = None,
) -> Iterator[pa.Table]:
    """Pages of one window as Arrow tables: REST pages (in cursor order), or Bulk 2.0 pages when
    `bulk_threshold` > 0 and the window holds at least that many rows.

    On an expired session, rebuild the client once and resume: REST at the last cursor value
    already yielded (`>=`, so ties are re-read and merged, never skipped), Bulk from the window's
    start (its pages need not be in cursor order; the merge on `id` absorbs the re-read).
    On the quota (403 REQUEST_LIMIT_EXCEEDED or the reserve), record it in `stop` and end the
    object here: the REST rows read so far are a complete prefix of the window in cursor order.
    """
    cursor_col = snake(cursor)
    names = [f.name for f in fields]
    schema = arrow_schema(fields)
    resume_from = lower
    arrow_pages = 0

    def check_quota() -> None:
        if guard is not None:
            guard.check(holder.client, obj)

    while True:
        soql = build_soql(obj, names, cursor, resume_from, upper)
        try:
            for page in choose_pages(holder.client, obj, soql, convert, fields, bulk_threshold=bulk_threshold,
                                     notes=notes, before_bulk=check_quota):
                if isinstance(page, pa.Table):
                    arrow_pages += 1
                    yield page
                    continue
                check_quota()
                last = page[-1][cursor_col]  # ORDER BY cursor: the last row holds the max
                # as Arrow, typed like a Bulk page: dlt then writes Parquet instead of normalizing
                # row by row (the JSON normalizer spent 27 of 57 s landing 43k rows at 10k leads)
                yield _typed_page(page, schema, table_name(obj), fields)
                resume_from = last or resume_from
            return
        except SalesforceExpiredSession:
            holder.rebuild()
            if arrow_pages:
                resume_from = lower
        except SalesforceLimitError as exc:
            _stop(stop, exc, arrow_pages)
            return
        except (SalesforceRefusedRequest, SalesforceMalformedRequest, SalesforceResourceNotFound,
                SalesforceGeneralError) as exc:
            translated = _translate(obj, exc)
            if not isinstance(translated, SalesforceLimitError):
                raise translated from exc
            _stop(stop, translated, arrow_pages)
            return


def _typed_page(page: list[dict], schema: pa.Schema, table: str, fields: list[FieldSpec]) -> pa.Table:
    """A REST page as an Arrow table typed from describe. A value that does not fit its column (a
    changed type: "12.5k" in a currency field, "yes" in a boolean, a number in a text field) stops
    the run here, at extract, naming the record and the column (`changed_type`): Arrow would only
    say "int or Decimal object expected, got str", and a dict row would have let dlt land the value
    in a variant column (`amount__v_text`) that staging never reads, a silent NULL downstream."""
    try:
        return pa.Table.from_pylist(page, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        kinds = {f.column: f.type for f in fields}
        for field in schema:  # only on failure: find the culprit, column by column
            values = [row.get(field.name) for row in page]
            try:
                pa.array(values, type=field.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
                for row, value in zip(page, values):
                    try:
                        pa.array([value], type=field.type)
                    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
                        raise changed_type(table, row.get("id"), field.name, value,
                                           kinds.get(field.name, field.type)) from exc
        raise


def _stop(stop: RunStop | None, exc: SalesforceLimitError, arrow_pages: int) -> None:
    if stop is None or arrow_pages:
        # Bulk pages need not come in cursor order, so a partial Bulk read is no checkpoint:
        # fail the whole run (nothing loads, every cursor stays)
        raise exc
    stop.error = exc


def _resource_options(cursor: str) -> dict:
    """Objects with a modification stamp merge on `id`; immutable history rows (no SystemModstamp,
    no LastModifiedDate: read on CreatedDate) are only ever inserted, and the overlap re-read of the
    lookback cannot duplicate them (`insert-only` skips ids already landed)."""
    if cursor == HISTORY_CURSOR:
        return {"write_disposition": {"disposition": "merge", "strategy": "insert-only"}}
    return {"write_disposition": "merge"}


def _object_resource(
    holder: ClientHolder,
    obj: str,
    run_start: dt.datetime,
    notes: list[str],
    guard: QuotaGuard | None = None,
    bulk_threshold: int = 0,
    stop: RunStop | None = None,
    lookback_s: int = LOOKBACK_SECONDS,
):
    fields = describe_object(holder, obj)
    if not any(f.name == "Id" for f in fields):
        raise SalesforceExtractError(f"describe of {obj} has no Id field")
    try:
        cursor = cursor_field(fields)
    except ValueError as exc:
        raise SalesforceExtractError(f"{obj}: {exc}") from exc
    names = [f.name for f in fields]
    convert = RecordConverter(fields, table_name(obj))
    table = table_name(obj)
    stop = stop or RunStop()

    @dlt.resource(
        name=table,
        table_name=table,
        primary_key="id",
        columns=column_hints(fields),
        max_table_nesting=0,
        **_resource_options(cursor),
    )
    def records(
        modstamp=dlt.sources.incremental(snake(cursor), range_start="closed", lag=lookback_s),
    ) -> Iterable[list[dict] | pa.Table]:
        if stop.error is not None:  # the quota stopped an earlier object: read nothing, keep the cursor
            stop.skipped.append(obj)
            return
        lower = modstamp.start_value  # last committed cursor minus the lookback (None on first run)
        notes.append(
            f"{table}: {cursor} >= {lower.isoformat() if lower else '-inf'} and < {run_start.isoformat()}"
        )
        _note_schema_drift(dlt.current.resource_state(), table, names, notes)
        yield from _pages_with_refresh(
            holder, obj, fields, cursor, lower, run_start, convert, guard,
            bulk_threshold=bulk_threshold, notes=notes, stop=stop,
        )

    kind = "insert-only on id" if cursor == HISTORY_CURSOR else "merge on id"
    records.__doc__ = f"One row per Salesforce {obj} (deleted included); {kind}, cursor {cursor}."
    return records


def _note_schema_drift(state: dict, table: str, names: list[str], notes: list[str]) -> None:
    """Compare this run's describe with the field list of the last committed run (resource state;
    a failed run commits no state, so nothing is reported twice or lost)."""
    previous = state.get("fields")
    if previous is not None:
        added = [n for n in names if n not in previous]
        removed = [n for n in previous if n not in names]
        if added:
            notes.append(f"{table}: new field(s) in describe since the last run, landed as new columns: "
                         f"{', '.join(added)}")
        if removed:
            notes.append(f"{table}: field(s) removed from describe since the last run, no longer extracted "
                         f"(their columns stay, null for rows landed from now on): {', '.join(removed)}")
    state["fields"] = list(names)


# ---- hard deletes through getDeleted ------------------------------------------------------------

GET_DELETED_DAYS = 15  # getDeleted serves ~15 days back (the Recycle Bin); an older start is an error
# setup objects are not replicated through getDeleted (Fivetran stopped using it for CurrencyType:
# deactivated currencies came back as "deleted"); history rows are never deleted one by one
NO_GET_DELETED = frozenset({"CurrencyType", "DatedConversionRate"})


def _deleted_ids(holder: ClientHolder, obj: str, start: dt.datetime, end: dt.datetime) -> list[dict]:
    answer = _call(holder, obj, lambda sf: getattr(sf, obj).deleted(start, end))
    return list(answer.get("deletedRecords") or [])


def _deleted_resource(holder: ClientHolder, objects: list[str], run_start: dt.datetime, notes: list[str],
                      stop: RunStop, lookback_s: int):
    """`deleted_records`: one row per (object, id) that getDeleted reports as deleted.

    queryAll already lands soft-deleted rows with `is_deleted = true` while they sit in the Recycle
    Bin; getDeleted also names records that were hard-deleted or purged from the bin, which no
    query returns any more. They land here as tombstones (the object's own row stays as last seen:
    nothing landed is ever removed) and staging marks them deleted. The window per object is
    `[last checked − lookback, run start)`, kept in the resource state, so it commits with the data.
    """
    earliest = run_start - dt.timedelta(days=GET_DELETED_DAYS) + dt.timedelta(minutes=5)

    @dlt.resource(
        name=DELETED_TABLE,
        table_name=DELETED_TABLE,
        write_disposition="merge",
        primary_key=("sobject", "id"),
        columns={
            "sobject": {"data_type": "text", "nullable": False},
            "id": {"data_type": "text", "nullable": False},
            "deleted_date": {"data_type": "timestamp", "timezone": True},
            "detected_at": {"data_type": "timestamp", "timezone": True},
        },
    )
    def deleted_records() -> Iterable[list[dict]]:
        """One row per (sobject, id) getDeleted reported: hard deletes no query returns any more."""
        checked = dlt.current.resource_state().setdefault("checked_until", {})
        for obj in objects:
            if stop.error is not None:
                return
            previous = checked.get(obj)
            start = earliest
            if previous is not None:
                start = dt.datetime.fromisoformat(previous) - dt.timedelta(seconds=lookback_s)
                if start < earliest:
                    notes.append(
                        f"{DELETED_TABLE}: {obj} last checked {previous}; getDeleted reaches back only "
                        f"{GET_DELETED_DAYS} days, so records hard-deleted before {earliest:%Y-%m-%d %H:%M} "
                        "UTC cannot be seen: reload the object (drop its raw table) to reconcile"
                    )
                    start = earliest
            rows = [
                {"sobject": obj, "id": r["id"], "deleted_date": parse_datetime(r.get("deletedDate")),
                 "detected_at": run_start}
                for r in _deleted_ids(holder, obj, start, run_start)
            ]
            checked[obj] = run_start.isoformat()
            if rows:
                notes.append(f"{DELETED_TABLE}: {len(rows)} {obj} record(s) reported by getDeleted")
                yield rows

    return deleted_records


# ---- the source ------------------------------------------------------------------------------------

def _org_objects(holder: ClientHolder) -> set[str]:
    answer = _call(holder, "the global describe", lambda sf: sf.describe())
    return {o["name"] for o in answer.get("sobjects") or [] if o.get("queryable", True)}


def available_objects(holder: ClientHolder, objects: list[str], notes: list[str]) -> list[str]:
    """`objects` minus the optional ones this org does not have (noted). The global describe is
    read only when an optional object is asked for; a required object that is missing fails in its
    own describe with the org's error."""
    if not any(o in OPTIONAL_OBJECTS for o in objects):
        return list(objects)
    present = _org_objects(holder)
    kept = []
    for obj in objects:
        if obj in OPTIONAL_OBJECTS and obj not in present:
            notes.append(f"{table_name(obj)}: skipped, {obj} is not in this org ({OPTIONAL_OBJECTS[obj]})")
            continue
        kept.append(obj)
    return kept


@dlt.source(name="salesforce", max_table_nesting=0)
def salesforce_source(
    client_factory: Callable[[], Salesforce],
    objects: Iterable[str] = DEFAULT_OBJECTS,
    run_start: dt.datetime | None = None,
    notes: list[str] | None = None,
    api_reserve_pct: float = 10.0,
    bulk_threshold: int = 0,
    stop: RunStop | None = None,
    lookback_s: int = LOOKBACK_SECONDS,
    deletes: bool = True,
):
    """One resource per object, plus `deleted_records` (getDeleted) when `deletes`.

    `client_factory` builds a fresh authenticated client (called again once if the session
    expires). `notes` collects the cursor window of each object, schema drift, skipped optional
    objects and the API used. The run stops once fewer than `api_reserve_pct` % of the daily API
    requests remain (`stop` records it; see `RunStop`). A window of at least `bulk_threshold` rows
    is read through Bulk 2.0 (REST as the fallback); 0 reads everything through REST."""
    run_start = run_start or dt.datetime.now(dt.timezone.utc)
    notes = notes if notes is not None else []
    stop = stop or RunStop()
    holder = ClientHolder(client_factory)
    guard = QuotaGuard(api_reserve_pct)
    chosen = available_objects(holder, list(objects), notes)
    resources = [
        _object_resource(holder, obj, run_start, notes, guard, bulk_threshold, stop, lookback_s) for obj in chosen
    ]
    watched = [o for o in chosen if o not in NO_GET_DELETED and not o.endswith("History")]
    if deletes and watched:
        resources.append(_deleted_resource(holder, watched, run_start, notes, stop, lookback_s))
    return resources
