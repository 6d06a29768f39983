"""A stateful local fake of the Salesforce REST API, serving the sandbox org.

The connectors run the real `simple_salesforce` client against it (through a transport adapter
that rewrites https→http, see shared/reference/salesforce-api.md §1.2), so the wire contract
matters more than breadth: query/queryAll with server-side cursors and relative
`nextRecordsUrl`s, `Sforce-Query-Options: batchSize`, describe, limits, OAuth token and SOAP login, Salesforce's
error bodies and status codes, and the `Sforce-Limit-Info` header. Bulk API 2.0 query jobs
(`/jobs/query`: create, poll, CSV result pages behind `Sforce-Locator`, delete) run the same SOQL
subset against a snapshot taken when the job is created. SOQL is a small subset:
`SELECT f, ... | COUNT() FROM Obj [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n]` where the
condition combines `field op literal` and `field [NOT] IN (...)` with AND, OR, NOT and brackets.

The org is mutable (`upsert`, `delete`, `purge`) so tests can change it between connector runs;
every change bumps SystemModstamp past everything already in the store. `fail_next` scripts
errors for resilience tests; `fail_next_bulk_job` makes the next Bulk job end `Failed`, and
`inject_bulk_nul` puts a NUL byte into one value of the Bulk CSV output. Standard library only.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import itertools
import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from connectors.sandbox import sf_schema as sfs
from connectors.settings import Settings

API_LIMIT = 15000
MAX_CURSORS = 50
ORG_ID = "00D5g0000000SBXEAI"


class SoqlError(Exception):
    """A query Salesforce would refuse with HTTP 400 and this errorCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ----------------------------------------------------------------------------- SOQL subset

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*')
     |(?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})?)
     |(?P<date>\d{4}-\d{2}-\d{2})
     |(?P<num>-?\d+(?:\.\d+)?)
     |(?P<op><=|>=|!=|<>|=|<|>)
     |(?P<punct>[(),])
     |(?P<word>[A-Za-z_][A-Za-z0-9_.:]*)
    )""",
    re.X,
)
_KEYWORDS = {"select", "from", "where", "and", "or", "not", "in", "order", "by", "asc", "desc", "limit",
             "offset", "nulls", "first", "last", "true", "false", "null"}


@dataclass
class _Tok:
    kind: str
    text: str


def _tokenize(soql: str) -> list[_Tok]:
    tokens, pos = [], 0
    soql = soql.rstrip()
    while pos < len(soql):
        m = _TOKEN.match(soql, pos)
        if not m or m.end() == pos:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token at: {soql[pos:pos + 20]!r}")
        kind = m.lastgroup
        tokens.append(_Tok(kind, m.group(kind)))
        pos = m.end()
    return tokens


@dataclass
class Query:
    obj: sfs.SObject
    fields: list[sfs.Field]  # empty for COUNT()
    count: bool
    where: Callable[[dict], bool] | None
    order: list[tuple[sfs.Field, bool, bool]]  # field, descending, nulls last
    limit: int | None
    offset: int


class _Parser:
    """Recursive descent over the token list; produces a `Query` with a compiled predicate."""

    def __init__(self, soql: str, schemas: dict[str, sfs.SObject] | None = None) -> None:
        self.soql = soql
        self.schemas = sfs.SCHEMAS if schemas is None else schemas
        self.toks = _tokenize(soql)
        self.i = 0

    # token helpers
    def _peek(self, offset: int = 0) -> _Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def _is(self, word: str, offset: int = 0) -> bool:
        t = self._peek(offset)
        return t is not None and t.kind == "word" and t.text.lower() == word

    def _take(self) -> _Tok:
        t = self._peek()
        if t is None:
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.i += 1
        return t

    def _expect_word(self, word: str) -> None:
        if not self._is(word):
            found = self._peek().text if self._peek() else "end of query"
            raise SoqlError("MALFORMED_QUERY", f"expecting '{word.upper()}', found '{found}'")
        self.i += 1

    def _expect_punct(self, p: str) -> None:
        t = self._take()
        if t.kind != "punct" or t.text != p:
            raise SoqlError("MALFORMED_QUERY", f"expecting '{p}', found '{t.text}'")

    def _field(self, obj: sfs.SObject, name: str) -> sfs.Field:
        f = obj.field(name)
        if f is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"\n{self.soql}\n^\nERROR at Row:1:Column:1\nNo such column '{name}' on entity '{obj.name}'. "
                "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
                "field name. Please reference your WSDL or the describe call for the appropriate names.",
            )
        return f

    # grammar
    def parse(self) -> Query:
        self._expect_word("select")
        names, count = [], False
        if self._is("count") and self._peek(1) and self._peek(1).text == "(":
            self.i += 1
            self._expect_punct("(")
            self._expect_punct(")")
            count = True
        else:
            while True:
                t = self._take()
                if t.kind != "word" or t.text.lower() in _KEYWORDS:
                    raise SoqlError("MALFORMED_QUERY", f"unexpected token '{t.text}' in SELECT list")
                names.append(t.text)
                if not (self._peek() and self._peek().text == ","):
                    break
                self.i += 1
        self._expect_word("from")
        name = self._take()
        if name.kind != "word":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token '{name.text}' after FROM")
        obj = next((o for o in self.schemas.values() if o.name.lower() == name.text.lower()), None)
        if obj is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"\n{self.soql}\n^\nERROR at Row:1:Column:1\nsObject type '{name.text}' is not supported. "
                "If you are attempting to use a custom object, be sure to append the '__c' after the entity "
                "name. Please reference your WSDL or the describe call for the appropriate names.",
            )
        fields = [self._field(obj, n) for n in names]
        where = None
        if self._is("where"):
            self.i += 1
            where = self._or(obj)
        order: list[tuple[sfs.Field, bool, bool]] = []
        if self._is("order"):
            self.i += 1
            self._expect_word("by")
            order = self._order(obj)
        limit = self._int_clause("limit")
        offset = self._int_clause("offset") or 0
        if self._peek() is not None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token '{self._peek().text}'")
        return Query(obj, fields, count, where, order, limit, offset)

    def _int_clause(self, word: str) -> int | None:
        if not self._is(word):
            return None
        self.i += 1
        t = self._take()
        if t.kind != "num" or not t.text.isdigit():
            raise SoqlError("MALFORMED_QUERY", f"{word.upper()} needs a non-negative integer")
        return int(t.text)

    def _order(self, obj: sfs.SObject) -> list[tuple[sfs.Field, bool, bool]]:
        items = []
        while True:
            t = self._take()
            f = self._field(obj, t.text)
            desc = False
            if self._is("asc") or self._is("desc"):
                desc = self._take().text.lower() == "desc"
            nulls_last = desc
            if self._is("nulls"):
                self.i += 1
                which = self._take().text.lower()
                if which not in ("first", "last"):
                    raise SoqlError("MALFORMED_QUERY", "NULLS FIRST or NULLS LAST expected")
                nulls_last = which == "last"
            items.append((f, desc, nulls_last))
            if not (self._peek() and self._peek().text == ","):
                return items
            self.i += 1

    def _or(self, obj):
        parts = [self._and(obj)]
        while self._is("or"):
            self.i += 1
            parts.append(self._and(obj))
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def _and(self, obj):
        parts = [self._atom(obj)]
        while self._is("and"):
            self.i += 1
            parts.append(self._atom(obj))
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def _atom(self, obj):
        t = self._peek()
        if t is not None and t.kind == "punct" and t.text == "(":
            self.i += 1
            inner = self._or(obj)
            self._expect_punct(")")
            return inner
        if self._is("not"):
            self.i += 1
            inner = self._atom(obj)
            return lambda r: not inner(r)
        name = self._take()
        if name.kind != "word" or name.text.lower() in _KEYWORDS:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token '{name.text}' in WHERE")
        f = self._field(obj, name.text)
        if f.type == "address":
            raise SoqlError("MALFORMED_QUERY", f"field '{f.name}' can not be filtered in a query call")
        negate = False
        if self._is("not") and self._is("in", 1):
            self.i += 1
            negate = True
        if self._is("in"):
            self.i += 1
            self._expect_punct("(")
            values = [self._literal(f)]
            while self._peek() and self._peek().text == ",":
                self.i += 1
                values.append(self._literal(f))
            self._expect_punct(")")
            key = f.name
            return (lambda r: r.get(key) not in values) if negate else (lambda r: r.get(key) in values)
        op = self._take()
        if op.kind != "op":
            raise SoqlError("MALFORMED_QUERY", f"expecting an operator after '{f.name}', found '{op.text}'")
        return _compare(f, "!=" if op.text == "<>" else op.text, self._literal(f))

    def _literal(self, f: sfs.Field) -> Any:
        """Parse a literal and check it against the field's type, as Salesforce does."""
        t = self._take()
        low = t.text.lower()
        if t.kind == "word" and low == "null":
            return None
        wrong = SoqlError(
            "MALFORMED_QUERY",
            f"value of filter criterion for field '{f.name}' must be of type {f.type} "
            "and should not be enclosed in quotes" if t.kind == "str" else
            f"value of filter criterion for field '{f.name}' must be of type {f.type}",
        )
        if f.type == "datetime":
            if t.kind != "dt":
                raise wrong
            return sfs.canonical_datetime(t.text)
        if f.type == "date":
            if t.kind != "date":
                raise wrong
            return t.text
        if f.type in sfs.NUMERIC_TYPES:
            if t.kind != "num":
                raise wrong
            return Decimal(t.text)
        if f.type == "boolean":
            if t.kind != "word" or low not in ("true", "false"):
                raise wrong
            return low == "true"
        if t.kind != "str":
            raise SoqlError("MALFORMED_QUERY", f"value of filter criterion for field '{f.name}' must be quoted")
        return re.sub(r"\\(.)", r"\1", t.text[1:-1])


