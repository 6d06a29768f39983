"""Validate a GX suite inside DuckDB: the suite's expectations compiled to SQL.

Why: the pandas path copies every checked column of the table into Python and GX then compares
row by row (Decimal money is an object column, so `between` runs a Python loop). GX 1.24 has no
DuckDB datasource, and its generic SQL datasource needs the third-party `duckdb_engine`
SQLAlchemy dialect, which is not installed here. So the suite stays the GX object (the one
definition both paths read) and this module computes each expectation's outcome in the
database: one scan counts every row-level expectation's unexpected rows (`count(*) filter
(where …)`), one grouped query per uniqueness check, and only for the expectations that failed a
query fetching at most `MAX_KEYS` key values. Nothing but counts and keys leaves DuckDB.

Semantics follow GX's pandas engine so that both paths give the same `ValidationSummary`
(tests/unit/expectations/test_engines.py): nulls are not evaluated by value checks; uniqueness
reports every row of a duplicated group; compound uniqueness treats nulls as equal and ignores
all-null rows; failing keys are distinct, in row order (table order; key order for a query),
capped at `MAX_KEYS`. An expectation type this module does not know raises `Unsupported`, and the
runner validates that suite with pandas instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from expectations.core import (
    MAX_KEYS,
    ValidationSummary,
    applicable,
    columns_of,
    config_label,
    join_key,
    resolve,
    severity_of,
    unique_labels,
    worst,
)


class Unsupported(Exception):
    """An expectation (or an option of one) that has no SQL translation here."""


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class Relation:
    """What to validate: a FROM item, its columns (name → DuckDB type) and the expression that
    gives a row's position (for reporting failing keys in row order)."""

    from_sql: str
    columns: Mapping[str, str]
    position: str

    @classmethod
    def table(cls, con: duckdb.DuckDBPyConnection, schema: str, name: str) -> Relation | None:
        rows = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        ).fetchall()
        if not rows:
            return None
        # rowid: the storage order a plain `select` returns, which is the pandas path's frame order
        return cls(f"{quote(schema)}.{quote(name)}", dict(rows), "r.rowid")

    @classmethod
    def query(cls, con: duckdb.DuckDBPyConnection, sql: str, order_by: Sequence[str]) -> Relation:
        described = con.sql(f"select * from ({sql}) as q limit 0")
        columns = {c: str(t) for c, t in zip(described.columns, described.types)}
        order = ", ".join(quote(c) for c in order_by if c in columns) or "true"
        from_sql = f"(select row_number() over (order by {order}) as __ltc_pos, * from ({sql}) as q)"
        return cls(from_sql, columns, "r.__ltc_pos")


# ---------------------------------------------------------------------------------------------
# Compilation: one expectation → a check


@dataclass
class _Check:
    label: str
    severity: str
    kind: str  # "rows": predicate counted in the scan; "dups": uniqueness; "table": evaluated in Python
    predicate: str = ""
    params: tuple[Any, ...] = ()
    columns: tuple[str, ...] = ()
    table_test: Callable[[int, Mapping[str, str]], bool] | None = None
    errored: bool = False


def _col(name: str) -> str:
    return f"r.{quote(name)}"


def _between_predicate(kwargs: Mapping[str, Any], parameters: Mapping[str, Any]) -> tuple[str, tuple]:
    low = resolve(kwargs.get("min_value"), parameters)
    high = resolve(kwargs.get("max_value"), parameters)
    if low is None and high is None:
        raise Unsupported("between without bounds")
    col = _col(kwargs["column"])
    parts, params = [], []
    if low is not None:
        parts.append(f"{col} {'<=' if kwargs.get('strict_min') else '<'} ?")
        params.append(low)
    if high is not None:
        parts.append(f"{col} {'>=' if kwargs.get('strict_max') else '>'} ?")
        params.append(high)
    return f"{col} is not null and ({' or '.join(parts)})", tuple(params)


def _pair_predicate(kwargs: Mapping[str, Any], holds: str) -> str:
    """Unexpected when `holds` (an SQL condition on a and b) is not true, on the rows GX keeps."""
    a, b = _col(kwargs["column_A"]), _col(kwargs["column_B"])
    ignore = kwargs.get("ignore_row_if", "both_values_are_missing")
    condition = holds.format(a=a, b=b)
    if ignore == "either_value_is_missing":
        return f"{a} is not null and {b} is not null and not ({condition})"
    if ignore == "both_values_are_missing":
        return f"not ({a} is null and {b} is null) and not coalesce({condition}, false)"
    if ignore == "neither":
        return f"not coalesce({condition}, false)"
    raise Unsupported(f"ignore_row_if={ignore!r}")


