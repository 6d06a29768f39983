"""Run a Great Expectations suite on a pandas frame, a DuckDB table or a DuckDB query; return
plain results.

No Dagster types here: the orchestration layer turns a `ValidationSummary` into an asset check
result. Three rules shape the code:

* **Nothing leaves the machine.** GX analytics are switched off (environment and context
  config) before GX is imported, and the context is ephemeral (no files, no Data Docs, no
  cloud).
* **No raw values in results.** Failures are reported with the result format
  ``COMPLETE`` + ``exclude_unexpected_values=True`` + ``unexpected_index_column_names=[key]``:
  GX then returns only the key column(s) of failing rows, never the values that failed (which
  may be personal data: emails, names). The summary keeps at most `MAX_KEYS` keys per
  expectation, as strings. The in-database engine fetches nothing but counts and keys.
* **Two engines, one answer.** A DuckDB table is validated either in the database
  (`engine="sql"`, expectations/sql_engine.py) or by pulling the checked columns into pandas
  for GX (`engine="pandas"`). Both read the same GX suite and return the same summary
  (tests/unit/expectations/test_engines.py); `DEFAULT_ENGINE` says which runs when the caller
  does not choose, and why.

`validate_table` also applies the run-time bounds the suites cannot know on their own: dates not
in the future (parameters resolved against the run date, `core.run_parameters`), and, given a
state directory, a row count no lower than the last validated count minus `max_shrink`
(expectations/state.py).
"""

from __future__ import annotations

import os

# Before GX is imported: no usage statistics, no network.
os.environ["GX_ANALYTICS_ENABLED"] = "false"

import contextlib  # noqa: E402
import datetime as dt  # noqa: E402
import logging  # noqa: E402
import threading  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterable, Iterator, Mapping, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Literal  # noqa: E402

import duckdb  # noqa: E402
import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

from expectations.core import (  # noqa: E402,F401 - re-exported: the runner is the public API
    MAX_KEYS,
    NULL_KEY,
    Severity,
    ValidationSummary,
    applicable,
    columns_of,
    config_label,
    expectation_label,
    join_key,
    normalise_key,
    run_parameters,
    severity_of,
    unique_labels,
    worst,
)
from expectations.state import DEFAULT_MAX_SHRINK, RowCountState, min_rows  # noqa: E402

log = logging.getLogger(__name__)

Engine = Literal["sql", "pandas"]

# The default engine, chosen on `python -m benchmarks.expectations` (benchmarks/results/expectations.json:
# 1M-row raw_erp.invoices, the production invoices suite of 24 expectations with 4 planted failures,
# median of 3 side by side, 2 cores, load 1.7): in DuckDB ("sql") 0.74 s and 430 MB peak RSS;
# through pandas 12.2 s and 1,294 MB. Of those peaks 319 MB is the process before validating (GX,
# pandas, DuckDB imported), so the validation itself takes ~110 MB in DuckDB vs ~975 MB in
# pandas: 16.5x faster, ~9x less memory, and the same summary (keys included). Pandas stays for
# DataFrames and as the fallback for an expectation the SQL compiler does not know.
DEFAULT_ENGINE: Engine = "sql"

# GX contexts are not documented as thread-safe; Dagster may run checks in threads.
_GX_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------
# Suites


def suite_columns(suite: gx.ExpectationSuite) -> list[str]:
    """Every column a suite refers to, in first-mention order."""
    seen: dict[str, None] = {}
    for exp in suite.expectations:
        for col in columns_of(exp.configuration.kwargs):
            seen.setdefault(col, None)
    return list(seen)


def _with_expectations(suite: gx.ExpectationSuite, expectations: list[Any]) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(name=suite.name, expectations=expectations, meta=dict(suite.meta))


def with_row_count_bound(
    suite: gx.ExpectationSuite, previous: int | None, max_shrink: float | None = None
) -> gx.ExpectationSuite:
    """`suite` plus an error-level "at least `min_rows(previous, max_shrink)` rows" expectation,
    labelled ``expect_table_row_count_to_be_between[vs_previous]``; unchanged when there is no
    previous count (the first run has no bound)."""
    if previous is None:
        return suite
    import great_expectations.expectations as gxe

    shrink = max_shrink if max_shrink is not None else suite.meta.get("max_shrink", DEFAULT_MAX_SHRINK)
    bound = gxe.ExpectTableRowCountToBeBetween(
        min_value=min_rows(previous, shrink),
        severity="critical",
        meta={"check": "vs_previous", "previous_rows": int(previous), "max_shrink": shrink},
    )
    return _with_expectations(suite, [*suite.expectations, bound])


