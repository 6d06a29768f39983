"""dlt source for Salesforce: one merge resource per object, incremental on SystemModstamp.

Semantics per resource (table `raw_salesforce.<object_snake>`):
- grain: one row per record `id`, deleted records included (`is_deleted = true`, via queryAll);
- `write_disposition="merge"` on `id`, so re-reading a row updates it instead of adding one;
- cursor `system_modstamp` kept by `dlt.sources.incremental` in the pipeline state (which dlt stores
  in the warehouse next to the data), `range_start="closed"` and `lag=LOOKBACK_SECONDS`: each run
  reads `[last cursor − 10 min, run start)` so same-second ties and late commits are not lost;
- the upper bound is in the SOQL itself (not dlt's `end_value`, which would leave the state alone),
  so the saved cursor can never pass rows that were still being written when the run started.

Failure handling: `INVALID_SESSION_ID` → rebuild the client once and resume from the last row
yielded; `403 REQUEST_LIMIT_EXCEEDED`, or fewer than `api_reserve_pct` % of the daily requests left
(read from `Sforce-Limit-Info` after every page) → stop with `SalesforceLimitError`; 5xx/420/429 are
retried by the transport (`connectors/_http.py`) and, once its bound is spent, stop with
`SalesforceExtractError`. A stopped run loads nothing, so the saved cursors stay where they were.

Schema drift: describe runs every time; the field list is kept in the resource state, and fields
added or removed since the last committed run are reported in the notes (a new field becomes a new
column; a removed field's column stays, null for rows landed from then on).
"""

from __future__ import annotations

import datetime as dt
from typing import Callable, Iterable, Iterator

import dlt
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connectors.salesforce.bulk import choose_pages
from connectors.salesforce.extract import (
    iter_pages,
    FieldSpec,
    RecordConverter,
    build_soql,
    column_hints,
    cursor_field,
    select_fields,
    snake,
)

DEFAULT_OBJECTS = (
    "User",
    "Campaign",
    "Lead",
    "CampaignMember",
    "Account",
    "Contact",
    "Opportunity",
    "OpportunityHistory",
    "Contract",
    "Order",
)
LOOKBACK_SECONDS = 600  # 10 min overlap, as Airbyte: SystemModstamp can lag the commit


class SalesforceLimitError(RuntimeError):
    """The org's API request limit is exhausted (403 REQUEST_LIMIT_EXCEEDED) or the requests left
    fell below the configured reserve (`LTC_SF_API_RESERVE_PCT`)."""


class SalesforceExtractError(RuntimeError):
    """Salesforce refused a describe or query; the message carries its errorCode."""


def table_name(obj: str) -> str:
    return snake(obj)


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
                "Salesforce session expired again after re-authenticating; refresh the credentials "
                "(SALESFORCE_ACCESS_TOKEN or the connected app) and re-run"
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
    return SalesforceExtractError(f"Salesforce refused {obj} ({code or type(exc).__name__}): {_error_message(exc)}")


def describe_object(holder: ClientHolder, obj: str) -> list[FieldSpec]:
    for _ in range(2):
        try:
            return select_fields(getattr(holder.client, obj).describe())
        except SalesforceExpiredSession:
            holder.rebuild()
        except (SalesforceRefusedRequest, SalesforceMalformedRequest, SalesforceResourceNotFound,
                SalesforceGeneralError) as exc:
            raise _translate(obj, exc) from exc
    raise SalesforceExtractError(f"could not describe {obj}")


def _pages_with_refresh(
    holder: ClientHolder,
    obj: str,
    names: list[str],
    cursor: str,
    lower: dt.datetime | None,
    upper: dt.datetime,
    convert: RecordConverter,
    guard: QuotaGuard | None = None,
    *,
    bulk_threshold: int = 0,
    notes: list[str] | None = None,
) -> Iterator[list[dict]]:
    """Pages of one window, through Bulk 2.0 when `bulk_threshold` > 0 and the window holds at
    least that many rows, else REST. On an expired session, rebuild the client once and resume at the last cursor value
    already yielded (`>=`, so ties are re-read and merged, never skipped)."""
    cursor_col = snake(cursor)
    resume_from = lower
    while True:
        soql = build_soql(obj, names, cursor, resume_from, upper)
        try:
            pages = (
                choose_pages(holder.client, obj, soql, convert, bulk_threshold=bulk_threshold, notes=notes)
                if bulk_threshold > 0
                else iter_pages(holder.client, soql, convert)
            )
            for page in pages:
                if guard is not None:
                    guard.check(holder.client, obj)
                yield page
                resume_from = page[-1][cursor_col] or resume_from  # ORDER BY cursor: last is max
            return
        except SalesforceExpiredSession:
            holder.rebuild()
        except (SalesforceRefusedRequest, SalesforceMalformedRequest, SalesforceResourceNotFound,
                SalesforceGeneralError) as exc:
            raise _translate(obj, exc) from exc


def _object_resource(
    holder: ClientHolder,
    obj: str,
    run_start: dt.datetime,
    notes: list[str],
    guard: QuotaGuard | None = None,
    bulk_threshold: int = 0,
):
    fields = describe_object(holder, obj)
    if not any(f.name == "Id" for f in fields):
        raise SalesforceExtractError(f"describe of {obj} has no Id field")
    cursor = cursor_field(fields)
    names = [f.name for f in fields]
    convert = RecordConverter(fields)
    table = table_name(obj)

    @dlt.resource(
        name=table,
        table_name=table,
        write_disposition="merge",
        primary_key="id",
        columns=column_hints(fields),
        max_table_nesting=0,
    )
    def records(
        modstamp=dlt.sources.incremental(snake(cursor), range_start="closed", lag=LOOKBACK_SECONDS),
    ) -> Iterable[list[dict]]:
        lower = modstamp.start_value  # last committed cursor minus the lookback (None on first run)
        notes.append(
            f"{table}: {cursor} >= {lower.isoformat() if lower else '-inf'} and < {run_start.isoformat()}"
        )
        _note_schema_drift(dlt.current.resource_state(), table, names, notes)
        yield from _pages_with_refresh(
            holder, obj, names, cursor, lower, run_start, convert, guard,
            bulk_threshold=bulk_threshold, notes=notes,
        )

    records.__doc__ = f"One row per Salesforce {obj} (deleted included); merge on id, cursor {cursor}."
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


@dlt.source(name="salesforce", max_table_nesting=0)
def salesforce_source(
    client_factory: Callable[[], Salesforce],
    objects: Iterable[str] = DEFAULT_OBJECTS,
    run_start: dt.datetime | None = None,
    notes: list[str] | None = None,
    api_reserve_pct: float = 10.0,
    bulk_threshold: int = 0,
):
    """One resource per object. `client_factory` builds a fresh authenticated client (called again
    once if the session expires). `notes` collects the cursor window of each object and schema
    drift. The run stops once fewer than `api_reserve_pct` % of the daily API requests remain.
    With `bulk_threshold` > 0, a window of at least that many rows is read through Bulk 2.0 (REST
    as the fallback); 0 reads everything through REST."""
    run_start = run_start or dt.datetime.now(dt.timezone.utc)
    notes = notes if notes is not None else []
    holder = ClientHolder(client_factory)
    guard = QuotaGuard(api_reserve_pct)
    return [_object_resource(holder, obj, run_start, notes, guard, bulk_threshold) for obj in objects]
