"""A local fake of the HubSpot APIs the marketing connector reads, serving the sandbox company.

Why a fake: the connector must be tested against the wire contract it will meet (bearer auth, cursor
paging, 429s), offline and deterministic. What it serves is derived from the generated Salesforce
org (`connectors.sandbox.marketing_data`), so HubSpot and Salesforce agree on campaigns and leads.

Endpoints (the subset of HubSpot we read, with HubSpot's shapes):
- `GET /marketing/v3/campaigns`                         campaigns (`properties`, `createdAt`, `updatedAt`)
- `GET /crm/v3/objects/contacts`                        contacts; `properties=a,b` limits the properties
  returned, `propertiesWithHistory=lifecyclestage` adds the stage history (newest first)
- `POST /crm/v3/objects/contacts/search`                the contacts matching `filterGroups` (OR of groups,
  AND of a group's `filters` `{propertyName, operator, value}`), sorted by `sorts`, `properties` as
  asked; `{total, results, paging.next.after}`. `limit` at most 200, `after` an offset (as text), and
  like HubSpot at most 10,000 results per search (`search_cap`): a request whose `after` reaches the
  cap answers 400 `VALIDATION_ERROR`, so a client must narrow its filter and search again
- `POST /crm/v3/objects/contacts/batch/read`            up to 100 contacts by id (`inputs: [{id}]`),
  `properties` and `propertiesWithHistory` as in the list; unknown ids: HTTP 207 with `errors`
- `GET /marketing/v3/forms`                             forms
- `GET /form-integrations/v1/submissions/forms/{id}`    a form's submissions (`submittedAt` in ms), newest first

Every list pages like HubSpot: `limit` (default 10, at most 100) and an opaque `after` cursor, with
`paging.next.after` (and `link`) in the body while more remain. Auth is `Authorization: Bearer
<token>` (401 `INVALID_AUTHENTICATION` otherwise). Rate limiting: `requests_per_second` (None = off)
answers 429 with HubSpot's `RATE_LIMIT` body and a `Retry-After` header beyond it, and
`fail_next(n, status, skip=k)` scripts faults for resilience tests, after `k` good answers: an HTTP
status (429 with Retry-After, 401 `INVALID_AUTHENTICATION`, 5xx), `"daily"` (HubSpot's daily limit:
429 with `policyName: DAILY`, no Retry-After), `"timeout"` (the answer stalls `stall_s` seconds, past
a client's read timeout) or `"truncated"` (Content-Length announces more bytes than are sent). The data is mutable for incremental
tests: `update_contact(id, **properties)` bumps `updatedAt` and `lastmodifieddate`.

Where the search simplifies HubSpot: filters on `lastmodifieddate`, `createdate` (values in epoch
ms or ISO 8601) and `hs_object_id` only, operators EQ, NEQ, GT, GTE, LT, LTE; every sort given is
applied (HubSpot may honour only the first: the connector needs the id order within one instant
only when more than a whole window of results share it); no `query` text search; the index is
current (HubSpot's lags writes by a few seconds) and has no separate rate limit (HubSpot allows a
few searches per second per token, beyond which the client waits out the 429s).

Threaded HTTP server on 127.0.0.1, port 0 by default (any free port); a context manager, like
`FakeSalesforce`. Standard library only.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.sandbox.marketing_data import HubSpotData, derive, hs_time
from connectors.settings import Settings

DEFAULT_TOKEN = "sandbox-hubspot-token"
MAX_LIMIT = 100
SEARCH_MAX_LIMIT = 200
SEARCH_CAP = 10_000  # HubSpot returns at most this many results of one search
BATCH_MAX_INPUTS = 100
DEFAULT_CONTACT_PROPERTIES = ["email", "firstname", "lastname", "createdate", "lastmodifieddate"]
# the filterable properties of this fake: how a contact's value is read, and a filter's value parsed
_SEARCHABLE = {
    "lastmodifieddate": (lambda c: c["properties"].get("lastmodifieddate"), lambda v: _hs_instant(v)),
    "createdate": (lambda c: c["properties"].get("createdate"), lambda v: _hs_instant(v)),
    "hs_object_id": (lambda c: int(c["id"]), lambda v: int(v)),
}
_OPERATORS = {"EQ": lambda a, b: a == b, "NEQ": lambda a, b: a != b, "GT": lambda a, b: a > b,
              "GTE": lambda a, b: a >= b, "LT": lambda a, b: a < b, "LTE": lambda a, b: a <= b}


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"pos:{position}".encode()).decode().rstrip("=")


def _position(after: str) -> int:
    try:
        text = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode()
        if not text.startswith("pos:"):
            raise ValueError
        return int(text[4:])
    except (ValueError, UnicodeDecodeError):
        raise _ApiError(400, "VALIDATION_ERROR", f"Invalid 'after' cursor {after!r}") from None


class _ApiError(Exception):
    def __init__(self, status: int, category: str, message: str) -> None:
        super().__init__(message)
        self.status, self.category, self.message = status, category, message


class FakeHubSpot:
    """The sandbox's marketing automation behind a local HubSpot-style API (see the module docstring)."""

    def __init__(self, data_dir: Path | None = None, *, port: int = 0, access_token: str = DEFAULT_TOKEN,
                 data: HubSpotData | None = None, requests_per_second: int | None = None,
                 retry_after_s: int = 1, search_cap: int = SEARCH_CAP, stall_s: float = 2.0) -> None:
        if data is None:
            data = derive(Path(data_dir) if data_dir is not None else Settings.from_env().sandbox_dir)
        self.data = data
        self.port = port
        self.access_token = access_token
        self.requests_per_second = requests_per_second
        self.retry_after_s = retry_after_s
        self.search_cap = search_cap  # a small cap lets a test reach it cheaply
        self.stall_s = stall_s  # how long a "timeout" fault keeps the client waiting
        self.requests: list[str] = []  # "GET /path?query", for tests
        self._lock = threading.RLock()
        self._faults: list[list] = []  # [status or fault kind, good answers still to give first]
        self._index: tuple[int, int, dict[str, dict]] = (0, 0, {})  # (list identity, length, by id)
        self._last_search: tuple[str, list[dict]] = ("", [])  # (filters and sorts, sorted matches)
        self._window: tuple[int, int] = (0, 0)  # (second, requests in it)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None

    # -- test controls ------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int | str = 429, *, skip: int = 0) -> None:
        """After `skip` more good answers (e.g. mid-paging), the next `n` requests get `status`: 429
        (with Retry-After), 401, 5xx, "daily", "timeout" or "truncated" (see the module docstring)."""
        with self._lock:
            self._faults.extend([[status, skip if i == 0 else 0] for i in range(n)])

    def _next_fault(self) -> int | str | None:
        """The scripted fault for this request, if its turn has come (call with the lock held)."""
        if not self._faults:
            return None
        head = self._faults[0]
        if head[1] > 0:
            head[1] -= 1
            return None
        return self._faults.pop(0)[0]

    def update_contact(self, contact_id: str, **properties: Any) -> dict:
        """Change a contact's properties now (bumps `updatedAt`/`lastmodifieddate`)."""
        with self._lock:
            contact = self._contacts_by_id()[contact_id]
            now = hs_time(dt.datetime.now(dt.timezone.utc))
            contact["properties"].update(properties, lastmodifieddate=now)
            contact["updatedAt"] = now
            return copy.deepcopy(contact)

    # -- server -------------------------------------------------------------------------------

    def start(self) -> "FakeHubSpot":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", self.port), handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hubspot", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeHubSpot":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests -------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str],
               body: bytes = b"") -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append(f"{method} {target}")
            if headers.get("authorization") != f"Bearer {self.access_token}":
                return 401, _error("INVALID_AUTHENTICATION", "Authentication credentials not found. This API "
                                   "supports OAuth 2.0 authentication ..."), {}
            status = self._next_fault()
            if status == 429:
                return 429, _rate_limit(), {"Retry-After": str(self.retry_after_s)}
            if status == "daily":
                return 429, _rate_limit("DAILY"), {}
            if status == 401:
                return 401, _error("INVALID_AUTHENTICATION", "The OAuth token used to make this call expired"), {}
            if isinstance(status, int):
                return status, _error("INTERNAL_ERROR", "internal error"), {}
            marker = {"X-Fake-Fault": status} if status else {}  # "timeout" / "truncated": done in _serve
            if self.requests_per_second is not None:
                second = int(time.monotonic())
                start, used = self._window
                used = used + 1 if start == second else 1
                self._window = (second, used)
                if used > self.requests_per_second:
                    return 429, _rate_limit(), {"Retry-After": str(self.retry_after_s)}
        parts = urlsplit(target)
        path = parts.path.rstrip("/")
        try:
            with self._lock:
                if method == "POST":
                    status, payload, extra = self._post(path, body)
                elif method != "GET":
                    return 405, _error("VALIDATION_ERROR", f"{method} is not supported here"), {}
                else:
                    status, payload, extra = self._get(path, {k: v[-1] for k, v in parse_qs(parts.query).items()})
                return status, payload, {**extra, **marker}
        except _ApiError as exc:
            return exc.status, _error(exc.category, exc.message), {}

    def _get(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if path == "/marketing/v3/campaigns":
            return 200, self._page(self.data.campaigns, query, path), {}
        if path == "/crm/v3/objects/contacts":
            # the page first, then the views of its contacts only: viewing every contact
            # for each page made a full listing quadratic (100k leads: > 10 min)
            body = self._page(self.data.contacts, query, path)
            body["results"] = [self._contact_view(c, _names(query.get("properties")),
                                                  _names(query.get("propertiesWithHistory")))
                               for c in body["results"]]
            return 200, body, {}
        if path == "/marketing/v3/forms":
            return 200, self._page(self.data.forms, query, path), {}
        prefix = "/form-integrations/v1/submissions/forms/"
        if path.startswith(prefix):
            form_id = path[len(prefix):]
            if form_id not in self.data.submissions:
                return 404, _error("OBJECT_NOT_FOUND", f"form {form_id} does not exist"), {}
            return 200, self._page(self.data.submissions[form_id], query, path, default_limit=20), {}
        return 404, _error("OBJECT_NOT_FOUND", f"no route for {path}"), {}

    def _post(self, path: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        if path == "/crm/v3/objects/contacts/search":
            return 200, self._search(_json_body(raw)), {}
        if path == "/crm/v3/objects/contacts/batch/read":
            return self._batch_read(_json_body(raw))
        return 404, _error("OBJECT_NOT_FOUND", f"no route for POST {path}"), {}

    def _page(self, items: list[dict], query: dict[str, str], path: str, default_limit: int = 10) -> dict:
        try:
            limit = int(query.get("limit", default_limit))
        except ValueError:
            raise _ApiError(400, "VALIDATION_ERROR", "limit must be a number") from None
        limit = max(1, min(MAX_LIMIT, limit))
        start = _position(query["after"]) if "after" in query else 0
        # a slice, not a deep copy: the views mutate nothing, and contacts (the only objects that
        # change, under the lock) are served as fresh views; deep-copying every item cost about
        # half of the fake's CPU at 1M leads
        body: dict[str, Any] = {"results": items[start:start + limit]}
        if start + limit < len(items):
            after = _cursor(start + limit)
            body["paging"] = {"next": {"after": after, "link": f"{self.url}{path}?after={after}&limit={limit}"}}
        return body

    @staticmethod
    def _contact_view(contact: dict, properties: list[str], history: list[str]) -> dict:
        """Like HubSpot: only the properties asked for (default a few), history only when asked.
        A fresh object (the lists copied too): it is serialised after the lock is released."""
        props = contact["properties"]
        view = {"id": contact["id"], "properties": {p: props.get(p) for p in properties or DEFAULT_CONTACT_PROPERTIES},
                "createdAt": contact["createdAt"], "updatedAt": contact["updatedAt"], "archived": contact["archived"]}
        if history:
            view["propertiesWithHistory"] = {p: list(contact["propertiesWithHistory"].get(p, [])) for p in history}
        return view

    def _contacts_by_id(self) -> dict[str, dict]:
        """The contacts by id, rebuilt when the list was replaced or grew (tests edit contacts in
        place, which keeps their ids); a scan per batch read cost ~0.1 s at 1M contacts."""
        contacts = self.data.contacts
        ident, length, by_id = self._index
        if ident != id(contacts) or length != len(contacts):
            by_id = {c["id"]: c for c in contacts}
            self._index = (id(contacts), len(contacts), by_id)
        return by_id

    def _search(self, request: dict) -> dict:
        """`POST .../contacts/search`: filter, sort, then the window `after`..`after + limit`, never
        past `search_cap` (a scan of every contact per search, not per page: `_matches`)."""
        limit = _bounded(request.get("limit", 10), SEARCH_MAX_LIMIT)
        start = _offset(request.get("after"))
        if start >= self.search_cap:
            raise _ApiError(400, "VALIDATION_ERROR", f"Search results are limited to {self.search_cap} "
                            f"(after={start}): narrow the filters and search again")
        matches = self._matches(request, fresh=start == 0)
        end = min(start + limit, len(matches), self.search_cap)
        body: dict[str, Any] = {
            "total": len(matches),
            "results": [self._contact_view(c, _names(request.get("properties")), []) for c in matches[start:end]]}
        if end < len(matches):  # also at the cap: HubSpot hands out that `after`, then refuses it
            body["paging"] = {"next": {"after": str(end)}}
        return body

    def _matches(self, request: dict, fresh: bool) -> list[dict]:
        """The contacts the request's filters select, in its sort order. A search's first page
        scans every contact; its later pages (`after` > 0) page through that same result when
        the filters and sorts are the same, instead of scanning again: at 1M leads a scan with
        its sort took ~0.5-1 s, so an incremental run's ~50 pages cost ~40 s of the fake's time.
        A later page thus sees the contacts as they were at the first (HubSpot's own paging over a
        changing set is no more exact)."""
        key = json.dumps([request.get("filterGroups"), request.get("sorts")], sort_keys=True, default=str)
        if not fresh and self._last_search[0] == key:
            return self._last_search[1]
        groups = _groups(request.get("filterGroups") or [])
        matches = [c for c in self.data.contacts if _matches(c, groups)]
        for sort in reversed(request.get("sorts") or [{"propertyName": "hs_object_id"}]):
            read = _searchable(sort.get("propertyName"))[0]
            descending = sort.get("direction", "ASCENDING") == "DESCENDING"
            matches.sort(key=lambda c: (read(c) is None, read(c)), reverse=descending)  # nulls last
        self._last_search = (key, matches)
        return matches

    def _batch_read(self, request: dict) -> tuple[int, dict, dict[str, str]]:
        """`POST .../contacts/batch/read`: the contacts found, in the order asked; HTTP 207 with an
        `OBJECT_NOT_FOUND` error naming the ids not found."""
        inputs = request.get("inputs") or []
        if len(inputs) > BATCH_MAX_INPUTS:
            raise _ApiError(400, "VALIDATION_ERROR", f"at most {BATCH_MAX_INPUTS} inputs, got {len(inputs)}")
        by_id = self._contacts_by_id()
        ids = [str(i.get("id")) for i in inputs]
        properties, history = _names(request.get("properties")), _names(request.get("propertiesWithHistory"))
        results = [self._contact_view(by_id[i], properties, history) for i in ids if i in by_id]
        now = hs_time(dt.datetime.now(dt.timezone.utc))
        body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        missing = [i for i in ids if i not in by_id]
        if not missing:
            return 200, body, {}
        error = {"status": "error", "category": "OBJECT_NOT_FOUND", "context": {"ids": missing},
                 "message": "Could not get some CONTACT objects, they may be deleted or not exist."}
        body.update(numErrors=1, errors=[error])
        return 207, body, {}


def _names(value: str | list | None) -> list[str]:
    """Property names from a query's `a,b` or a body's `["a", "b"]`."""
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return [p for p in (value or "").split(",") if p]


def _json_body(raw: bytes) -> dict:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise _ApiError(400, "VALIDATION_ERROR", "Invalid input JSON on line 1") from None
    if not isinstance(body, dict):
        raise _ApiError(400, "VALIDATION_ERROR", "The request body must be a JSON object")
    return body


def _bounded(value: Any, maximum: int) -> int:
    try:
        return max(1, min(maximum, int(value)))
    except (TypeError, ValueError):
        raise _ApiError(400, "VALIDATION_ERROR", "limit must be a number") from None


def _offset(after: Any) -> int:
    """The search's `after`: an offset, as text (unlike the lists' opaque cursors)."""
    try:
        return int(after or 0)
    except (TypeError, ValueError):
        raise _ApiError(400, "VALIDATION_ERROR", f"Invalid 'after' {after!r}") from None


def _hs_instant(value: Any) -> str:
    """A filter's date-time value (epoch ms, as a number or text, or ISO 8601) in the stored form
    (`hs_time`), which sorts as text in time order."""
    text = str(value).strip()
    try:
        if text.lstrip("-").isdigit():
            return hs_time(dt.datetime.fromtimestamp(int(text) / 1000, dt.timezone.utc))
        return hs_time(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        raise _ApiError(400, "VALIDATION_ERROR", f"{value!r} is not a date-time") from None


def _searchable(name: Any) -> tuple:
    if name not in _SEARCHABLE:
        raise _ApiError(400, "VALIDATION_ERROR", f"This fake searches on {sorted(_SEARCHABLE)} only, not {name!r}")
    return _SEARCHABLE[name]


def _groups(groups: list[dict]) -> list[list[tuple]]:
    """The filter groups parsed once per request: [(read, operator, value)] per group."""
    parsed = []
    for group in groups:
        filters = []
        for f in group.get("filters") or []:
            read, parse = _searchable(f.get("propertyName"))
            if f.get("operator") not in _OPERATORS:
                raise _ApiError(400, "VALIDATION_ERROR", f"Unsupported operator {f.get('operator')!r}")
            filters.append((read, _OPERATORS[f["operator"]], parse(f.get("value"))))
        parsed.append(filters)
    return parsed


def _matches(contact: dict, groups: list[list[tuple]]) -> bool:
    """Any group (OR) whose filters all hold (AND); no groups: every contact."""
    if not groups:
        return True
    for filters in groups:
        values = [(read(contact), op, value) for read, op, value in filters]
        if all(v is not None and op(v, value) for v, op, value in values):
            return True
    return False


def _error(category: str, message: str) -> dict:
    return {"status": "error", "message": message, "correlationId": "00000000-0000-4000-8000-000000000000",
            "category": category}


def _rate_limit(policy: str = "SECONDLY") -> dict:
    """HubSpot's 429 body; `policy` DAILY is the daily limit (used up until the account's midnight)."""
    return {"status": "error", "message": f"You have reached your {policy.lower()} limit.", "errorType": "RATE_LIMIT",
            "correlationId": "00000000-0000-4000-8000-000000000000", "policyName": policy}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client that hung up (e.g. after a 429) is not an error of the fake
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHubSpot
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body go out in two writes; with Nagle on, the body waited
    # for the client's delayed ACK of the headers, 40 ms per request whatever its size (a tiny
    # page: 46 ms → 6 ms), which no real API adds
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, payload, extra = self.fake.handle(method, self.path, headers, body)
        except Exception as exc:  # a bug in the fake must still look like an API error
            status, payload, extra = 500, _error("INTERNAL_ERROR", repr(exc)), {}
        extra = dict(extra)
        fault = extra.pop("X-Fake-Fault", None)
        if fault == "timeout":
            time.sleep(self.fake.stall_s)  # the client's read timeout fires first; it may retry
        data = json.dumps(payload).encode("utf-8")
        announced = len(data)
        if fault == "truncated":
            data = data[: len(data) // 2]
            self.close_connection = True  # hang up after half the announced bytes
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(announced))
        for name, value in extra.items():
            self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


def main(argv: list[str] | None = None) -> int:
    """`python -m connectors.sandbox.fake_hubspot [--port P] [--sandbox DIR]`: serve until Ctrl-C;
    the first stdout line is the base URL."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sandbox", default=None)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    with FakeHubSpot(Path(args.sandbox) if args.sandbox else None, port=args.port, access_token=args.token) as fake:
        print(fake.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
