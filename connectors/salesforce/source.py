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
yielded; `403 REQUEST_LIMIT_EXCEEDED` → stop with `SalesforceLimitError` (nothing from this run is
loaded, so the saved cursors stay where they were).
"""

from __future__ import annotations

import datetime as dt
from typing import Callable, Iterable, Iterator

import dlt
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connectors.salesforce.extract import (
    FieldSpec,
    RecordConverter,
    build_soql,
    column_hints,
    cursor_field,
    iter_pages,
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
    """The org's API request limit is exhausted (403 REQUEST_LIMIT_EXCEEDED)."""


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


def _translate(obj: str, exc: Exception) -> Exception:
    code = _error_code(exc)
    if isinstance(exc, SalesforceRefusedRequest) and code == "REQUEST_LIMIT_EXCEEDED":
        return SalesforceLimitError(
            "Salesforce API request limit exceeded (403 REQUEST_LIMIT_EXCEEDED); nothing from this run "
            "was loaded and cursors are unchanged: re-run after the org's limit resets"
        )
    return SalesforceExtractError(f"Salesforce refused {obj} ({code or type(exc).__name__}): {_error_message(exc)}")


def describe_object(holder: ClientHolder, obj: str) -> list[FieldSpec]:
    for _ in range(2):
        try:
            return select_fields(getattr(holder.client, obj).describe())
        except SalesforceExpiredSession:
            holder.rebuild()
        except (SalesforceRefusedRequest, SalesforceMalformedRequest, SalesforceResourceNotFound) as exc:
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
) -> Iterator[list[dict]]:
    """Pages of one window; on an expired session, rebuild the client once and resume at the last
    cursor value already yielded (`>=`, so ties are re-read and merged, never skipped)."""
    cursor_col = snake(cursor)
    resume_from = lower
    while True:
        soql = build_soql(obj, names, cursor, resume_from, upper)
        try:
            for page in iter_pages(holder.client, soql, convert):
                yield page
                resume_from = page[-1][cursor_col] or resume_from  # ORDER BY cursor: last is max
            return
        except SalesforceExpiredSession:
            holder.rebuild()
        except (SalesforceRefusedRequest, SalesforceMalformedRequest, SalesforceResourceNotFound) as exc:
            raise _translate(obj, exc) from exc


def _object_resource(
    holder: ClientHolder,
    obj: str,
    run_start: dt.datetime,
    notes: list[str],
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
        yield from _pages_with_refresh(holder, obj, names, cursor, lower, run_start, convert)

    records.__doc__ = f"One row per Salesforce {obj} (deleted included); merge on id, cursor {cursor}."
    return records


@dlt.source(name="salesforce", max_table_nesting=0)
def salesforce_source(
    client_factory: Callable[[], Salesforce],
    objects: Iterable[str] = DEFAULT_OBJECTS,
    run_start: dt.datetime | None = None,
    notes: list[str] | None = None,
):
    """One resource per object. `client_factory` builds a fresh authenticated client (called again
    once if the session expires). `notes` collects the cursor window of each object."""
    run_start = run_start or dt.datetime.now(dt.timezone.utc)
    notes = notes if notes is not None else []
    holder = ClientHolder(client_factory)
    return [_object_resource(holder, obj, run_start, notes) for obj in objects]
