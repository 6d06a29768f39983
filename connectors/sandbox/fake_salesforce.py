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
every change stamps SystemModstamp with the current second, never below anything already in the
store (changes within one second tie); purged records live on for getDeleted. `fail_next` scripts
errors for resilience tests, `delay_next` slow answers (client read timeouts), `truncate_next`
bodies cut short (a dropped connection, or a JSON body cut in half);
`fail_next_bulk_job` makes the next Bulk job end `Failed` (or `Aborted`), and `inject_bulk_nul` puts a NUL byte
into one value of the Bulk CSV output. The org's shape can differ from the sandbox's like real
orgs differ: `single_currency=True` (no CurrencyIsoCode, no currency objects),
`objects_disabled=`/`remove_object` (e.g. no OpportunityFieldHistory when field-history tracking
is off), `add_field`/`remove_field`, and `add_object` for a custom object created at runtime.

Speed (a benchmark serves 1M Opportunity rows through Bulk 2.0): stored records are never changed
in place, so jobs and cursors hold references instead of copies; a table sorted by an ORDER BY is
cached until the object changes, and a range on the first sort field is found by bisection; each
record's Bulk CSV line is rendered once per SELECT list and cached, so a results page is a join of
cached lines; `bulk_load` inserts pre-normalised records without per-record work. Standalone:
`python -m connectors.sandbox.fake_salesforce --opportunities N --port P` serves a synthetic org
(`synthetic_org`). Standard library only.
"""

from __future__ import annotations

import base64
import bisect
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import itertools
import operator
import random
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable
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
            if f.type in sfs.UNFILTERABLE_TYPES:
                raise SoqlError("INVALID_FIELD", f"field '{f.name}' can not be sorted in a query call")
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

    # Predicates are closures called once per stored record (a million for the Bulk benchmark), so
    # they are chained pairwise (`a(r) and b(r)`) rather than through any()/all() over a generator.
    def _or(self, obj):
        pred = self._and(obj)
        while self._is("or"):
            self.i += 1
            pred = _either(pred, self._and(obj))
        return pred

    def _and(self, obj):
        pred = self._atom(obj)
        while self._is("and"):
            self.i += 1
            pred = _both(pred, self._atom(obj))
        return pred

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
        if f.type in sfs.UNFILTERABLE_TYPES:  # compound address, field-history OldValue/NewValue
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


def _conjuncts(pred: Callable[[dict], bool]) -> list[Callable[[dict], bool]]:
    """The AND-ed parts of a compiled predicate (itself if it is not an AND)."""
    return getattr(pred, "conjuncts", None) or [pred]


def _both(a: Callable[[dict], bool], b: Callable[[dict], bool]) -> Callable[[dict], bool]:
    both = lambda r: a(r) and b(r)  # noqa: E731
    both.conjuncts = _conjuncts(a) + _conjuncts(b)  # type: ignore[attr-defined]  # for _range_slice
    return both


def _either(a: Callable[[dict], bool], b: Callable[[dict], bool]) -> Callable[[dict], bool]:
    return lambda r: a(r) or b(r)


def _compare(f: sfs.Field, op: str, value: Any) -> Callable[[dict], bool]:
    """One `field op literal` as a single closure (one call per record: this runs over 1M rows)."""
    key = f.name
    if value is None:
        if op == "=":
            return lambda r: r.get(key) is None
        if op == "!=":
            return lambda r: r.get(key) is not None
        raise SoqlError("MALFORMED_QUERY", f"null can only be compared with = or != (field '{f.name}')")
    if f.type == "boolean" and op not in ("=", "!="):
        raise SoqlError("MALFORMED_QUERY", f"boolean field '{f.name}' only supports = and !=")
    # A null never equals nor orders against a value; `f != x` does match nulls (SOQL).
    if op == "=":
        return lambda r: r.get(key) == value
    if op == "!=":
        return lambda r: r.get(key) != value
    if op == "<":
        pred = lambda r: (v := r.get(key)) is not None and v < value  # noqa: E731
    elif op == "<=":
        pred = lambda r: (v := r.get(key)) is not None and v <= value  # noqa: E731
    elif op == ">":
        pred = lambda r: (v := r.get(key)) is not None and v > value  # noqa: E731
    else:
        pred = lambda r: (v := r.get(key)) is not None and v >= value  # noqa: E731
    if f.type not in _CASE_INSENSITIVE:  # a range a sorted table can answer by bisection (_range_slice)
        pred.range = (key, op, value)  # type: ignore[attr-defined]
    return pred


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
        return (0, v.lower() if isinstance(v, str) and f.type in _CASE_INSENSITIVE else v)

    return key


_CASE_INSENSITIVE = frozenset({"string", "email", "picklist", "textarea", "url", "phone"})


def sort_records(rows: list[dict], order: list[tuple[sfs.Field, bool, bool]]) -> list[dict]:
    """`rows` sorted by ORDER BY items (field, descending, nulls last), as a new list.

    One stable sort per key, last key first. Fast path: keys that are case-sensitive sort on the
    bare value through a C `itemgetter` (ORDER BY SystemModstamp, Id over 1M rows: scalar keys
    are ~2x faster than one sort on (SystemModstamp, Id) tuples, and the Id pass is near-linear
    on a table stored in Id order). A null or a missing key makes that raise (TypeError comparing
    None, KeyError); then the general path runs on a fresh copy of the input, ranking nulls
    explicitly. Both are the same sequence of stable sorts, so they give the same order.
    """
    if not order:
        return list(rows)
    if not any(f.type in _CASE_INSENSITIVE for f, _d, _n in order):
        out = list(rows)
        try:
            for f, desc, _nulls_last in reversed(order):
                out.sort(key=operator.itemgetter(f.name), reverse=desc)
            return out
        except (KeyError, TypeError):
            pass  # a null or a missing key somewhere
    out = list(rows)
    for f, desc, nulls_last in reversed(order):
        out.sort(key=_sort_key(f, nulls_last, desc), reverse=desc)
    return out


def _range_slice(rows: list[dict], q: Query) -> tuple[list[dict], Callable[[dict], bool] | None] | None:
    """For rows sorted by ORDER BY, answer the WHERE's range conditions on the first ORDER BY field
    by bisection: returns (the slice of `rows` they admit, the rest of the WHERE or None), or None
    when this does not apply (no such range, a descending sort, or nulls met while bisecting).

    This turns the connector's `WHERE SystemModstamp >= a AND SystemModstamp < b ORDER BY
    SystemModstamp, Id` over a million cached sorted rows from a full scan into two bisections.
    """
    if not q.order or q.where is None:
        return None
    first, desc, _nulls_last = q.order[0]
    if desc:
        return None
    ranges: list[tuple[str, str, Any]] = []
    rest: list[Callable[[dict], bool]] = []
    for part in _conjuncts(q.where):
        spec = getattr(part, "range", None)
        if spec is not None and spec[0] == first.name:
            ranges.append(spec)
        else:
            rest.append(part)
    if not ranges:
        return None
    key = operator.itemgetter(first.name)
    lo, hi = 0, len(rows)
    try:
        for _name, op, value in ranges:
            if op in (">", ">="):
                at = (bisect.bisect_left if op == ">=" else bisect.bisect_right)(rows, value, lo, hi, key=key)
                lo = max(lo, at)
            else:
                at = (bisect.bisect_left if op == "<" else bisect.bisect_right)(rows, value, lo, hi, key=key)
                hi = min(hi, at)
        # Nulls sort together at one end and no range admits them; bisection may not have met them
        # (only one bound given), so a slice that starts or ends in them is not the answer.
        if lo < hi and (key(rows[lo]) is None or key(rows[hi - 1]) is None):
            return None
    except (KeyError, TypeError):  # a missing or null value was probed: scan instead
        return None
    residual = None
    for part in rest:
        residual = part if residual is None else _both(residual, part)
    return rows[lo:max(lo, hi)], residual


def run_query(q: Query, records: list[dict]) -> list[dict]:
    """Filter, sort and slice stored records (the caller excludes deleted rows for `query`)."""
    rows = [r for r in records if q.where(r)] if q.where else list(records)
    rows = sort_records(rows, q.order)
    rows = rows[q.offset:]
    return rows if q.limit is None else rows[: q.limit]


# ----------------------------------------------------------------------------- the fake


@dataclass
class _BulkJob:
    id: str
    operation: str  # query | queryAll
    obj: str
    fields: list  # sfs.Field, in SELECT order
    # Snapshot of the matching stored records: the record dicts themselves, not copies. Stored
    # records are never changed in place (upsert/delete/remove_field replace the dict), so a job
    # keeps seeing the versions it selected, and copying 1M dicts per job is avoided.
    rows: list[dict]
    created: str
    state: str = "UploadComplete"
    polls: int = 0
    fail: str | None = None  # errorMessage if the job is scripted to fail
    end_state: str = "Failed"  # the state a scripted failure ends in (Failed or Aborted)

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
        if len(value) == 28 and value.endswith("+0000"):  # the stored REST form: just swap the zone
            return value[:23] + "Z"
        when = sfs.parse_datetime(value)
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _csv_column(f: sfs.Field) -> Callable[[list], list[str]]:
    """A formatter for one column of many records: the values as Bulk writes them (`_bulk_value`),
    with RFC 4180 quote doubling; the caller wraps every cell in double quotes.

    Quoting every cell (QUOTE_ALL, as in Salesforce's own examples) keeps commas, CR/LF and quotes
    inside values intact: the bytes are those `csv.writer(quoting=csv.QUOTE_ALL)` writes. Columns
    are formatted with one list comprehension per type instead of a call per value, because a
    cold 1M-row Bulk job formats ~20M values; anything unusual falls back to `_bulk_value`.
    """
    def slow(v: Any) -> str:
        return _bulk_value(f, v).replace('"', '""')

    if f.type == "datetime":  # stored REST form `...000+0000` -> `...000Z`
        return lambda vals: ["" if v is None else
                             v[:23] + "Z" if v.__class__ is str and len(v) == 28 and v.endswith("+0000") else
                             slow(v) for v in vals]
    if f.type in ("id", "reference", "date"):  # plain text that never holds a quote
        return lambda vals: [v if v.__class__ is str else "" if v is None else slow(v) for v in vals]
    if f.type == "boolean":
        return lambda vals: ["true" if v is True else "false" if v is False else "" if v is None else slow(v)
                             for v in vals]
    if f.type in sfs.NUMERIC_TYPES:  # str() is plain notation unless it says E (then format "f")
        return lambda vals: [(t if "E" not in (t := str(v)) else format(v, "f")) if v.__class__ is Decimal else
                             "" if v is None else slow(v) for v in vals]
    return lambda vals: [v.replace('"', '""') if v.__class__ is str else "" if v is None else slow(v)
                         for v in vals]


class _LineCache:
    """Rendered Bulk CSV lines (`"a","b"` + LF) of one object for one SELECT list, by record Id.

    A line is used only while the job's row is the very record dict it was rendered from
    (`sources[Id] is rec`): every change replaces a stored dict (copy-on-write), so a changed
    record misses and is rendered again, and a job reading an older snapshot renders its own
    version. That makes the key effectively (Id, record version, field tuple) with no explicit
    invalidation; schema changes and object removal drop the caches anyway (`_forget`).
    Lines and sources are two flat dicts rather than one dict of (rec, line) tuples: a million
    tuples would be a million more objects for the cyclic garbage collector to walk, again and
    again, while a cold job fills the cache.
    """

    __slots__ = ("columns", "getter", "lines", "sources")

    def __init__(self, fields: list[sfs.Field]) -> None:
        self.columns = [(f.name, _csv_column(f)) for f in fields]
        self.getter = operator.itemgetter(*[f.name for f in fields]) if len(fields) > 1 else None
        self.lines: dict[str, str] = {}
        self.sources: dict[str, dict] = {}

    def render(self, records: list[dict]) -> list[str]:
        """The CSV lines of `records`, formatted column by column.

        Values are gathered record by record (one C `itemgetter` call each) and transposed, rather
        than column by column: the records of a sorted job sit all over memory, and visiting each
        record once instead of once per column halves the time lost to cache misses.
        """
        if not self.columns:
            return ["\n"] * len(records)
        try:
            if self.getter is None:
                raise KeyError
            raw = list(zip(*map(self.getter, records)))
        except KeyError:  # a record without some field (bulk_load takes records as given)
            raw = [[r.get(name) for r in records] for name, _fmt in self.columns]
        cols = [fmt(values) for (_name, fmt), values in zip(self.columns, raw)]
        return ['"' + '","'.join(cells) + '"\n' for cells in zip(*cols)]

    def page(self, rows: list[dict], skip: frozenset[str] = frozenset()) -> list[str]:
        """The lines of `rows`: cached ones reused, the others rendered in one go and cached
        (except Ids in `skip`, whose output is being tampered with, see inject_bulk_nul)."""
        ids = [rec["Id"] for rec in rows]
        get_line = self.lines.get
        out: list[str | None] = [get_line(rec_id) if src is rec else None
                                 for rec_id, src, rec in zip(ids, map(self.sources.get, ids), rows)]
        missing = [i for i, line in enumerate(out) if line is None]
        if missing:
            records = [rows[i] for i in missing]
            for i, rec, line in zip(missing, records, self.render(records)):
                out[i] = line
                if ids[i] not in skip:
                    self.lines[ids[i]] = line
                    self.sources[ids[i]] = rec
        return out  # type: ignore[return-value]


@dataclass
class _Fault:
    status: int
    error_code: str
    message: str
    times: int
    path: str | None
    body: str | None
    headers: dict[str, str]
    delay: float = 0.0  # seconds to sleep before answering (delay_next); 0 for an error fault


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
        single_currency: bool = False,
        objects_disabled: tuple[str, ...] | list[str] = (),
    ) -> None:
        """`single_currency=True`: an org without multi-currency (no CurrencyIsoCode field anywhere,
        no CurrencyType/DatedConversionRate). `objects_disabled`: objects this org lacks (e.g.
        OpportunityFieldHistory when field-history tracking is off), as after `remove_object`."""
        self.port = port
        self.batch_size = max(200, min(2000, batch_size))
        self.bulk_polls = max(1, bulk_polls)  # job-info polls until a Bulk query job is JobComplete
        self.access_token = access_token
        self.api_version = api_version
        self.api_usage = 0  # requests served today; tests may set it (with `api_limit`) to script quota
        self.api_limit = API_LIMIT
        self.single_currency = single_currency
        self.schemas: dict[str, sfs.SObject] = {}  # this org's schema (`add_field`, `add_object`, ...)
        for name, schema in sfs.SCHEMAS.items():
            if name in objects_disabled or (single_currency and name in sfs.CURRENCY_OBJECTS):
                continue
            if single_currency and schema.field("CurrencyIsoCode") is not None:
                schema = dataclasses.replace(schema, _by_lower={},
                                             fields=tuple(f for f in schema.fields if f.name != "CurrencyIsoCode"))
            self.schemas[name] = schema
        unknown = set(objects_disabled) - set(sfs.SCHEMAS)
        if unknown:
            raise KeyError(f"no such object to disable: {sorted(unknown)}")
        self.requests: list[str] = []  # "GET /path?query", for tests that check what was called
        # Stored records by object and Id. A stored record dict is never changed in place: a change
        # replaces it with an updated copy (copy-on-write), which is what lets Bulk jobs and the CSV
        # line cache hold references instead of copies. Go through upsert/delete/... to change data.
        self.store: dict[str, dict[str, dict]] = {name: {} for name in self.schemas}
        self._versions: dict[str, int] = dict.fromkeys(self.schemas, 0)  # bumped on every change
        self._sorted: dict[tuple, tuple[int, list[dict]]] = {}  # (obj, ORDER BY) -> (version, all rows sorted)
        self._line_caches: dict[tuple[str, tuple[str, ...]], _LineCache] = {}
        self._custom_prefixes = itertools.count(sfs._B62.index("X"))  # a0X, a0Y, ... for add_object
        self._lock = threading.RLock()
        self._cursors: dict[str, tuple[tuple[list[dict], Any], int, int]] = {}  # id -> ((records, query), total, batch)
        self._cursor_ids = itertools.count(1)
        self._new_ids = itertools.count(1)
        self._faults: list[_Fault] = []
        self._delays: list[_Fault] = []  # delay_next: slow answers, independent of the error faults
        self._cuts: list[_Fault] = []  # truncate_next: bodies cut short (error_code holds the mode)
        self._tombstones: dict[str, dict[str, str]] = {}  # purged records: obj -> Id -> deletedDate
        self.bulk_jobs: dict[str, _BulkJob] = {}
        self._bulk_ids = itertools.count(1)
        self._bulk_failures: list[tuple[str, str]] = []  # (final state, errorMessage) of the next jobs
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
            if path.stem not in self.schemas:  # unknown, disabled, or a currency object of a single-currency org
                continue
            table = self.store[path.stem]
            for rec in sfs.loads(path.read_bytes()):
                if self.single_currency:
                    rec.pop("CurrencyIsoCode", None)
                table[rec["Id"]] = rec
                stamp = rec.get("SystemModstamp")
                if stamp:
                    self._latest = max(self._latest, sfs.parse_datetime(stamp))
            self._bump(path.stem)

    def _bump(self, obj: str) -> None:
        """`obj`'s data changed: cached sorted tables of it are stale (CSV lines check themselves)."""
        self._versions[obj] = self._versions.get(obj, 0) + 1

    def bulk_load(self, obj: str, records: Iterable[dict]) -> int:
        """Insert (or replace) many records fast, for benchmarks; returns how many.

        The records must already be in stored form, as `_load` reads them from the generator's
        files: `Id` set, datetimes as REST strings (`...000+0000`), dates ISO, money `Decimal`.
        Nothing is validated or normalised and the dicts are stored as given (do not change them
        afterwards). Their SystemModstamps count as "the latest in the org" for later changes.
        """
        with self._lock:
            table = self.store[obj]
            before = len(table)
            latest = None
            for rec in records:
                table[rec["Id"]] = rec
                stamp = rec.get("SystemModstamp")
                if stamp is not None and (latest is None or stamp > latest):
                    latest = stamp  # canonical REST strings order like the datetimes they are
            if latest is not None:
                self._latest = max(self._latest, sfs.parse_datetime(latest))
            self._bump(obj)
            return len(table) - before

    def _next_stamp(self) -> dt.datetime:
        """Now (whole seconds), but never before the latest SystemModstamp in the org.

        Changes within one second share their stamp (a tie, as in a real org) rather than being
        pushed one second apart: that would put stamps in the future, past the end of a
        connector's window that starts right after the change (`< run start`), which a real org
        never does."""
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        return max(now, self._latest)

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

    def _schema(self, obj: str) -> sfs.SObject:
        schema = self.schemas.get(obj)
        if schema is None:
            raise KeyError(f"this org has no object {obj!r}")
        return schema

    def upsert(self, obj: str, record: dict, *, system_modstamp: dt.datetime | str | None = None) -> dict:
        """Create or update a record (as a user would); returns the stored record.

        SystemModstamp (and LastModifiedDate, unless given) become `system_modstamp`, by default
        now but never below anything in the org; objects without them (field history) get only
        CreatedDate on creation. A new record without `Id` gets one.
        """
        schema = self._schema(obj)
        with self._lock:
            values = self._normalise(schema, record)
            stamp = self._stamp(system_modstamp)
            table = self.store[obj]
            rec_id = values.get("Id")
            if rec_id in table:
                rec = dict(table[rec_id])  # copy-on-write: jobs and caches may hold the old dict
            else:
                rec_id = rec_id or sfs.sf_id(schema.key_prefix, 3_000_000_000 + next(self._new_ids))
                rec = {name: None for name in schema.stored_fields}
                rec.update(Id=rec_id, CreatedDate=stamp)
                self._tombstones.get(obj, {}).pop(rec_id, None)  # (an undeleted Id comes back)
                if schema.has_is_deleted:
                    rec["IsDeleted"] = False
            rec.update(values)
            if schema.field("SystemModstamp") is not None:
                rec["SystemModstamp"] = stamp
            if "LastModifiedDate" not in values and schema.field("LastModifiedDate") is not None:
                rec["LastModifiedDate"] = stamp
            table[rec_id] = rec
            self._bump(obj)
            return dict(rec)

    def delete(self, obj: str, record_id: str, *, system_modstamp: dt.datetime | str | None = None) -> dict:
        """Soft delete (Recycle Bin): only queryAll still returns the record."""
        with self._lock:
            schema = self._schema(obj)
            if not schema.has_is_deleted:
                raise ValueError(f"{obj} has no IsDeleted (nothing to soft-delete); use purge()")
            rec = dict(self.store[obj][record_id])
            stamp = self._stamp(system_modstamp)
            rec["IsDeleted"] = True
            for name in ("LastModifiedDate", "SystemModstamp"):
                if schema.field(name) is not None:
                    rec[name] = stamp
            self.store[obj][record_id] = rec
            self._bump(obj)
            return dict(rec)

    def purge(self, obj: str, record_id: str, *, system_modstamp: dt.datetime | str | None = None) -> None:
        """Hard delete (emptied Recycle Bin, or deleted for good at once): the record disappears from
        every query; only getDeleted (`sobjects/X/deleted`) still names it, as Salesforce does.

        Its deletedDate is when it was soft-deleted, or `system_modstamp` (default: now, like any
        change) for a record that never went through the Recycle Bin."""
        with self._lock:
            rec = self.store[obj].pop(record_id)
            if rec.get("IsDeleted"):
                deleted = rec.get(self._schema(obj).cursor_field)
            else:
                deleted = self._stamp(system_modstamp)
            self._tombstones.setdefault(obj, {})[record_id] = deleted
            self._bump(obj)

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
            table = self.store[obj]
            for rec_id, rec in table.items():
                table[rec_id] = {**rec, name: None}  # copy-on-write (see `store`)
            self._forget(obj)

    def remove_field(self, obj: str, name: str) -> None:
        """Delete a field from this org's `obj`: gone from describe; querying it is INVALID_FIELD."""
        with self._lock:
            schema = self.schemas[obj]
            f = schema.field(name)
            if f is None:
                raise KeyError(f"{obj} has no field {name!r}")
            kept = tuple(x for x in schema.fields if x.name != f.name)
            self.schemas[obj] = dataclasses.replace(schema, fields=kept, _by_lower={})
            table = self.store[obj]
            for rec_id, rec in table.items():
                if f.name in rec:  # copy-on-write: a running Bulk job still serves the old values
                    table[rec_id] = {k: v for k, v in rec.items() if k != f.name}
            self._forget(obj)

    def _forget(self, obj: str) -> None:
        """Drop everything cached about `obj` (schema change, object removed)."""
        self._bump(obj)
        for key in [k for k in self._line_caches if k[0] == obj]:
            del self._line_caches[key]
        for key in [k for k in self._sorted if k[0] == obj]:
            del self._sorted[key]

    # -- objects (an org with or without a feature; an admin creating a custom object) -----

    def remove_object(self, name: str) -> None:
        """This org lacks `name` (e.g. OpportunityFieldHistory with field-history tracking off): gone
        from the global describe, INVALID_TYPE in SOQL (REST and Bulk), 404 NOT_FOUND on describe."""
        with self._lock:
            self._schema(name)
            del self.schemas[name]
            del self.store[name]
            self._tombstones.pop(name, None)
            self._forget(name)

    def add_object(
        self,
        name: str,
        fields: Iterable[sfs.Field | tuple[str, str] | tuple[str, str, str]] = (),
        *,
        label: str | None = None,
        key_prefix: str | None = None,
    ) -> sfs.SObject:
        """Create a custom object (`Invoice_Plan__c`) at runtime; upsert, SOQL, Bulk and describe
        (with `custom: true`) then work for it.

        `fields` are `sfs.Field`s or `(name, type)` / `(name, "reference", target)` tuples. Like a
        real custom object it gets the system fields, a `Name`, and `CurrencyIsoCode` in a
        multi-currency org. Key prefix `a0X`, `a0Y`, ... unless given.
        """
        if not name.endswith("__c"):
            raise ValueError(f"a custom object's API name ends with __c: {name!r}")
        extra: list[sfs.Field] = []
        for spec in fields:
            if isinstance(spec, sfs.Field):
                extra.append(spec)
            elif len(spec) == 3:
                extra.append(sfs.Field(spec[0], spec[1], reference_to=(spec[2],), custom=spec[0].endswith("__c")))
            else:
                extra.append(sfs.Field(spec[0], spec[1], custom=spec[0].endswith("__c")))
        base = list(sfs._common())
        given = {f.name.lower() for f in extra}
        if "name" not in given:
            base.append(sfs.Field("Name", "string"))
        if not self.single_currency and "currencyisocode" not in given:
            base.append(sfs._CCY)
        with self._lock:
            if any(o.lower() == name.lower() for o in self.schemas):
                raise ValueError(f"this org already has an object {name!r}")
            prefix = key_prefix or "a0" + sfs._B62[next(self._custom_prefixes) % 62]
            schema = sfs.SObject(name, prefix, label or name.removesuffix("__c").replace("_", " "),
                                 tuple(base + extra), custom=True)
            self.schemas[name] = schema
            self.store[name] = {}
            self._bump(name)
            return schema

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
        """Answer the next `times` requests (whose path, or query string, contains `path`, if given)
        with an error.

        The body is Salesforce's `[{"errorCode", "message"}]` unless `body` gives raw text
        (e.g. the HTML of a 503). `headers` adds e.g. `Retry-After`.
        """
        with self._lock:
            self._faults.append(_Fault(status, error_code, message or error_code.replace("_", " ").lower(),
                                       times, path, body, dict(headers or {})))

    def fail_next_bulk_job(self, message: str = "INTERNAL_ERROR : An unexpected error occurred",
                           state: str = "Failed") -> None:
        """The next Bulk query job created ends in `state` (`Failed`, or `Aborted` as when an admin
        aborts it) with this `errorMessage` (on its last poll)."""
        if state not in ("Failed", "Aborted"):
            raise ValueError(f"a Bulk job ends Failed or Aborted, not {state!r}")
        with self._lock:
            self._bulk_failures.append((state, message))

    def truncate_next(self, times: int = 1, path: str | None = None, mode: str = "length") -> None:
        """The next `times` answers (to requests whose path or query string contains `path`, if
        given) arrive cut short. `mode="length"`: `Content-Length` announces the whole body, half
        of it is sent, then the connection closes (a dropped connection or a crashed proxy);
        `mode="json"`: the body itself is cut in half and its length says so (a proxy that
        truncated and re-framed it): the HTTP layer sees nothing wrong, the JSON parser does."""
        if mode not in ("length", "json"):
            raise ValueError(f"truncation mode is 'length' or 'json', not {mode!r}")
        with self._lock:
            self._cuts.append(_Fault(200, mode, "", times, path, None, {}))

    def _take_cut(self, raw_path: str) -> str | None:
        """The truncation mode scripted for this request, if any (used up after `times`)."""
        if not self._cuts:
            return None
        parts = urlsplit(raw_path)
        cut = self._take_fault(parts.path.rstrip("/") or "/", self._cuts, parts.query)
        return cut.error_code if cut is not None else None

    def inject_bulk_nul(self, record_id: str, field: str) -> None:
        """Bulk CSV output of this record's `field` gets a NUL byte in the middle (airbyte#8300)."""
        with self._lock:
            self._bulk_nul.add((record_id, field.lower()))

    def delay_next(self, seconds: float, times: int = 1, path: str | None = None) -> None:
        """The next `times` requests (whose path or query string contains `path`, if given) sleep `seconds` before
        being answered normally: a client read timeout shorter than that fires, and the
        transport's retry gets the next (undelayed) answer. Independent of `fail_next` faults."""
        with self._lock:
            self._delays.append(_Fault(200, "", "", times, path, None, {}, delay=seconds))

    def _take_fault(self, path: str, pool: list[_Fault] | None = None, query: str = "") -> _Fault | None:
        """The first scripted fault whose `path` is in the request's path, or in its query string
        (e.g. `locator=` for Bulk result pages after the first); used up after `times` requests."""
        pool = self._faults if pool is None else pool
        with self._lock:
            for fault in pool:
                if fault.path is None or fault.path in path or (query and fault.path in query):
                    fault.times -= 1
                    if fault.times <= 0:
                        pool.remove(fault)
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
        slow = self._take_fault(path, self._delays, parts.query)
        if slow is not None:
            time.sleep(slow.delay)  # outside the lock: other requests (the client's retry) go on
        fault = self._take_fault(path, query=parts.query)
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

    def _select(self, q: Query, *, include_deleted: bool) -> list[dict]:
        """The stored records a query returns (the dicts themselves; call with the lock held).

        With ORDER BY, the whole table sorted that way is cached until the object changes, so a
        repeated or re-windowed query (each incremental run, each benchmark pass) only filters, and
        a range on the first ORDER BY field is found by bisection (`_range_slice`).
        """
        obj = q.obj.name
        if q.order:
            key = (obj, tuple((f.name, f.type, desc, nulls_last) for f, desc, nulls_last in q.order))
            version = self._versions.get(obj, 0)
            cached = self._sorted.get(key)
            if cached is None or cached[0] != version:
                cached = (version, sort_records(list(self.store[obj].values()), q.order))
                self._sorted.pop(key, None)
                self._sorted[key] = cached
                while len(self._sorted) > 8:  # a few orders per object are enough
                    self._sorted.pop(next(iter(self._sorted)))
            base: Iterable[dict] = cached[1]
            where = q.where
            sliced = _range_slice(cached[1], q)
            if sliced is not None:
                base, where = sliced
        else:
            base = self.store[obj].values()
            where = q.where
        if not include_deleted and q.obj.has_is_deleted:
            rows = [r for r in base if not r.get("IsDeleted") and where(r)] if where else \
                [r for r in base if not r.get("IsDeleted")]
        else:
            rows = [r for r in base if where(r)] if where else list(base)
        if q.offset:
            rows = rows[q.offset:]
        return rows if q.limit is None else rows[: q.limit]

    def _query(self, soql: str, *, include_deleted: bool, headers: dict[str, str]) -> dict:
        q = parse_soql(soql, self.schemas)
        with self._lock:  # a cursor is a snapshot, like Salesforce's
            rows = self._select(q, include_deleted=include_deleted)
            if q.count:
                return {"totalSize": len(rows), "done": True, "records": []}
        # The cursor keeps the selected records (stored records are replaced, never edited, on
        # change, so this is a snapshot) and each page is projected when served: projecting 1M
        # rows up front cost the first page 11 s.
        return self._page((rows, q), 0, len(rows), self._batch(headers), None)

    def _page(self, snapshot: tuple[list[dict], Any], offset: int, total: int, batch: int,
              cursor: str | None) -> dict:
        rows, q = snapshot
        end = offset + batch
        records = [self._project(q.obj, r, q.fields) for r in rows[offset:end]]
        page = {"totalSize": total, "done": end >= len(rows), "records": records}
        if end < len(rows):
            with self._lock:
                if cursor is None:
                    cursor = "01g" + sfs.sf_id("01g", next(self._cursor_ids))[3:15]
                    self._cursors[cursor] = (snapshot, total, batch)
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
        snapshot, total, batch = entry
        return self._page(snapshot, int(offset), total, batch, cursor)

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
                        job.state = job.end_state if job.fail else "JobComplete"
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
        with self._lock:  # a job reads a snapshot, like a cursor (references: see _BulkJob.rows)
            rows = self._select(q, include_deleted=operation == "queryAll")
            job_id = "750" + sfs.sf_id("750", next(self._bulk_ids))[3:15]
            created = sfs.format_datetime(dt.datetime.now(dt.timezone.utc))
            end_state, fail = self._bulk_failures.pop(0) if self._bulk_failures else ("Failed", None)
            job = _BulkJob(job_id, operation, q.obj.name, q.fields, rows, created, fail=fail, end_state=end_state)
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
        # A page is a join of per-record lines, rendered once and cached across pages and jobs
        # (_LineCache); only records scripted to carry a NUL byte are rendered apart.
        names = tuple(f.name for f in job.fields)
        with self._lock:
            nul = set(self._bulk_nul)
            cache = self._line_caches.pop((job.obj, names), None) or _LineCache(job.fields)
            self._line_caches[(job.obj, names)] = cache  # most recently used last
            while len(self._line_caches) > 6:  # each may hold a line per record: keep a few SELECT lists
                self._line_caches.pop(next(iter(self._line_caches)))
        header = '"' + '","'.join(n.replace('"', '""') for n in names) + '"\n'
        tampered = frozenset(rec_id for rec_id, _f in nul)
        lines = cache.page(page, tampered)
        if tampered:
            wanted = {f.name.lower() for f in job.fields}
            for i, rec in enumerate(page):
                if rec["Id"] in tampered and any((rec["Id"], n) in nul for n in wanted):
                    lines[i] = self._nul_line(job.fields, rec, nul)
        body = header + "".join(lines)
        next_locator = "null" if end >= len(job.rows) else \
            base64.urlsafe_b64encode(f"{job.id}:{end}".encode()).decode().rstrip("=")
        return 200, body, {"Content-Type": "text/csv", "Sforce-Locator": next_locator,
                           "Sforce-NumberOfRecords": str(len(page))}

    @staticmethod
    def _nul_line(fields: list[sfs.Field], rec: dict, nul: set[tuple[str, str]]) -> str:
        values = []
        for f in fields:
            text = _bulk_value(f, rec.get(f.name))
            if (rec["Id"], f.name.lower()) in nul:
                text = text[: len(text) // 2] + "\x00" + text[len(text) // 2:]
            values.append(text)
        out = io.StringIO()
        csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(values)
        return out.getvalue()

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
        cursor = schema.cursor_field  # field history: CreatedDate; setup objects are never deleted
        with self._lock:
            hits = [r for r in self.store[schema.name].values()
                    if start <= (r.get(cursor) or "") <= end and bool(r.get("IsDeleted")) == (kind == "deleted")]
        if kind == "deleted":
            deleted = [{"id": r["Id"], "deletedDate": r[cursor]} for r in hits]
            with self._lock:  # purged records too, until their tombstone expires (never, here)
                deleted += [{"id": rec_id, "deletedDate": when}
                            for rec_id, when in self._tombstones.get(schema.name, {}).items() if start <= when <= end]
            return 200, {"deletedRecords": deleted,
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
    # TCP_NODELAY, as in fake_hubspot.py: headers and body are two writes, and with Nagle on the
    # body waits ~40 ms for the client's delayed ACK on every request, which no real API adds
    disable_nagle_algorithm = True

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
        cut = self.fake._take_cut(self.path)
        announced = len(data)
        if cut == "json":
            data = data[: len(data) // 2]
            announced = len(data)
        elif cut == "length":
            data = data[: len(data) // 2]
            self.close_connection = True  # then hang up: the client reads fewer bytes than announced
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(announced))
        self.send_header("Sforce-Limit-Info", f"api-usage={self.fake.api_usage}/{self.fake.api_limit}")
        for name, value in extra.items():
            self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (read timeout, delay_next)
            self.close_connection = True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")


# ----------------------------------------------------------------------------- standalone (benchmarks)

_SYNTH_PRODUCTS = ("Platform", "Platform + Analytics", "Cash Application", "Billing Suite", "Forecasting",
                   "Enterprise Bundle")
_SYNTH_WORDS = ("Blue", "Silver", "North", "Summit", "Apex", "Iron", "Cedar", "Harbor", "Granite", "Falcon",
                "Orbit", "Quantum", "Atlas", "Beacon", "Delta", "Glacier", "Horizon", "Meridian", "Sierra",
                "Zenith")
_SYNTH_KINDS = ("Analytics", "Systems", "Logistics", "Foods", "Health", "Energy", "Capital", "Robotics",
                "Networks", "Retail")


def synthetic_org(opportunities: int, *, seed: int = 1) -> dict[str, list[dict]]:
    """A deterministic org of `opportunities` Opportunities (plus their Accounts), in stored form for
    `FakeSalesforce.bulk_load`, cheaply enough for a million (a few seconds).

    Realistic where a connector looks: Amount a 2-decimal `Decimal` (a few null), CurrencyIsoCode
    USD/EUR/GBP, StageName with its Probability/IsClosed/IsWon, CloseDate, CreatedDate ≤
    LastModifiedDate ≤ SystemModstamp spread over 2025, a few % of SystemModstamps moved to one of
    a few moments shared by many rows (batch jobs: ties), about 1 % soft-deleted. Nothing reads
    the wall clock. Speed: random picks index tuples with `random()`, datetimes are joined from
    per-day and per-second strings; strftime and Random.choice per value would dominate otherwise.
    """
    rng = random.Random(seed)
    rand = rng.random
    year = 365 * 86400
    days = [(dt.date(2025, 1, 1) + dt.timedelta(days=d)).isoformat() for d in range(366)]
    clock = [f"T{x // 3600:02d}:{x // 60 % 60:02d}:{x % 60:02d}.000+0000" for x in range(86400)]

    def stamp(offset: int) -> str:
        return days[offset // 86400] + clock[offset % 86400]

    def pick(seq: tuple | list) -> Any:
        return seq[int(rand() * len(seq))]

    owners = [sfs.sf_id("005", 2_000_000_000 + 37 * i) for i in range(25)]
    n_accounts = max(1, opportunities // 8)
    accounts, account_ccy = [], []
    currencies = ("USD", "USD", "USD", "EUR", "EUR", "GBP")
    for i in range(n_accounts):
        created = stamp(int(rand() * year / 2))
        ccy = pick(currencies)
        account_ccy.append(ccy)
        accounts.append({
            "Id": sfs.sf_id("001", 2_000_000_000 + 37 * i), "IsDeleted": False, "CreatedDate": created,
            "LastModifiedDate": created, "SystemModstamp": created,
            "Name": f"{pick(_SYNTH_WORDS)} {pick(_SYNTH_KINDS)} {i}", "Type": "Customer",
            "Industry": pick(sfs.INDUSTRIES), "BillingCity": None, "BillingCountry": None,
            "OwnerId": pick(owners), "AccountNumber": None, "CurrencyIsoCode": ccy,
        })
    # a few moments shared by many rows (nightly batch jobs), in the second half of the year
    batch_moments = [stamp(year // 2 + int(rand() * (year // 2 - 86400)))
                     for _ in range(max(1, opportunities // 50_000))]
    # per stage: (StageName, Probability, ForecastCategoryName, IsClosed, IsWon), by stage frequency
    stage_rows = [(st, Decimal(sfs.STAGE_PROBABILITY[st]), sfs.STAGE_FORECAST_NAME[st], st.startswith("Closed"),
                   st == "Closed Won") for st in sfs.STAGES]
    stage_pool = tuple(row for row, weight in zip(stage_rows, (12, 10, 8, 8, 7, 30, 25)) for _ in range(weight))
    products = _SYNTH_PRODUCTS
    sources = sfs.LEAD_SOURCES + (None, None)
    opp_types = ("New Customer",) * 7 + ("Existing Customer - Upgrade",) * 3
    lognorm = rng.lognormvariate
    opps = []
    append = opps.append
    span = year - 86400 * 20
    n_pool, n_products, n_sources, n_types, n_owners, n_batch = (
        len(stage_pool), len(products), len(sources), len(opp_types), len(owners), len(batch_moments))
    for i in range(opportunities):  # picks and datetimes inlined: this loop runs a million times
        created = int(rand() * span)
        modified = created + int(rand() ** 3 * (year - 1 - created))
        r = rand()
        system = min(modified + int(r * 36000), year - 1) if r < 0.1 else modified  # automation after the user
        a = int(rand() * n_accounts)
        stage, probability, forecast, closed, won = stage_pool[int(rand() * n_pool)]
        amount = Decimal(int(lognorm(14.3, 0.8))).scaleb(-2)  # cents -> 2 decimals, median ≈ 16,000.00
        account = accounts[a]
        last = days[system // 86400] + clock[system % 86400]
        append({
            "Id": sfs.sf_id("006", 2_000_000_000 + 37 * i), "IsDeleted": rand() < 0.01,
            "CreatedDate": days[created // 86400] + clock[created % 86400],
            "LastModifiedDate": days[modified // 86400] + clock[modified % 86400],
            "SystemModstamp": max(batch_moments[int(rand() * n_batch)], last) if rand() < 0.03 else last,
            "AccountId": account["Id"], "Name": account["Name"] + " - " + products[int(rand() * n_products)],
            "StageName": stage, "Amount": None if rand() < 0.005 else amount,
            "CurrencyIsoCode": account_ccy[a], "Probability": probability, "ForecastCategoryName": forecast,
            "CloseDate": days[min(365, created // 86400 + 20 + int(rand() * 100))],
            "IsClosed": closed, "IsWon": won, "LeadSource": sources[int(rand() * n_sources)], "CampaignId": None,
            "OwnerId": owners[int(rand() * n_owners)], "Type": opp_types[int(rand() * n_types)],
        })
    return {"Account": accounts, "Opportunity": opps}


def main(argv: list[str] | None = None) -> int:
    """`python -m connectors.sandbox.fake_salesforce --opportunities N [--port P] [--token T]`: serve a
    synthetic org (or a generated sandbox with --data-dir) until interrupted or terminated.

    The first line on stdout is the base URL alone (`http://127.0.0.1:<port>`), for scripts that
    start it and wait for that line; details go to stderr.
    """
    import argparse
    import gc
    import signal

    parser = argparse.ArgumentParser(prog="python -m connectors.sandbox.fake_salesforce", description=main.__doc__)
    parser.add_argument("--opportunities", type=int, default=0, help="synthetic Opportunities to add")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--token", default="sandbox-token", help="the access token clients must send")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="a generated sandbox to serve (default: none, an empty org)")
    parser.add_argument("--single-currency", action="store_true")
    parser.add_argument("--bulk-polls", type=int, default=1)
    args = parser.parse_args(argv)
    # a folder without salesforce/ gives an empty org (it need not exist)
    data_dir = args.data_dir or Path(tempfile.gettempdir()) / "ltc-fake-salesforce-empty-org"
    fake = FakeSalesforce(data_dir, port=args.port, bulk_polls=args.bulk_polls, access_token=args.token,
                          single_currency=args.single_currency)
    started = time.perf_counter()
    if args.opportunities:
        for obj, records in synthetic_org(args.opportunities, seed=args.seed).items():
            if args.single_currency:
                for rec in records:
                    rec.pop("CurrencyIsoCode", None)
            fake.bulk_load(obj, records)
    loaded = time.perf_counter() - started
    # The org's millions of objects live as long as the process: move them out of the cyclic
    # collector's sight, so the collections that filling the CSV line cache triggers stay cheap.
    gc.collect()
    gc.freeze()
    url = fake.start()
    print(url, flush=True)
    print(f"fake Salesforce at {url}: token {fake.access_token!r}, "
          f"{len(fake.store['Opportunity']):,} Opportunity rows, filled in {loaded:.1f} s", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