# DuckDB type prefixes that satisfy GX's `type_` names for the types our suites check.
_TYPE_PREFIXES = {"Decimal": ("DECIMAL",)}


def _table_test_row_count(kwargs: Mapping[str, Any]) -> Callable[[int, Mapping[str, str]], bool]:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    return lambda n, _cols: (low is None or n >= low) and (high is None or n <= high)


def _table_test_columns(kwargs: Mapping[str, Any]) -> Callable[[int, Mapping[str, str]], bool]:
    wanted = set(kwargs["column_set"])
    exact = kwargs.get("exact_match", True)
    return lambda _n, cols: (wanted == set(cols)) if exact else wanted <= set(cols)


def _table_test_type(kwargs: Mapping[str, Any]) -> Callable[[int, Mapping[str, str]], bool]:
    prefixes = _TYPE_PREFIXES.get(kwargs["type_"])
    if prefixes is None:
        raise Unsupported(f"type_={kwargs['type_']!r}")
    column = kwargs["column"]
    return lambda _n, cols: str(cols.get(column, "")).upper().startswith(prefixes)


def compile_expectation(config: Any, columns: Mapping[str, str], parameters: Mapping[str, Any]) -> _Check:
    kwargs = config.kwargs
    kind = config.type
    check = _Check(config_label(config), severity_of(config), "rows")
    if kwargs.get("mostly", 1) != 1 or kwargs.get("row_condition"):
        raise Unsupported(f"{kind}: mostly/row_condition")
    missing = [c for c in columns_of(kwargs) if c not in columns]
    if missing and "column_set" not in kwargs:
        check.errored = True  # GX raises on a missing column: failed, no count
        return check

    if kind == "expect_table_row_count_to_be_between":
        check.kind, check.table_test = "table", _table_test_row_count(kwargs)
    elif kind == "expect_table_columns_to_match_set":
        check.kind, check.table_test = "table", _table_test_columns(kwargs)
    elif kind == "expect_column_values_to_be_of_type":
        check.kind, check.table_test = "table", _table_test_type(kwargs)
    elif kind == "expect_column_values_to_not_be_null":
        check.predicate = f"{_col(kwargs['column'])} is null"
    elif kind == "expect_column_values_to_be_in_set":
        values = list(kwargs["value_set"])
        col = _col(kwargs["column"])
        check.predicate = (
            f"{col} is not null and {col} not in ({', '.join('?' for _ in values)})" if values else f"{col} is not null"
        )
        check.params = tuple(values)
    elif kind == "expect_column_values_to_be_between":
        check.predicate, check.params = _between_predicate(kwargs, parameters)
    elif kind == "expect_column_values_to_match_regex":
        col = _col(kwargs["column"])
        check.predicate = f"{col} is not null and not regexp_matches(cast({col} as varchar), ?)"
        check.params = (kwargs.get("regex", "(?s).*"),)
    elif kind == "expect_column_values_to_be_unique":
        check.kind, check.columns = "dups", (kwargs["column"],)
    elif kind == "expect_compound_columns_to_be_unique":
        if kwargs.get("ignore_row_if", "all_values_are_missing") != "all_values_are_missing":
            raise Unsupported("compound uniqueness: ignore_row_if")
        check.kind, check.columns = "dups", tuple(kwargs["column_list"])
    elif kind == "expect_column_pair_values_a_to_be_greater_than_b":
        check.predicate = _pair_predicate(kwargs, "{a} >= {b}" if kwargs.get("or_equal") else "{a} > {b}")
    elif kind == "expect_column_pair_values_to_be_equal":
        check.predicate = _pair_predicate(kwargs, "{a} = {b}")
    else:
        raise Unsupported(kind)
    return check


def compile_suite(suite: Any, columns: Mapping[str, str], parameters: Mapping[str, Any]) -> list[_Check]:
    """Every expectation of `suite` as a check; raises `Unsupported` if any has no translation."""
    checks = [compile_expectation(e.configuration, columns, parameters) for e in suite.expectations]
    for check, label in zip(checks, unique_labels([c.label for c in checks])):
        check.label = label
    return checks


# ---------------------------------------------------------------------------------------------
# Execution