# ---------------------------------------------------------------------------------------------
# The pandas engine (GX)


def _extract_keys(result: Mapping[str, Any], key: tuple[str, ...]) -> tuple[str, ...]:
    """Key values from ``unexpected_index_list``, which with ``exclude_unexpected_values`` is
    ``[{key_col: [v1, v2, ...], ...}]``. Anything that is not a key column is ignored."""
    index_list = result.get("unexpected_index_list") or []
    keys: list[str] = []
    seen: set[str] = set()
    for entry in index_list:
        if not isinstance(entry, Mapping):
            continue  # a positional index: not a key, never reported
        columns = [entry.get(k) for k in key]
        if any(c is None for c in columns):
            continue
        columns = [c if isinstance(c, list) else [c] for c in columns]
        for values in zip(*columns):
            text = join_key(values)
            if text not in seen:
                seen.add(text)
                keys.append(text)
            if len(keys) >= MAX_KEYS:
                return tuple(keys)
    return tuple(keys)


def _result_format(key: tuple[str, ...]) -> dict[str, Any]:
    fmt: dict[str, Any] = {
        "result_format": "COMPLETE",
        "exclude_unexpected_values": True,  # no failing values, only key columns
        "partial_unexpected_count": 0,
        "include_unexpected_rows": False,
        "return_unexpected_index_query": False,
    }
    if key:
        fmt["unexpected_index_column_names"] = list(key)
    return fmt


def _ephemeral_context() -> Any:
    context = gx.get_context(mode="ephemeral")
    try:
        context.config.analytics_enabled = False
    except Exception:  # pragma: no cover - config shape differs across GX versions
        pass
    try:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # pragma: no cover
        pass
    return context


def _raised(info: Any) -> bool:
    """GX reports an exception either at the top of `exception_info` or, for a metric that failed
    (e.g. a missing column), nested per metric."""
    if not isinstance(info, Mapping):
        return False
    if info.get("raised_exception"):
        return True
    return any(isinstance(v, Mapping) and v.get("raised_exception") for v in info.values())


def _in_order(labels: list[str], order: Mapping[str, int]) -> tuple[str, ...]:
    """GX may evaluate out of suite order (errored expectations first): report in suite order, as
    the SQL engine does."""
    return tuple(sorted(labels, key=lambda label: order.get(label, len(order))))