def _compare(f: sfs.Field, op: str, value: Any) -> Callable[[dict], bool]:
    key = f.name
    if value is None:
        if op == "=":
            return lambda r: r.get(key) is None
        if op == "!=":
            return lambda r: r.get(key) is not None
        raise SoqlError("MALFORMED_QUERY", f"null can only be compared with = or != (field '{f.name}')")
    if f.type == "boolean" and op not in ("=", "!="):
        raise SoqlError("MALFORMED_QUERY", f"boolean field '{f.name}' only supports = and !=")
    test = {
        "=": lambda a: a == value,
        "!=": lambda a: a != value,
        "<": lambda a: a < value,
        "<=": lambda a: a <= value,
        ">": lambda a: a > value,
        ">=": lambda a: a >= value,
    }[op]

    def predicate(record: dict) -> bool:
        current = record.get(key)
        if current is None:
            return op == "!="  # SOQL: `f != x` also matches null values
        return test(current)

    return predicate


def parse_soql(soql: str, schemas: dict[str, sfs.SObject] | None = None) -> Query:
    """Parse against `schemas` (default: the sandbox schema; a fake passes its own, see `add_field`)."""
    return _Parser(soql, schemas).parse()


def _sort_key(f: sfs.Field, nulls_last: bool, desc: bool):
    # Rank nulls so that after an optional reverse they land where NULLS FIRST/LAST says.
    null_rank = 1 if nulls_last != desc else -1

    def key(record: dict):
        v = record.get(f.name)
        if v is None:
            return (null_rank, 0)
        return (0, v.lower() if isinstance(v, str) and f.type in ("string", "email", "picklist") else v)

    return key


