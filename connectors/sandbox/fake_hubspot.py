"""A local fake of the HubSpot APIs the marketing connector reads, serving the sandbox company.

Why a fake: the connector must be tested against the wire contract it will meet (bearer auth, cursor
paging, 429s), offline and deterministic. What it serves is derived from the generated Salesforce
org (`connectors.sandbox.marketing_data`), so HubSpot and Salesforce agree on campaigns and leads.

Endpoints (the subset of HubSpot we read, with HubSpot's shapes):
- `GET /marketing/v3/campaigns`                         campaigns (`properties`, `createdAt`, `updatedAt`)
- `GET /crm/v3/objects/contacts`                        contacts; `properties=a,b` limits the properties
  returned, `propertiesWithHistory=lifecyclestage` adds the stage history (newest first)
- `GET /marketing/v3/forms`                             forms
- `GET /form-integrations/v1/submissions/forms/{id}`    a form's submissions (`submittedAt` in ms)

Every list pages like HubSpot: `limit` (default 10, at most 100) and an opaque `after` cursor, with
`paging.next.after` (and `link`) in the body while more remain. Auth is `Authorization: Bearer
<token>` (401 `INVALID_AUTHENTICATION` otherwise). Rate limiting: `requests_per_second` (None = off)
answers 429 with HubSpot's `RATE_LIMIT` body and a `Retry-After` header beyond it, and
`fail_next(n, status)` scripts errors for resilience tests. The data is mutable for incremental
tests: `update_contact(id, **properties)` bumps `updatedAt` and `lastmodifieddate`.

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
                 retry_after_s: int = 1) -> None:
        if data is None:
            data = derive(Path(data_dir) if data_dir is not None else Settings.from_env().sandbox_dir)
        self.data = data
        self.port = port
        self.access_token = access_token
        self.requests_per_second = requests_per_second
        self.retry_after_s = retry_after_s
        self.requests: list[str] = []  # "GET /path?query", for tests
        self._lock = threading.RLock()
        self._faults: list[int] = []
        self._window: tuple[int, int] = (0, 0)  # (second, requests in it)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None

    # -- test controls ------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 429) -> None:
        """The next `n` requests answer `status` (429 with Retry-After, or e.g. 500/502)."""
        with self._lock:
            self._faults.extend([status] * n)

    def update_contact(self, contact_id: str, **properties: Any) -> dict:
        """Change a contact's properties now (bumps `updatedAt`/`lastmodifieddate`)."""
        with self._lock:
            contact = next(c for c in self.data.contacts if c["id"] == contact_id)
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

    def handle(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append(f"{method} {target}")
            if headers.get("authorization") != f"Bearer {self.access_token}":
                return 401, _error("INVALID_AUTHENTICATION", "Authentication credentials not found. This API "
                                   "supports OAuth 2.0 authentication ..."), {}
            if self._faults:
                status = self._faults.pop(0)
                return (429, _rate_limit(), {"Retry-After": str(self.retry_after_s)}) if status == 429 else \
                    (status, _error("INTERNAL_ERROR", "internal error"), {})
            if self.requests_per_second is not None:
                second = int(time.monotonic())
                start, used = self._window
                used = used + 1 if start == second else 1
                self._window = (second, used)
                if used > self.requests_per_second:
                    return 429, _rate_limit(), {"Retry-After": str(self.retry_after_s)}
        if method != "GET":
            return 405, _error("VALIDATION_ERROR", f"{method} is not supported here"), {}
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path.rstrip("/")
        try:
            with self._lock:
                if path == "/marketing/v3/campaigns":
                    return 200, self._page(self.data.campaigns, query, path), {}
                if path == "/crm/v3/objects/contacts":
                    # the page first, then the views of its contacts only: viewing every contact
                    # for each page made a full listing quadratic (100k leads: > 10 min)
                    body = self._page(self.data.contacts, query, path)
                    body["results"] = [self._contact_view(c, query) for c in body["results"]]
                    return 200, body, {}
                if path == "/marketing/v3/forms":
                    return 200, self._page(self.data.forms, query, path), {}
                prefix = "/form-integrations/v1/submissions/forms/"
                if path.startswith(prefix):
                    form_id = path[len(prefix):]
                    if form_id not in self.data.submissions:
                        return 404, _error("OBJECT_NOT_FOUND", f"form {form_id} does not exist"), {}
                    return 200, self._page(self.data.submissions[form_id], query, path, default_limit=20), {}
        except _ApiError as exc:
            return exc.status, _error(exc.category, exc.message), {}
        return 404, _error("OBJECT_NOT_FOUND", f"no route for {path}"), {}

    def _page(self, items: list[dict], query: dict[str, str], path: str, default_limit: int = 10) -> dict:
        try:
            limit = int(query.get("limit", default_limit))
        except ValueError:
            raise _ApiError(400, "VALIDATION_ERROR", "limit must be a number") from None
        limit = max(1, min(MAX_LIMIT, limit))
        start = _position(query["after"]) if "after" in query else 0
        body: dict[str, Any] = {"results": copy.deepcopy(items[start:start + limit])}
        if start + limit < len(items):
            after = _cursor(start + limit)
            body["paging"] = {"next": {"after": after, "link": f"{self.url}{path}?after={after}&limit={limit}"}}
        return body

    @staticmethod
    def _contact_view(contact: dict, query: dict[str, str]) -> dict:
        """Like HubSpot: only the properties asked for (default a few), history only when asked."""
        wanted = [p for p in query.get("properties", "").split(",") if p] or \
            ["email", "firstname", "lastname", "createdate", "lastmodifieddate"]
        props = contact["properties"]
        view = {"id": contact["id"], "properties": {p: props.get(p) for p in wanted},
                "createdAt": contact["createdAt"], "updatedAt": contact["updatedAt"], "archived": contact["archived"]}
        history = [p for p in query.get("propertiesWithHistory", "").split(",") if p]
        if history:
            view["propertiesWithHistory"] = {p: contact["propertiesWithHistory"].get(p, []) for p in history}
        return view


def _error(category: str, message: str) -> dict:
    return {"status": "error", "message": message, "correlationId": "00000000-0000-4000-8000-000000000000",
            "category": category}


def _rate_limit() -> dict:
    return {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
            "correlationId": "00000000-0000-4000-8000-000000000000", "policyName": "SECONDLY"}


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
        if length:
            self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, payload, extra = self.fake.handle(method, self.path, headers)
        except Exception as exc:  # a bug in the fake must still look like an API error
            status, payload, extra = 500, _error("INTERNAL_ERROR", repr(exc)), {}
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
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