def validate_frame(
    df: pd.DataFrame,
    suite: gx.ExpectationSuite,
    key: str | Sequence[str] | None = None,
    *,
    run_date: dt.date | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> ValidationSummary:
    """Validate a whole DataFrame against `suite` in an ephemeral GX context.

    `key` names the column(s) whose values identify failing rows in the summary. When not
    given, the suite's `meta["key"]` is used (the suite factories set it). A key column absent
    from the frame is dropped from reporting (the suite's own column checks report it).
    `run_date` (default today, UTC) fixes the suite's future-date limits.
    """
    key_cols = normalise_key(key if key is not None else suite.meta.get("key"))
    present_key = key_cols if all(k in df.columns for k in key_cols) else ()
    parameters = parameters if parameters is not None else run_parameters(run_date)

    expectations, skipped = applicable(suite.expectations, set(df.columns))
    if skipped:
        suite = _with_expectations(suite, expectations)
    order = {label: i for i, label in enumerate(unique_labels([config_label(e.configuration) for e in expectations]))}

    with _GX_LOCK:
        context = _ephemeral_context()
        name = f"ltc_{uuid.uuid4().hex[:12]}"
        datasource = context.data_sources.add_pandas(name)
        asset = datasource.add_dataframe_asset(name="frame")
        batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(
            suite, result_format=_result_format(present_key), expectation_parameters=dict(parameters)
        )

    failed: list[str] = []
    errored: list[str] = []
    counts: dict[str, int] = {}
    failing_keys: dict[str, tuple[str, ...]] = {}
    severities: set[Severity] = set()

    labels = unique_labels([config_label(r.expectation_config) for r in result.results])
    for r, label in zip(result.results, labels):
        if r.success:
            continue
        config = r.expectation_config
        failed.append(label)
        severities.add(severity_of(config))
        if _raised(r.exception_info):
            errored.append(label)
        res = r.result or {}
        if res.get("unexpected_count") is not None:
            counts[label] = int(res["unexpected_count"])
        if present_key:
            keys = _extract_keys(res, present_key)
            if keys:
                failing_keys[label] = keys

    return ValidationSummary(
        suite_name=suite.name,
        success=bool(result.success) and not failed,
        evaluated=len(result.results),
        failed=_in_order(failed, order),
        unexpected_counts=counts,
        failing_keys=failing_keys,
        severity=worst(severities),
        errored=_in_order(errored, order),
        skipped=skipped,
        row_count=len(df),
        key=key_cols,
    )


# ---------------------------------------------------------------------------------------------
# DuckDB


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _split_table(table: str) -> tuple[str, str]:
    if "." in table:
        schema, name = table.split(".", 1)
        return schema.strip('"'), name.strip('"')
    return "main", table.strip('"')


def _table_columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    return [r[0] for r in rows]


@contextlib.contextmanager
def _connection(con_or_path: duckdb.DuckDBPyConnection | str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A path opens a read-only connection for the block and closes it (DuckDB allows one writer;
    never hold the file); a connection is the caller's and stays open."""
    if isinstance(con_or_path, (str, Path)):
        from connectors.warehouse_lock import read_connection

        with read_connection(con_or_path) as con:  # waits for another run's writer step
            yield con
    else:
        yield con_or_path


def read_table_frame(
    con: duckdb.DuckDBPyConnection, table: str, columns: Iterable[str] | None = None
) -> pd.DataFrame | None:
    """The table (only `columns` that exist, all if None) as a DataFrame; None if absent.

    Read through Arrow so DECIMAL stays `Decimal` (never float) and dates stay dates.
    """
    schema, name = _split_table(table)
    existing = _table_columns(con, schema, name)
    if not existing:
        return None
    if columns is None:
        wanted = existing
    else:
        wanted_set = set(columns)
        wanted = [c for c in existing if c in wanted_set] or existing[:1]
    sql = f"select {', '.join(_quote(c) for c in wanted)} from {_quote(schema)}.{_quote(name)}"
    # DuckDB 2.0: a relation's `to_arrow_table()` materialises the whole result (no lazy reader
    # left holding the connection) without the extra copy of the DB-API path.
    return con.sql(sql).to_arrow_table().to_pandas()


def _missing(suite: gx.ExpectationSuite, key: tuple[str, ...], previous_rows: int | None = None) -> ValidationSummary:
    """A table that does not exist: an error, unless the suite says the table is optional (a
    Salesforce object some orgs lack, a table created with its first row) and it never held
    rows at a validation (a table that had rows and vanished was dropped, not never created)."""
    if suite.meta.get("optional") and not previous_rows:
        return ValidationSummary(suite_name=suite.name, success=True, evaluated=0, skipped=("table_exists",), key=key)
    return ValidationSummary(
        suite_name=suite.name, success=False, evaluated=0, failed=("table_exists",), severity="error", key=key
    )


def _sql_summary(build_relation, suite, key, parameters) -> ValidationSummary | None:
    """The in-database outcome, or None when the suite has an expectation SQL cannot evaluate."""
    from expectations import sql_engine

    try:
        return sql_engine.validate_relation(*build_relation(), suite, key, parameters)
    except sql_engine.Unsupported as exc:
        log.info("suite %s: %s has no SQL translation, validating with pandas", suite.name, exc)
        return None


def validate_table(
    con_or_path: duckdb.DuckDBPyConnection | str | Path,
    table: str,
    suite: gx.ExpectationSuite,
    key: str | Sequence[str] | None = None,
    *,
    engine: Engine | None = None,
    run_date: dt.date | None = None,
    state_dir: str | Path | None = None,
    max_shrink: float | None = None,
) -> ValidationSummary:
    """Validate a DuckDB table (``schema.table``) against `suite`.

    With a path, a read-only connection is opened, used and closed here (DuckDB allows one
    writer; never hold the file). With a connection, the caller owns it. Only the columns the
    suite mentions, plus the key, are read: a required column that is missing shows up as a
    failed column expectation, and columns the suite does not check (personal data) are never
    loaded. A missing table gives a failed summary (`failed == ("table_exists",)`), or a passed
    one with ``skipped == ("table_exists",)`` when the suite's `meta["optional"]` is set.

    `engine`: ``"sql"`` (in DuckDB) or ``"pandas"`` (GX on a DataFrame); default `DEFAULT_ENGINE`.
    `run_date`: the date future-date checks are relative to (default today, UTC).
    `state_dir`: where row counts are remembered (`RowCountState`); with it, the table must keep
    at least ``previous - max_shrink × previous`` rows (`max_shrink` default: the suite's
    `meta["max_shrink"]`, else `DEFAULT_MAX_SHRINK`), and the count is recorded when the
    validation did not block. Without it there is no bound.
    """
    key_cols = normalise_key(key if key is not None else suite.meta.get("key"))
    engine = engine or DEFAULT_ENGINE
    parameters = run_parameters(run_date)
    state = RowCountState(state_dir) if state_dir is not None else None
    previous = state.previous(table) if state else None
    suite = with_row_count_bound(suite, previous, max_shrink)
    schema, name = _split_table(table)

    with _connection(con_or_path) as con:
        summary = None
        if engine == "sql":
            from expectations.sql_engine import Relation

            relation = Relation.table(con, schema, name)
            if relation is None:
                return _missing(suite, key_cols, previous)
            summary = _sql_summary(lambda: (con, relation), suite, key_cols, parameters)
        if summary is None:
            wanted = list(dict.fromkeys([*key_cols, *suite_columns(suite)]))
            df = read_table_frame(con, table, wanted)
            if df is None:
                return _missing(suite, key_cols, previous)
            summary = validate_frame(df, suite, key_cols, parameters=parameters)

    if state is not None and summary.row_count is not None and not summary.blocking_failed:
        state.record(table, summary.row_count)
    return summary


def read_query_frame(
    con: duckdb.DuckDBPyConnection, sql: str, columns: Iterable[str], order_by: Sequence[str]
) -> pd.DataFrame:
    """The query's `columns` that exist, rows in `order_by` order (the SQL engine's row order)."""
    described = con.sql(f"select * from ({sql}) as q limit 0").columns
    wanted_set = set(columns)
    wanted = [c for c in described if c in wanted_set] or described[:1]
    order = ", ".join(_quote(c) for c in order_by if c in described)
    select = f"select {', '.join(_quote(c) for c in wanted)} from ({sql}) as q"
    return con.sql(select + (f" order by {order}" if order else "")).to_arrow_table().to_pandas()


def validate_query(
    con_or_path: duckdb.DuckDBPyConnection | str | Path,
    sql: str,
    suite: gx.ExpectationSuite,
    key: str | Sequence[str] | None = None,
    *,
    engine: Engine | None = None,
    run_date: dt.date | None = None,
) -> ValidationSummary:
    """Validate the rows of a DuckDB query (a report dataset: a mart joined or windowed so that
    cross-row rules become column rules) against `suite`; rows are ranked by the key."""
    key_cols = normalise_key(key if key is not None else suite.meta.get("key"))
    engine = engine or DEFAULT_ENGINE
    parameters = run_parameters(run_date)
    with _connection(con_or_path) as con:
        summary = None
        if engine == "sql":
            from expectations.sql_engine import Relation

            summary = _sql_summary(lambda: (con, Relation.query(con, sql, key_cols)), suite, key_cols, parameters)
        if summary is None:
            wanted = list(dict.fromkeys([*key_cols, *suite_columns(suite)]))
            df = read_query_frame(con, sql, wanted, key_cols)
            summary = validate_frame(df, suite, key_cols, parameters=parameters)
    return summary


def validate_marts(
    duckdb_path: duckdb.DuckDBPyConnection | str | Path,
    *,
    engine: Engine | None = None,
    run_date: dt.date | None = None,
    names: Iterable[str] | None = None,
) -> list[ValidationSummary]:
    """Every suite of `MART_SUITES` (or those in `names`) on the warehouse's `marts` schema, in
    one read-only connection. A dataset whose marts are missing fails with ``table_exists``."""
    from expectations.suites.marts import MART_SUITES

    selected = list(names) if names is not None else list(MART_SUITES)
    summaries: list[ValidationSummary] = []
    with _connection(duckdb_path) as con:
        for name in selected:
            spec = MART_SUITES[name]
            suite = spec.suite()
            absent = [t for t in spec.tables if not _table_columns(con, *_split_table(t))]
            if absent:
                summaries.append(_missing(suite, spec.key_columns))
                continue
            summaries.append(validate_query(con, spec.sql, suite, spec.key, engine=engine, run_date=run_date))
    return summaries