def run_query(q: Query, records: list[dict]) -> list[dict]:
    """Filter, sort and slice stored records (the caller excludes deleted rows for `query`)."""
    rows = [r for r in records if q.where(r)] if q.where else list(records)
    for f, desc, nulls_last in reversed(q.order):
        rows.sort(key=_sort_key(f, nulls_last, desc), reverse=desc)
    rows = rows[q.offset:]
    return rows if q.limit is None else rows[: q.limit]


# ----------------------------------------------------------------------------- the fake


@dataclass
class _BulkJob:
    id: str
    operation: str  # query | queryAll
    obj: str
    fields: list  # sfs.Field, in SELECT order
    rows: list[dict]  # snapshot of the matching stored records
    created: str
    state: str = "UploadComplete"
    polls: int = 0
    fail: str | None = None  # errorMessage if the job is scripted to fail

    def info(self, api_version: str) -> dict:
        out = {"id": self.id, "operation": self.operation, "object": self.obj,
               "createdById": "0055g0000000SBXAAM", "createdDate": self.created, "systemModstamp": self.created,
               "state": self.state, "concurrencyMode": "Parallel", "contentType": "CSV",
               "apiVersion": float(api_version), "lineEnding": "LF", "columnDelimiter": "COMMA",
               "jobType": "V2Query", "numberRecordsProcessed": len(self.rows) if self.state == "JobComplete" else 0,
               "retries": 0, "totalProcessingTime": 0}
        if self.state in ("Failed", "Aborted"):
            out["errorMessage"] = self.fail
        return out


