"""Which ingest failures are worth retrying, and how long to wait before each retry.

Why this module exists: until issue 6 the ingest ops carried `RetryPolicy(max_retries=2)`, which
re-ran a step after ANY exception. A missing `LTC_ERP_URL` was retried twice (20 s and two more
red events for a failure that only a person can fix), while a Salesforce outage got 5 + 15 s.
Here one pure function, `classify_failure`, reads the exception chain and says whether the failure
is transient (network errors, HTTP 5xx/429, Salesforce REQUEST_LIMIT_EXCEEDED / SERVER_UNAVAILABLE
/ UNABLE_TO_LOCK_ROW, a DuckDB file lock held by another process, a lost database connection) or
not (bad configuration, unreadable files, the API quota reserve, anything unknown).

Mechanism, chosen over "keep RetryPolicy and raise Failure(allow_retries=False) for the rest":
the op raises `dg.RetryRequested(seconds_to_wait=...)` itself for a transient failure, and
`dg.Failure(allow_retries=False)` with the failure's own message for everything else. Deciding in
the op lets the wait depend on the kind of failure (a rate limit needs minutes, a file lock
seconds) and take its count and base from settings at run time; and with no RetryPolicy on the op
nothing is retried implicitly (Dagster also re-runs a policy-carrying step after a run is
interrupted). `allow_retries=False` keeps a permanent failure final even if a job-level
`op_retry_policy` is added later. Failed blocking checks are not seen here at all: Dagster raises
`DagsterAssetCheckFailedError` after the op body, outside any retry handling, so they fail the
step at once.

Unknown exceptions count as permanent on purpose: re-running a whole ingest for a bug costs API
quota and hides the bug behind retry noise; a new transient kind is added to the tables below.
"""

from __future__ import annotations

import http.client
import re
import socket
import sqlite3
import urllib.error
from dataclasses import dataclass
from typing import Iterator, Sequence
from urllib.parse import urlsplit

import dagster as dg
import requests
import urllib3.exceptions

from connectors.salesforce.errors import SalesforceConfigError, SalesforceLimitError
from connectors.values import FileFormatError

# HTTP statuses that mean "try again later" (the connectors' transport retries the same set on
# GETs for seconds, connectors/_http.py; this is the step-level retry, minutes apart).
TRANSIENT_HTTP_STATUSES = frozenset({408, 420, 425, 429, 500, 502, 503, 504})
# Salesforce errorCodes that clear by themselves (REST API "Status Codes and Error Responses"):
# the rolling 24 h request limit or the concurrent-request limit, maintenance, record locks.
SALESFORCE_TRANSIENT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"})
# PostgreSQL SQLSTATEs of transient failures: connection exceptions (class 08), serialization
# failure, deadlock, lock not available, admin/crash shutdown, cannot connect now.
_PG_TRANSIENT_SQLSTATES = ("08", "40001", "40P01", "55P03", "57P01", "57P02", "57P03")
# DuckDB allows one read-write process per file: a second writer gets this IOException. SQLite
# (the sandbox ERP) says "database is locked". Both go away when the other writer finishes.
_LOCK_MESSAGES = re.compile(r"Could not set lock on file|Conflicting lock is held|database is locked", re.I)
_SF_CODE_IN_TEXT = re.compile(r"\b(" + "|".join(sorted(SALESFORCE_TRANSIENT_CODES)) + r")\b")

# The longest single wait between two attempts, seconds (an ingest should not sleep for hours).
MAX_WAIT_S = 900.0
# Salesforce rate limits: waits are this many times the base (10 s base: 1, 2, 4 minutes).
RATE_LIMIT_FACTOR = 6.0


@dataclass(frozen=True)
class Verdict:
    """What to do about a failure: retry it (`transient`) or stop; `reason` says why, for logs."""

    transient: bool
    reason: str
    delay_factor: float = 1.0


def _transient(reason: str, factor: float = 1.0) -> Verdict:
    return Verdict(True, reason, factor)


