"""Shared HTTP transport for the API connectors.

simple-salesforce (and most vendor SDKs) neither retry, back off nor set timeouts, and they always
rebuild `https://` URLs. Fixing that at the transport keeps the client libraries unmodified: we hand
them a `requests.Session` whose mounted adapter

* sets a default (connect, read) timeout on every request,
* retries idempotent GETs on transient statuses (5xx, 420, 429) and connection errors with
  exponential backoff, honouring `Retry-After` up to `RETRY_AFTER_MAX_S`; POSTs are never retried
  (e.g. a Bulk job creation is not idempotent),
* reads a GET's body inside the adapter and asks again (`BODY_RETRIES` times) when it arrives cut
  short or stalls mid-body: urllib3's retries end once the headers are in, so a dropped connection
  mid-body used to surface from simple-salesforce as a bare `ChunkedEncodingError`,
* optionally rewrites `https://` to `http://` for one host, so a local plain-HTTP fake (or an
  `http://` SALESFORCE_INSTANCE_URL) works with the library exactly as in production.

`trust_env=False` keeps `HTTP(S)_PROXY` / `REQUESTS_CA_BUNDLE` from the environment out of the way.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

DEFAULT_TIMEOUT = (10.0, 120.0)  # seconds: connect, read (a 2000-row page can take a while)
RETRY_STATUSES = frozenset({420, 429, 500, 502, 503, 504})
BODY_RETRIES = 2  # further attempts of a GET whose body was cut short or timed out mid-body
# The longest wait one `Retry-After` may impose. urllib3 honours it up to 6 h by default
# (`Retry.DEFAULT_RETRY_AFTER_MAX` = 21600 s), so a 429/503 saying "Retry-After: 3600" parked an
# ingest in a silent sleep for an hour per retry, five retries in all (found while writing the
# checklist #6 tests, tests/reliability/test_checklist_salesforce.py). Longer waits belong to the
# step-level retry (orchestration/defs/automation/retries.py: minutes apart, logged), not to a
# GET stuck inside simple-salesforce. At the cap a GET blocks at most 5 x 60 s.
RETRY_AFTER_MAX_S = 60


def default_retry(
    total: int = 5,
    backoff_factor: float = 0.5,
    backoff_jitter: float = 0.5,
    backoff_max: float = 30.0,
    retry_after_max: int = RETRY_AFTER_MAX_S,
) -> Retry:
    """GET-only retry, at most `total` retries (so `total + 1` attempts), then the last error
    response goes to the client. urllib3 retries the first failure at once, then waits
    `backoff_factor * 2**(n-1)` (1, 2, 4, 8 s by default) plus up to `backoff_jitter` s of random
    jitter, capped at `backoff_max`, unless the server says `Retry-After`, which is honoured up
    to `retry_after_max` s. Tests pass a tiny factor."""
    return Retry(
        total=total,
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_jitter,
        backoff_max=backoff_max,
        retry_after_max=retry_after_max,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        # hand the last error response to the client library so it raises its own typed exception
        raise_on_status=False,
    )


class TimeoutHTTPAdapter(HTTPAdapter):
    """HTTPAdapter with a default timeout (requests has none: a dead peer would hang forever)."""

    def __init__(self, *args, timeout=DEFAULT_TIMEOUT, **kwargs):
        self.timeout = timeout
        super().__init__(*args, **kwargs)

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if kwargs.get("stream") or request.method not in ("GET", "HEAD"):
            return super().send(request, **kwargs)
        for attempt in range(BODY_RETRIES + 1):
            response = super().send(request, **kwargs)
            try:
                response.content  # read it here, where a body cut short can still be asked for again
                return response
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
                response.close()
                if attempt == BODY_RETRIES:
                    raise
        raise AssertionError("unreachable")


class HttpsToHttpAdapter(TimeoutHTTPAdapter):
    """Sends `https://<anything>` to `http://<target_netloc>`, keeping path and query.

    Mounted on the https prefix of the configured host only, so nothing else is redirected.
    """

    def __init__(self, target_netloc: str, *args, **kwargs):
        self.target_netloc = target_netloc
        super().__init__(*args, **kwargs)

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        if parts.scheme == "https":
            rest = request.url.split("://", 1)[1]
            path = rest[len(parts.netloc):]
            request.url = f"http://{self.target_netloc}{path}"
        return super().send(request, **kwargs)


def make_session(
    base_url: str | None = None,
    *,
    timeout=DEFAULT_TIMEOUT,
    retry: Retry | None = None,
    extra_https_hosts: tuple[str, ...] = (),
) -> requests.Session:
    """A session with timeouts and GET retries; if `base_url` is `http://host:port`, https calls
    to that host (and to `extra_https_hosts`, e.g. a login host) are rewritten to plain http."""
    session = requests.Session()
    session.trust_env = False
    retry = retry or default_retry()
    plain = TimeoutHTTPAdapter(timeout=timeout, max_retries=retry)
    session.mount("https://", plain)
    session.mount("http://", plain)
    if base_url and urlsplit(base_url).scheme == "http":
        netloc = urlsplit(base_url).netloc
        rewrite = HttpsToHttpAdapter(netloc, timeout=timeout, max_retries=retry)
        # requests picks the longest matching prefix, so this wins over the generic "https://"
        for host in (netloc, *extra_https_hosts):
            session.mount(f"https://{host}/", rewrite)
    return session