def _dups_source(relation: Relation, cols: Sequence[str]) -> str:
    """The duplicated value groups (with their size) of `cols`, as GX's pandas engine sees them."""
    names = ", ".join(_col(c) for c in cols)
    if len(cols) == 1:
        keep = f"{_col(cols[0])} is not null"
    else:
        keep = "not (" + " and ".join(f"{_col(c)} is null" for c in cols) + ")"
    return (
        f"select {', '.join(f'{_col(c)} as {quote(c)}' for c in cols)}, count(*) as __n "
        f"from {relation.from_sql} as r where {keep} group by {names} having count(*) > 1"
    )


def _dups_join(relation: Relation, cols: Sequence[str]) -> str:
    on = " and ".join(f"{_col(c)} is not distinct from d.{quote(c)}" for c in cols)
    return f"{relation.from_sql} as r join ({_dups_source(relation, cols)}) as d on {on}"


def _count_rows(con: duckdb.DuckDBPyConnection, relation: Relation, checks: list[_Check]) -> tuple[int, dict[str, int]]:
    """One scan: the row count and every row-level check's unexpected count."""
    row_checks = [c for c in checks if c.kind == "rows" and not c.errored]
    selects = ["count(*)"] + [f"count(*) filter (where {c.predicate})" for c in row_checks]
    params = [p for c in row_checks for p in c.params]
    values = con.execute(f"select {', '.join(selects)} from {relation.from_sql} as r", params).fetchall()[0]
    return int(values[0]), {c.label: int(v) for c, v in zip(row_checks, values[1:])}


def _count_dups(con: duckdb.DuckDBPyConnection, relation: Relation, check: _Check) -> int:
    (total,) = con.execute(f"select coalesce(sum(__n), 0) from ({_dups_source(relation, check.columns)})").fetchall()[0]
    return int(total)


def _failing_keys(
    con: duckdb.DuckDBPyConnection, relation: Relation, check: _Check, key: Sequence[str]
) -> tuple[str, ...]:
    """Up to `MAX_KEYS` distinct keys of the failing rows, first occurrence first."""
    keys = ", ".join(_col(k) for k in key)
    if check.kind == "dups":
        source, where, params = _dups_join(relation, check.columns), "true", []
    else:
        source, where, params = f"{relation.from_sql} as r", check.predicate, list(check.params)
    sql = (
        f"select * exclude (__first) from (select {keys}, min({relation.position}) as __first "
        f"from {source} where {where} group by {keys}) order by __first limit {MAX_KEYS}"
    )
    return tuple(join_key(row) for row in con.execute(sql, params).fetchall())


def validate_relation(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    suite: Any,
    key: Sequence[str],
    parameters: Mapping[str, Any],
) -> ValidationSummary:
    """The suite's outcome on `relation`, computed in DuckDB (see the module docstring)."""
    expectations, skipped = applicable(suite.expectations, set(relation.columns))
    checks = compile_suite(_Suite(expectations), relation.columns, parameters)
    present_key = tuple(key) if key and all(k in relation.columns for k in key) else ()

    row_count, counts = _count_rows(con, relation, checks)
    for check in checks:
        if check.kind == "dups" and not check.errored:
            counts[check.label] = _count_dups(con, relation, check)

    failed: list[str] = []
    errored: list[str] = []
    severities: set = set()
    unexpected: dict[str, int] = {}
    failing_keys: dict[str, tuple[str, ...]] = {}
    for check in checks:
        if check.errored:
            ok = False
            errored.append(check.label)
        elif check.kind == "table":
            ok = check.table_test(row_count, relation.columns)
        else:
            ok = counts[check.label] == 0
        if ok:
            continue
        failed.append(check.label)
        severities.add(check.severity)
        if check.errored or check.kind == "table":
            continue
        unexpected[check.label] = counts[check.label]
        if present_key:
            keys = _failing_keys(con, relation, check, present_key)
            if keys:
                failing_keys[check.label] = keys

    return ValidationSummary(
        suite_name=suite.name,
        success=not failed,
        evaluated=len(checks),
        failed=tuple(failed),
        unexpected_counts=unexpected,
        failing_keys=failing_keys,
        severity=worst(severities),
        errored=tuple(errored),
        skipped=skipped,
        row_count=row_count,
        key=tuple(key),
    )


@dataclass(frozen=True)
class _Suite:
    expectations: list[Any]