def _permanent(reason: str) -> Verdict:
    return Verdict(False, reason)


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then its causes, outermost first (explicit `from` or implicit context; no cycles).

    `run_ingest` wraps the library errors in `IngestError` and dlt wraps them in
    `PipelineStepFailed`, so the informative exception is usually a few links down."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries: simple-salesforce `.status`, requests
    `.response.status_code`, urllib `.code`, or a plain `.status_code`."""
    for value in (getattr(exc, "status", None), getattr(exc, "status_code", None),
                  getattr(getattr(exc, "response", None), "status_code", None)):
        if isinstance(value, int) and 100 <= value <= 599:
            return value
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code
    return None


def _salesforce_code(exc: BaseException) -> str | None:
    """The Salesforce errorCode of a simple-salesforce error (`.content[0].errorCode`), else one
    named in the message (our own SalesforceExtractError/LimitError quote it)."""
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        code = str(content[0].get("errorCode", ""))
        if code:
            return code
    match = _SF_CODE_IN_TEXT.search(str(exc))
    return match.group(1) if match else None


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a certificate problem does not heal by waiting
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                        requests.exceptions.ChunkedEncodingError)):
        return True
    if isinstance(exc, (urllib3.exceptions.ProtocolError, urllib3.exceptions.TimeoutError,
                        urllib3.exceptions.NewConnectionError)):
        return True
    # builtin ConnectionError covers refused/reset/aborted and http.client.RemoteDisconnected
    if isinstance(exc, (ConnectionError, TimeoutError, http.client.IncompleteRead)):
        return True
    if isinstance(exc, socket.gaierror):
        return exc.errno == socket.EAI_AGAIN  # "temporary failure in name resolution" only
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return isinstance(exc.reason, (ConnectionError, TimeoutError, socket.timeout))
    return False


def _database_verdict(exc: BaseException) -> Verdict | None:
    if _LOCK_MESSAGES.search(str(exc)):
        return _transient("the database file is locked by another writer")
    if type(exc).__name__ == "TransactionException" and type(exc).__module__.startswith(("duckdb", "_duckdb")):
        return _transient("DuckDB transaction conflict")
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy: the connection was lost
        return _transient("the database connection was lost")
    sqlstate = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_PG_TRANSIENT_SQLSTATES):
        return _transient(f"PostgreSQL SQLSTATE {sqlstate}")
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return _transient("the SQLite database is locked")
    return None


def _permanent_types() -> tuple[type[BaseException], ...]:
    # imported here: connectors.landing pulls in dlt, which this module should not need to load
    from connectors.erp.mapping import ErpMappingError
    from connectors.landing import LandingConfigError

    return (SalesforceConfigError, LandingConfigError, ErpMappingError, FileFormatError)


def _judge(exc: BaseException) -> Verdict | None:
    """The verdict one link of the chain gives, or None when it says nothing either way."""
    if isinstance(exc, _permanent_types()):
        return _permanent(f"configuration or input error ({type(exc).__name__})")
    if isinstance(exc, SalesforceLimitError):
        if "REQUEST_LIMIT_EXCEEDED" in str(exc):
            return _transient("Salesforce REQUEST_LIMIT_EXCEEDED", RATE_LIMIT_FACTOR)
        # LTC_SF_API_RESERVE_PCT is a deliberate stop: retrying minutes later only spends the reserve
        return _permanent("the Salesforce API quota reserve (LTC_SF_API_RESERVE_PCT) was reached")
    code = _salesforce_code(exc)
    if code in SALESFORCE_TRANSIENT_CODES:
        return _transient(f"Salesforce {code}", RATE_LIMIT_FACTOR if code == "REQUEST_LIMIT_EXCEEDED" else 1.0)
    database = _database_verdict(exc)
    if database is not None:
        return database
    if _is_network_error(exc):
        return _transient(f"network error ({type(exc).__name__})")
    status = _http_status(exc)
    if status is not None:
        if status in TRANSIENT_HTTP_STATUSES:
            return _transient(f"HTTP {status}", RATE_LIMIT_FACTOR if status in (420, 429) else 1.0)
        return _permanent(f"HTTP {status}")
    return None


def classify_failure(exc: BaseException) -> Verdict:
    """Transient or permanent, from the first link of the exception chain that tells (outermost
    first, so our own errors, which name the setting to fix, win over the library errors they wrap)."""
    for link in exception_chain(exc):
        verdict = _judge(link)
        if verdict is not None:
            return verdict
    return _permanent(f"not a known transient failure ({type(exc).__name__})")


def backoff_seconds(retry_number: int, base_s: float, factor: float = 1.0, cap_s: float = MAX_WAIT_S) -> float:
    """Exponential backoff: the wait before retry `retry_number + 1` (0 for the first retry) is
    `base_s * factor * 2**retry_number`, capped at `cap_s`."""
    return float(min(cap_s, base_s * factor * 2 ** max(0, retry_number)))


def one_line(exc: BaseException) -> str:
    """The exception's message (its first line, which our errors use for the fix), or its type."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _secret_parts(secret: str) -> list[str]:
    """A secret and, when it is a URL, the parts that are secret on their own: the password of a
    DSN (`postgresql://user:pw@host/db`) and the path of a webhook (which usually is the token)."""
    parts = [secret]
    if "://" in secret:
        url = urlsplit(secret)
        if url.password:
            parts.append(url.password)
        if len(url.path) > 1 and url.password is None:
            parts.append(url.path)
    return parts


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret value replaced by `***` (longest first, so no fragment survives)."""
    values = {part for secret in secrets if secret for part in _secret_parts(secret) if len(part) >= 4}
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def retry_or_fail(exc: Exception, retry_number: int, *, max_retries: int, base_delay_s: float,
                  secrets: Sequence[str] = (), log=None) -> Exception:
    """The exception an op should raise for `exc` on attempt `retry_number + 1`:
    `dg.RetryRequested` with a growing wait while a transient failure has retries left, else
    `dg.Failure(allow_retries=False)` with the message. Dagster's own control flow passes through."""
    if isinstance(exc, (dg.RetryRequested, dg.Failure, dg.DagsterError)):
        return exc
    verdict = classify_failure(exc)
    message = redact(one_line(exc), secrets)
    if verdict.transient and retry_number < max_retries:
        wait = backoff_seconds(retry_number, base_delay_s, verdict.delay_factor)
        if log is not None:
            log.warning(f"transient failure ({verdict.reason}): {message}; retry {retry_number + 1} of "
                        f"{max_retries} in {wait:g} s")
        return dg.RetryRequested(max_retries=max_retries, seconds_to_wait=wait)
    if verdict.transient:
        message = f"{message} (still failing after {max_retries} retries: {verdict.reason})"
    return dg.Failure(description=message, allow_retries=False,
                      metadata={"transient": verdict.transient, "reason": verdict.reason})
