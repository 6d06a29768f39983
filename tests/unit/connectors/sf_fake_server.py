"""A deliberately tiny Salesforce REST fake for connector unit tests.

Not the sandbox fake (`connectors.sandbox`): this one exists to script failures precisely (expired
session, API limit, 503 with Retry-After, mid-pagination errors) and to record the SOQL the
connector sends. It understands just the SOQL the connector writes:
`SELECT f1, f2 FROM Obj WHERE SystemModstamp >= T AND SystemModstamp < T ORDER BY SystemModstamp, Id`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SOQL = re.compile(r"SELECT (?P<fields>.+?) FROM (?P<obj>\w+)(?: WHERE (?P<where>.+?))? ORDER BY .+$")
COND = re.compile(r"(\w+) (>=|<|>|<=) (\S+)")


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


class MiniSalesforce:
    def __init__(self, objects: dict[str, dict], token: str = "tok", batch_size: int = 2):
        # objects: name -> {"fields": [{"name", "type", ...}], "records": [dict]}
        self.objects = objects
        self.token = token
        self.batch_size = batch_size
        self.queries: list[str] = []
        self.requests: list[str] = []
        self.inject: list[tuple[str, int, object, dict]] = []  # (path substring, status, body, headers)
        self.token_grants = 0
        self._cursors: dict[str, list[dict]] = {}
        self._server = None

    # -- lifecycle
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    # -- request handling
    def _send(self, h, status, body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Sforce-Limit-Info", "api-usage=1/15000")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _handle(self, h, method):
        url = urlsplit(h.path)
        self.requests.append(f"{method} {url.path}")
        for i, (needle, status, body, headers) in enumerate(self.inject):
            if needle in url.path:
                del self.inject[i]
                return self._send(h, status, body, headers)
        if method == "POST" and url.path == "/services/oauth2/token":
            self.token_grants += 1
            return self._send(h, 200, {"access_token": self.token, "instance_url": "https://ignored.example"})
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(h, 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        m = re.match(r"/services/data/v59\.0/sobjects/(\w+)/describe/?$", url.path)
        if m:
            return self._send(h, 200, {"name": m.group(1), "fields": self.objects[m.group(1)]["fields"]})
        if re.match(r"/services/data/v59\.0/(query|queryAll)/?$", url.path):
            return self._query(h, parse_qs(url.query)["q"][0], all_rows="queryAll" in url.path)
        m = re.match(r"/services/data/v59\.0/query/(\w+)-(\d+)$", url.path)
        if m:
            return self._page(h, m.group(1), int(m.group(2)))
        return self._send(h, 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])

    def _query(self, h, soql, all_rows):
        self.queries.append(soql)
        m = SOQL.match(soql)
        obj, fields = m.group("obj"), [f.strip() for f in m.group("fields").split(",")]
        rows = [r for r in self.objects[obj]["records"] if all_rows or not r.get("IsDeleted")]
        for field, op, lit in COND.findall(m.group("where") or ""):
            bound = _ts(lit)
            test = {">=": bound.__le__, "<": bound.__gt__, ">": bound.__lt__, "<=": bound.__ge__}[op]
            rows = [r for r in rows if test(_ts(r[field].replace("+0000", "+00:00")))]
        rows.sort(key=lambda r: (r["SystemModstamp"], r["Id"]))
        cursor = f"01g{len(self._cursors):05d}"
        self._cursors[cursor] = [
            {"attributes": {"type": obj, "url": f"/x/{r['Id']}"}, **{f: r.get(f) for f in fields}} for r in rows
        ]
        return self._page(h, cursor, 0)

    def _page(self, h, cursor, offset):
        rows = self._cursors[cursor]
        chunk = rows[offset : offset + self.batch_size]
        body = {"totalSize": len(rows), "done": offset + self.batch_size >= len(rows), "records": chunk}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v59.0/query/{cursor}-{offset + self.batch_size}"
        return self._send(h, 200, body)
