"""Checklist #23 (reliability-and-performance.md §9, §1.6): DuckDB 2.0 API drift.

Why this module exists: DuckDB changes its Python API between minors (2.0 removed
`DuckDBPyRelation.fetchone()` / `fetchmany()` and made `.arrow()` return a lazy
`pyarrow.RecordBatchReader` that holds the connection). A minor that sneaks in through a loose pin
breaks code paths no test happens to exercise, so CI must (1) pin the exact version and run on it,
and (2) keep the calls 2.0 removed out of the code.

Measured on duckdb 2.0.1: `fetch_arrow_table()` still exists on a relation, so it is NOT flagged
here; only what 2.0 really removed or changed is.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("connectors", "reports", "expectations", "orchestration", "benchmarks")

# Methods that return a DuckDBPyRelation (on a connection, the module or a relation).
RELATION_MAKERS = frozenset({
    "sql", "query", "table", "view", "values", "from_query", "from_df", "from_arrow", "from_parquet",
    "from_csv_auto", "read_csv", "read_parquet", "read_json", "filter", "project", "select", "limit",
    "order", "sort", "aggregate", "distinct", "join", "union", "except_", "intersect",
})
REMOVED_ON_RELATION = frozenset({"fetchone", "fetchmany"})  # 2.0: "Use rel.limit(1).fetchall()"
# What a RecordBatchReader (the 2.0 `.arrow()` result) offers; anything else was a Table's API.
READER_API = frozenset({"read_all", "read_next_batch", "read_pandas", "schema", "close", "cast",
                        "iter_batches_with_custom_metadata", "read_next_batch_with_custom_metadata"})


def _pin(name: str) -> str:
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)\s*$", (REPO / "constraints.txt").read_text(), re.M))
    assert name in pins, f"constraints.txt has no exact `{name}==X.Y.Z` pin"
    return pins[name]


def _major_minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def test_duckdb_is_pinned_exactly_and_the_installed_minor_is_the_pinned_one():
    """#23: fails when constraints.txt loosens the duckdb pin (a range, a wildcard or none), or
    when the environment runs another major.minor than the pin (a different minor sneaked in)."""
    pin = _pin("duckdb")
    assert re.fullmatch(r"\d+\.\d+\.\d+", pin), f"duckdb pin {pin!r} is not an exact X.Y.Z version"
    installed = importlib.metadata.version("duckdb")
    assert _major_minor(installed) == _major_minor(pin), f"duckdb {installed} installed, {pin} pinned"
    assert _major_minor(duckdb.__version__) == _major_minor(pin)  # the module really imported


def drift_findings(source: str, filename: str = "<src>") -> list[str]:
    """Calls that DuckDB 2.0 removed or changed, found in `source`: `<relation>.fetchone()` /
    `.fetchmany()`, and `.arrow()` used as a Table (an attribute a RecordBatchReader lacks)."""
    findings = []
    for node in ast.walk(ast.parse(source, filename)):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call)):
            continue
        inner = node.value.func
        if not isinstance(inner, ast.Attribute):
            continue
        if node.attr in REMOVED_ON_RELATION and inner.attr in RELATION_MAKERS:
            findings.append(f"{filename}:{node.lineno}: .{inner.attr}(...).{node.attr}() (removed in 2.0)")
        if inner.attr == "arrow" and node.attr not in READER_API:
            findings.append(f"{filename}:{node.lineno}: .arrow().{node.attr} (a RecordBatchReader in 2.0)")
    return findings


def test_the_drift_scanner_finds_what_duckdb_2_removed():
    """The scanner below must be able to fail: it flags the planted 1.x idioms, and the real
    2.0 API confirms they are gone (if DuckDB brings them back, this says so)."""
    planted = ("n = con.sql('select 1').fetchone()\n"
               "rows = con.query('select 1').fetchmany(5)\n"
               "t = con.sql('select 1').arrow().num_rows\n"
               "ok = con.execute('select 1').fetchone()\n"  # a connection's fetchone: still there
               "ok2 = con.sql('select 1').arrow().read_all()\n")
    assert len(drift_findings(planted)) == 3
    rel = duckdb.connect().sql("select 1")
    assert not hasattr(rel, "fetchone") and not hasattr(rel, "fetchmany")
    reader = rel.arrow()
    assert not hasattr(reader, "num_rows") and all(hasattr(reader, a) for a in ("read_all", "schema"))


def test_no_code_calls_the_duckdb_apis_that_2_0_removed():
    """#23: fails when code under connectors/, reports/, expectations/, orchestration/ or
    benchmarks/ calls `<relation>.fetchone()/.fetchmany()` or uses `.arrow()` as a Table."""
    findings = []
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            if any(word in source for word in ("fetchone", "fetchmany", ".arrow(")):  # parse only these
                findings += drift_findings(source, str(path.relative_to(REPO)))
    assert not findings, "\n".join(findings)