def _bulk_value(f: sfs.Field, value: Any) -> str:
    """One value as Bulk 2.0 writes it: `...000Z` datetimes, true/false, exact numbers, null as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if f.type == "datetime":
        when = sfs.parse_datetime(value)
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


@dataclass
class _Fault:
    status: int
    error_code: str
    message: str
    times: int
    path: str | None
    body: str | None
    headers: dict[str, str]


class FakeSalesforce:
    """The sandbox org behind a local Salesforce REST API (see the module docstring)."""

    def __init__(
        self,
        data_dir: Path | None = None,  # None: $LTC_HOME/sandbox; a folder without salesforce/ gives an empty org
        *,
        port: int = 0,
        batch_size: int = 2000,
        bulk_polls: int = 1,
        access_token: str = "sandbox-token",
        api_version: str = sfs.API_VERSION,
    ) -> None:
        self.port = port
        self.batch_size = max(200, min(2000, batch_size))
        self.bulk_polls = max(1, bulk_polls)  # job-info polls until a Bulk query job is JobComplete
        self.access_token = access_token
        self.api_version = api_version
        self.api_usage = 0  # requests served today; tests may set it (with `api_limit`) to script quota
        self.api_limit = API_LIMIT
        self.schemas: dict[str, sfs.SObject] = dict(sfs.SCHEMAS)  # this org's schema (`add_field`)
        self.requests: list[str] = []  # "GET /path?query", for tests that check what was called
        self.store: dict[str, dict[str, dict]] = {name: {} for name in sfs.SCHEMAS}
        self._lock = threading.RLock()
        self._cursors: dict[str, tuple[list[dict], int, int]] = {}  # id -> (rows, total, batch)
        self._cursor_ids = itertools.count(1)
        self._new_ids = itertools.count(1)
        self._faults: list[_Fault] = []
        self.bulk_jobs: dict[str, _BulkJob] = {}
        self._bulk_ids = itertools.count(1)
        self._bulk_failures: list[str] = []
        self._bulk_nul: set[tuple[str, str]] = set()  # (record Id, field) written with a NUL byte
        self._latest = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None
        if data_dir is None:  # the sandbox company under $LTC_HOME, when one has been generated
            data_dir = Settings.from_env().sandbox_dir
        self._load(Path(data_dir) / "salesforce")

    # -- data ------------------------------------------------------------------------------

    def _load(self, folder: Path) -> None:
        for path in sorted(folder.glob("*.json")):
            if path.stem not in sfs.SCHEMAS:
                continue
            table = self.store[path.stem]
            for rec in sfs.loads(path.read_bytes()):
                table[rec["Id"]] = rec
                stamp = rec.get("SystemModstamp")
                if stamp:
                    self._latest = max(self._latest, sfs.parse_datetime(stamp))

    def _next_stamp(self) -> dt.datetime:
        """Now, or one second past the latest SystemModstamp in the org if that is later."""
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        return max(now, self._latest + dt.timedelta(seconds=1))

    def _normalise(self, schema: sfs.SObject, record: dict) -> dict:
        out = {}
        for name, value in record.items():
            if name == "attributes":
                continue
            f = schema.field(name)
            if f is None or f.type == "address":
                raise KeyError(f"{schema.name} has no stored field {name!r}")
            if value is not None:
                if f.type == "datetime":
                    value = sfs.format_datetime(value) if isinstance(value, dt.datetime) else sfs.canonical_datetime(value)
                elif f.type == "date" and isinstance(value, dt.date):
                    value = value.isoformat()
                elif f.type in sfs.NUMERIC_TYPES and isinstance(value, float):
                    value = Decimal(repr(value))
            out[f.name] = value
        return out

    def upsert(self, obj: str, record: dict, *, system_modstamp: dt.datetime | str | None = None) -> dict:
        """Create or update a record (as a user would); returns the stored record.

        SystemModstamp (and LastModifiedDate, unless given) become `system_modstamp`, by default
        one second past everything in the org. A new record without `Id` gets one.
        """
        schema = self.schemas[obj]
        with self._lock:
            values = self._normalise(schema, record)
            stamp = self._stamp(system_modstamp)
            table = self.store[obj]
            rec_id = values.get("Id")
            if rec_id in table:
                rec = table[rec_id]
            else:
                rec_id = rec_id or sfs.sf_id(schema.key_prefix, 3_000_000_000 + next(self._new_ids))
                rec = {name: None for name in schema.stored_fields}
                rec.update(Id=rec_id, IsDeleted=False, CreatedDate=stamp)
                table[rec_id] = rec
            rec.update(values)
            rec["SystemModstamp"] = stamp
            if "LastModifiedDate" not in values:
                rec["LastModifiedDate"] = stamp
            return dict(rec)

    def delete(self, obj: str, record_id: str, *, system_modstamp: dt.datetime | str | None = None) -> dict:
        """Soft delete (Recycle Bin): only queryAll still returns the record."""
        with self._lock:
            rec = self.store[obj][record_id]
            stamp = self._stamp(system_modstamp)
            rec.update(IsDeleted=True, LastModifiedDate=stamp, SystemModstamp=stamp)
            return dict(rec)

    def purge(self, obj: str, record_id: str) -> None:
        """Hard delete (emptied Recycle Bin): the record disappears from every API."""
        with self._lock:
            del self.store[obj][record_id]

    def _stamp(self, value: dt.datetime | str | None) -> str:
        if value is None:
            when = self._next_stamp()
        elif isinstance(value, str):
            when = sfs.parse_datetime(value)
        else:
            when = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        self._latest = max(self._latest, when)
        return sfs.format_datetime(when)

    # -- schema changes (an admin adding or deleting a custom field between runs) -----------

    def add_field(self, obj: str, name: str, type: str = "string") -> None:
        """Add a custom field to this org's `obj` (describe, SOQL and upsert see it; existing
        records get null). The shared sandbox schema is left alone."""
        with self._lock:
            schema = self.schemas[obj]
            if schema.field(name) is not None:
                raise ValueError(f"{obj} already has a field {name!r}")
            new = sfs.Field(name, type, custom=name.endswith("__c"))
            self.schemas[obj] = dataclasses.replace(schema, fields=schema.fields + (new,), _by_lower={})
            for rec in self.store[obj].values():
                rec.setdefault(name, None)

    def remove_field(self, obj: str, name: str) -> None:
        """Delete a field from this org's `obj`: gone from describe; querying it is INVALID_FIELD."""
        with self._lock:
            schema = self.schemas[obj]
            f = schema.field(name)
            if f is None:
                raise KeyError(f"{obj} has no field {name!r}")
            kept = tuple(x for x in schema.fields if x.name != f.name)
            self.schemas[obj] = dataclasses.replace(schema, fields=kept, _by_lower={})
            for rec in self.store[obj].values():
                rec.pop(f.name, None)

    # -- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        error_code: str = "UNKNOWN_EXCEPTION",
        message: str | None = None,
        *,
        times: int = 1,
        path: str | None = None,
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` requests (whose path contains `path`, if given) with an error.

        The body is Salesforce's `[{"errorCode", "message"}]` unless `body` gives raw text
        (e.g. the HTML of a 503). `headers` adds e.g. `Retry-After`.
        """
        with self._lock:
            self._faults.append(_Fault(status, error_code, message or error_code.replace("_", " ").lower(),
                                       times, path, body, dict(headers or {})))

    def fail_next_bulk_job(self, message: str = "INTERNAL_ERROR : An unexpected error occurred") -> None:
        """The next Bulk query job created ends `Failed` with this `errorMessage` (on its last poll)."""
        with self._lock:
            self._bulk_failures.append(message)

    def inject_bulk_nul(self, record_id: str, field: str) -> None:
        """Bulk CSV output of this record's `field` gets a NUL byte in the middle (airbyte#8300)."""
        with self._lock:
            self._bulk_nul.add((record_id, field.lower()))

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or fault.path in path:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        if self._server is not None:
            return self.url
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-salesforce", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "FakeSalesforce":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling (called from the handler threads) --------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict]:
        """Route one request; returns (status, JSON-able payload or raw text, extra headers)."""
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.api_usage += 1
            self.requests.append(f"{method} {raw_path}")
        fault = self._take_fault(path)
        if fault is not None:
            payload = fault.body if fault.body is not None else [{"errorCode": fault.error_code,
                                                                   "message": fault.message}]
            return fault.status, payload, fault.headers
        if method == "POST" and path == "/services/oauth2/token":
            return self._token(body, headers)
        if method == "POST" and path.startswith("/services/Soap/u/"):
            return self._soap_login(body)
        auth = headers.get("authorization", "")
        if auth.split(" ", 1)[-1] != self.access_token or not auth.lower().startswith(("bearer ", "oauth ")):
            return 401, [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}], {}
        prefix = f"/services/data/v{self.api_version}"
        if not path.startswith(prefix):
            return _not_found()
        rest = path[len(prefix):].strip("/").split("/")
        try:
            if rest[:2] == ["jobs", "query"]:
                return self._bulk(method, rest[2:], params, body)
            if method != "GET":
                return _not_found()
            return self._route(rest, params, headers)
        except SoqlError as exc:
            return 400, [{"errorCode": exc.code, "message": exc.message}], {}

    def _route(self, rest: list[str], params: dict[str, str], headers: dict[str, str]) -> tuple[int, Any, dict]:
        head = rest[0]
        if head in ("query", "queryAll") and len(rest) == 1:
            if "q" not in params:
                raise SoqlError("MALFORMED_QUERY", "missing query parameter q")
            return 200, self._query(params["q"], include_deleted=head == "queryAll", headers=headers), {}
        if head in ("query", "queryAll") and len(rest) == 2:
            return 200, self._more(rest[1]), {}
        if head == "sobjects" and len(rest) == 1:
            return 200, {"encoding": "UTF-8", "maxBatchSize": 200,
                         "sobjects": [sfs.describe_global_entry(o, self.api_version) for o in self.schemas.values()]}, {}
        if head == "sobjects" and len(rest) >= 3 and rest[1] in self.schemas:
            schema = self.schemas[rest[1]]
            if rest[2] == "describe" and len(rest) == 3:
                return 200, sfs.describe_sobject(schema, self.api_version), {}
            if rest[2] in ("deleted", "updated") and len(rest) == 3:
                return self._changed(schema, rest[2], params)
            if len(rest) == 3 and rest[2] in self.store[schema.name]:
                return 200, self._project(schema, dict(self.store[schema.name][rest[2]]), list(schema.fields)), {}
        if head == "limits" and len(rest) == 1:
            return 200, {
                "DailyApiRequests": {"Max": self.api_limit, "Remaining": max(0, self.api_limit - self.api_usage)},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            }, {}
        return _not_found()

    # query and cursors
    def _batch(self, headers: dict[str, str]) -> int:
        m = re.search(r"batchSize\s*=\s*(\d+)", headers.get("sforce-query-options", ""))
        return max(200, min(2000, int(m.group(1)))) if m else self.batch_size

    def _query(self, soql: str, *, include_deleted: bool, headers: dict[str, str]) -> dict:
        q = parse_soql(soql, self.schemas)
        with self._lock:  # a cursor is a snapshot, like Salesforce's
            stored = self.store[q.obj.name].values()
            records = list(stored) if include_deleted else [r for r in stored if not r.get("IsDeleted")]
            rows = run_query(q, records)
            if q.count:
                return {"totalSize": len(rows), "done": True, "records": []}
            rows = [self._project(q.obj, r, q.fields) for r in rows]
        return self._page(rows, 0, len(rows), self._batch(headers), None)

    def _page(self, rows: list[dict], offset: int, total: int, batch: int, cursor: str | None) -> dict:
        end = offset + batch
        page = {"totalSize": total, "done": end >= len(rows), "records": rows[offset:end]}
        if end < len(rows):
            with self._lock:
                if cursor is None:
                    cursor = "01g" + sfs.sf_id("01g", next(self._cursor_ids))[3:15]
                    self._cursors[cursor] = (rows, total, batch)
                    while len(self._cursors) > MAX_CURSORS:  # abandoned cursors expire, oldest first
                        self._cursors.pop(next(iter(self._cursors)))
            # always `/query/` (also for queryAll), and relative, as Salesforce does
            page["nextRecordsUrl"] = f"/services/data/v{self.api_version}/query/{cursor}-{end}"
        elif cursor is not None:
            with self._lock:
                self._cursors.pop(cursor, None)
        return page

    def _more(self, locator: str) -> dict:
        cursor, _, offset = locator.rpartition("-")
        with self._lock:
            entry = self._cursors.get(cursor)
        if entry is None or not offset.isdigit():
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        rows, total, batch = entry
        return self._page(rows, int(offset), total, batch, cursor)

    # Bulk API 2.0 query jobs
    def _bulk(self, method: str, rest: list[str], params: dict[str, str], body: bytes) -> tuple[int, Any, dict]:
        if method == "POST" and not rest:
            return self._bulk_create(body)
        job = self.bulk_jobs.get(rest[0]) if rest else None
        if job is None:
            return _not_found()
        if method == "GET" and len(rest) == 1:
            with self._lock:
                if job.state in ("UploadComplete", "InProgress"):
                    job.polls += 1
                    if job.polls >= self.bulk_polls:
                        job.state = "Failed" if job.fail else "JobComplete"
                    else:
                        job.state = "InProgress"
                return 200, job.info(self.api_version), {}
        if method == "PATCH" and len(rest) == 1:  # abort
            with self._lock:
                if job.state in ("UploadComplete", "InProgress"):
                    job.state = "Aborted"
                    job.fail = "Job aborted by the user"
                return 200, job.info(self.api_version), {}
        if method == "DELETE" and len(rest) == 1:
            with self._lock:
                self.bulk_jobs.pop(job.id, None)
            return 204, None, {}
        if method == "GET" and len(rest) == 2 and rest[1] == "results":
            return self._bulk_results(job, params)
        return _not_found()

    def _bulk_create(self, body: bytes) -> tuple[int, Any, dict]:
        try:
            spec = sfs.loads(body or b"{}")
        except ValueError:
            return 400, [{"errorCode": "INVALIDJOB", "message": "request body is not valid JSON"}], {}
        operation, soql = spec.get("operation"), spec.get("query")
        if operation not in ("query", "queryAll") or not soql:
            return 400, [{"errorCode": "INVALIDJOB",
                          "message": "operation must be query or queryAll, with a query"}], {}
        q = parse_soql(soql, self.schemas)  # SoqlError -> 400, as for REST
        if q.count:
            return 400, [{"errorCode": "API_ERROR",
                          "message": "Implementation restriction: aggregate queries are not supported by Bulk API 2.0"}], {}
        if any(f.type == "address" for f in q.fields):
            return 400, [{"errorCode": "API_ERROR", "message": "Selecting compound data not supported in Bulk Query"}], {}
        with self._lock:  # a job reads a snapshot, like a cursor
            stored = self.store[q.obj.name].values()
            records = list(stored) if operation == "queryAll" else [r for r in stored if not r.get("IsDeleted")]
            rows = [dict(r) for r in run_query(q, records)]
            job_id = "750" + sfs.sf_id("750", next(self._bulk_ids))[3:15]
            created = sfs.format_datetime(dt.datetime.now(dt.timezone.utc))
            job = _BulkJob(job_id, operation, q.obj.name, q.fields, rows, created,
                           fail=self._bulk_failures.pop(0) if self._bulk_failures else None)
            self.bulk_jobs[job_id] = job
            return 200, {k: v for k, v in job.info(self.api_version).items()
                         if k not in ("jobType", "numberRecordsProcessed", "retries", "totalProcessingTime")}, {}

    def _bulk_results(self, job: _BulkJob, params: dict[str, str]) -> tuple[int, Any, dict]:
        if job.state != "JobComplete":
            status = {"UploadComplete": "UPLOAD_COMPLETE", "InProgress": "IN_PROGRESS"}.get(job.state, job.state.upper())
            return 412, [{"errorCode": "JOB_NOT_COMPLETE",
                          "message": "can only download query results of successfully completed bulk job with "
                                     f"status: JOB_COMPLETE. Current status: {status}"}], {}
        try:
            max_records = int(params.get("maxRecords", 50000))
            if max_records < 1:
                raise ValueError
        except ValueError:
            return 400, [{"errorCode": "INVALIDJOB", "message": "maxRecords must be a positive integer"}], {}
        locator = params.get("locator")
        offset = 0
        if locator:
            try:
                padded = locator + "=" * (-len(locator) % 4)
                job_id, _, start = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
                offset = int(start)
                if job_id != job.id:
                    raise ValueError
            except (ValueError, UnicodeDecodeError):
                return 400, [{"errorCode": "INVALIDJOB", "message": f"invalid locator: {locator}"}], {}
        page = job.rows[offset:offset + max_records]
        end = offset + len(page)
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow([f.name for f in job.fields])
        with self._lock:
            nul = set(self._bulk_nul)
        for rec in page:
            values = []
            for f in job.fields:
                text = _bulk_value(f, rec.get(f.name))
                if (rec["Id"], f.name.lower()) in nul:
                    text = text[: len(text) // 2] + "\x00" + text[len(text) // 2:]
                values.append(text)
            writer.writerow(values)
        next_locator = "null" if end >= len(job.rows) else \
            base64.urlsafe_b64encode(f"{job.id}:{end}".encode()).decode().rstrip("=")
        return 200, out.getvalue(), {"Content-Type": "text/csv", "Sforce-Locator": next_locator,
                                     "Sforce-NumberOfRecords": str(len(page))}

    def _project(self, schema: sfs.SObject, rec: dict, fields: list[sfs.Field]) -> dict:
        out: dict[str, Any] = {"attributes": {
            "type": schema.name, "url": f"/services/data/v{self.api_version}/sobjects/{schema.name}/{rec['Id']}"}}
        for f in fields:
            if f.type == "address":
                out[f.name] = {"city": rec.get("BillingCity"), "country": rec.get("BillingCountry"),
                               "geocodeAccuracy": None, "latitude": None, "longitude": None,
                               "postalCode": None, "state": None, "street": None}
            else:
                out[f.name] = rec.get(f.name)
        return out

    def _changed(self, schema: sfs.SObject, kind: str, params: dict[str, str]) -> tuple[int, Any, dict]:
        try:
            start = sfs.canonical_datetime(params["start"])
            end = sfs.canonical_datetime(params["end"])
        except (KeyError, ValueError):
            return 400, [{"errorCode": "INVALID_DATETIME", "message": "start and end must be datetimes"}], {}
        with self._lock:
            hits = [r for r in self.store[schema.name].values()
                    if start <= r["SystemModstamp"] <= end and bool(r.get("IsDeleted")) == (kind == "deleted")]
        if kind == "deleted":
            return 200, {"deletedRecords": [{"id": r["Id"], "deletedDate": r["SystemModstamp"]} for r in hits],
                         "earliestDateAvailable": start, "latestDateCovered": end}, {}
        return 200, {"ids": [r["Id"] for r in hits], "latestDateCovered": end}, {}

    def _token(self, body: bytes, headers: dict[str, str]) -> tuple[int, Any, dict]:
        """OAuth token endpoint: any client id (form field or HTTP Basic, as simple_salesforce sends it)."""
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode("utf-8", "replace").partition(":")
            form.setdefault("client_id", client_id)
            form.setdefault("client_secret", secret)
        grant = form.get("grant_type")
        ok = {
            "client_credentials": bool(form.get("client_id")),
            "password": bool(form.get("client_id") and form.get("username") and form.get("password")),
        }
        if grant not in ok:
            return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, {}
        if not ok[grant]:
            return 400, {"error": "invalid_grant", "error_description": "authentication failure"}, {}
        issued = str(int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000))
        signature = base64.b64encode(hashlib.sha256(f"{self.access_token}{issued}".encode()).digest()).decode()
        return 200, {
            "access_token": self.access_token,
            "instance_url": self.url,
            "id": f"{self.url}/id/{ORG_ID}/0055g0000000SBXAAM",
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": signature,
        }, {}


    def _soap_login(self, body: bytes) -> tuple[int, Any, dict]:
        """SOAP `login()` (simple_salesforce's username + password + security token path).

        `serverUrl` says https, like a real org: the client keeps only host and port from it.
        """
        text = body.decode("utf-8", "replace")
        user = re.search(r"<(?:\w+:)?username>([^<]+)</", text)
        password = re.search(r"<(?:\w+:)?password>([^<]+)</", text)
        xml_type = {"Content-Type": "text/xml;charset=UTF-8"}
        envelope = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" '
                    'xmlns:sf="urn:fault.partner.soap.sforce.com" '
                    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{}</soapenv:Body>'
                    '</soapenv:Envelope>')
        if not (user and password):
            message = "Invalid username, password, security token; or user locked out."
            fault = (f"<soapenv:Fault><faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: {message}"
                     "</faultstring><detail><sf:LoginFault xsi:type=\"sf:LoginFault\"><sf:exceptionCode>"
                     f"INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>{message}</sf:exceptionMessage>"
                     "</sf:LoginFault></detail></soapenv:Fault>")
            return 500, envelope.format(fault), xml_type
        server = f"https://127.0.0.1:{self.port}/services/Soap/u/{self.api_version}/{ORG_ID}"
        result = (f"<loginResponse><result><passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
                  f"<serverUrl>{server}</serverUrl><sessionId>{self.access_token}</sessionId>"
                  f"<userId>0055g0000000SBXAAM</userId><userInfo><organizationId>{ORG_ID}</organizationId>"
                  f"<userName>{user.group(1)}</userName></userInfo></result></loginResponse>")
        return 200, envelope.format(result), xml_type


def _not_found() -> tuple[int, Any, dict]:
    return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], {}


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP layer: everything interesting happens in `FakeSalesforce.handle`."""

    fake: FakeSalesforce
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' sessions expect

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, payload, extra = self.fake.handle(method, self.path, headers, body)
            extra = dict(extra)
        except Exception as exc:  # a bug in the fake must still look like Salesforce's 500
            status, payload, extra = 500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": repr(exc)}], {}
        if payload is None:  # 204 No Content
            data, ctype = b"", None
        elif isinstance(payload, str):
            data, ctype = payload.encode("utf-8"), extra.pop("Content-Type", "text/html;charset=UTF-8")
        else:
            data, ctype = sfs.dumps(payload).encode("utf-8"), "application/json;charset=UTF-8"
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Sforce-Limit-Info", f"api-usage={self.fake.api_usage}/{self.fake.api_limit}")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")
