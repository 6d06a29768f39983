"""Run a Great Expectations suite on a pandas frame or a DuckDB table; return plain results.

No Dagster types here: the orchestration layer turns a `ValidationSummary` into an asset check
result. Two rules shape the code:

* **Nothing leaves the machine.** GX analytics are switched off (environment and context
  config) before GX is imported, and the context is ephemeral (no files, no Data Docs, no
  cloud).
* **No raw values in results.** Failures are reported with the result format
  ``COMPLETE`` + ``exclude_unexpected_values=True`` + ``unexpected_index_column_names=[key]``:
  GX then returns only the key column(s) of failing rows, never the values that failed (which
  may be personal data: emails, names). The summary keeps at most `MAX_KEYS` keys per
  expectation, as strings.

`validate_table` reads only the columns the suite refers to (plus the key) through a
short-lived read-only DuckDB connection, via Arrow so `DECIMAL` money stays `Decimal`.
"""

from __future__ import annotations

import os

# Before GX is imported: no usage statistics, no network.
os.environ["GX_ANALYTICS_ENABLED"] = "false"

import logging  # noqa: E402
import threading  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterable, Mapping, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Literal  # noqa: E402

import duckdb  # noqa: E402
import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

log = logging.getLogger(__name__)

MAX_KEYS = 20
NULL_KEY = "<null>"
Severity = Literal["error", "warn"]

# GX contexts are not documented as thread-safe; Dagster may run checks in threads.
_GX_LOCK = threading.Lock()


@dataclass(frozen=True)
class ValidationSummary:
    """The outcome of one suite on one batch, with no data values except failing rows' keys.

    - `failed`: labels of the failed expectations, e.g. ``expect_column_values_to_be_unique(id)``.
    - `unexpected_counts`: label → number of failing rows (absent for table-level checks).
    - `failing_keys`: label → up to `MAX_KEYS` key values (strings; compound keys joined with
      ``|``; a null key shows as ``<null>``) of the failing rows.
    - `severity`: ``"error"`` if any failed expectation is critical, ``"warn"`` if only warnings
      failed, ``None`` when the suite passed. Blocking checks should block on ``"error"`` only.
    - `errored`: labels of expectations that raised instead of evaluating (counted as failed).
    - `skipped`: warn-level expectations on optional columns absent from the batch (not run;
      required columns are asserted by the suite's error-level column-set expectation).
    """

    suite_name: str
    success: bool
    evaluated: int
    failed: tuple[str, ...] = ()
    unexpected_counts: Mapping[str, int] = field(default_factory=dict, hash=False)
    failing_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    severity: Severity | None = None
    errored: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    row_count: int | None = None
    key: tuple[str, ...] = ()

    @property
    def blocking_failed(self) -> bool:
        """True when an error-severity expectation failed."""
        return self.severity == "error"


# ---------------------------------------------------------------------------------------------
# Labels and columns of expectations


def _columns_of(kwargs: Mapping[str, Any]) -> list[str]:
    cols: list[str] = []
    for name in ("column", "column_A", "column_B"):
        if kwargs.get(name):
            cols.append(str(kwargs[name]))
    for name in ("column_list", "column_set"):
        if kwargs.get(name):
            cols.extend(str(c) for c in kwargs[name])
    return cols


def expectation_label(expectation_type: str, kwargs: Mapping[str, Any]) -> str:
    """A readable, data-free label: the expectation type and the column(s) it is on."""
    if "column_set" in kwargs:
        return expectation_type
    cols = _columns_of(kwargs)
    return f"{expectation_type}({','.join(cols)})" if cols else expectation_type


def suite_columns(suite: gx.ExpectationSuite) -> list[str]:
    """Every column a suite refers to, in first-mention order."""
    seen: dict[str, None] = {}
    for exp in suite.expectations:
        for col in _columns_of(exp.configuration.kwargs):
            seen.setdefault(col, None)
    return list(seen)


def _severity_of(config: Any) -> Severity:
    sev = getattr(config, "severity", None)
    value = getattr(sev, "value", sev)
    return "error" if value in (None, "critical") else "warn"


# ---------------------------------------------------------------------------------------------
# Validation


def _applicable(
    suite: gx.ExpectationSuite, columns: set[str]
) -> tuple[gx.ExpectationSuite, tuple[str, ...]]:
    """Drop warn-level expectations whose columns are absent (optional fields dlt has not
    created yet). Error-level ones always run, so a missing required column still fails."""
    keep = []
    skipped: list[str] = []
    for exp in suite.expectations:
        config = exp.configuration
        missing = [c for c in _columns_of(config.kwargs) if c not in columns]
        if missing and "column_set" not in config.kwargs and _severity_of(config) == "warn":
            skipped.append(expectation_label(config.type, config.kwargs))
        else:
            keep.append(exp)
    if not skipped:
        return suite, ()
    filtered = gx.ExpectationSuite(name=suite.name, expectations=keep, meta=dict(suite.meta))
    return filtered, tuple(skipped)


def _normalise_key(key: str | Sequence[str] | None) -> tuple[str, ...]:
    if key is None:
        return ()
    if isinstance(key, str):
        return (key,)
    return tuple(key)


def _key_text(value: Any) -> str:
    if value is None:
        return NULL_KEY
    try:
        if pd.isna(value):
            return NULL_KEY
    except (TypeError, ValueError):
        pass
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


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
            text = "|".join(_key_text(v) for v in values)
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


def validate_frame(
    df: pd.DataFrame,
    suite: gx.ExpectationSuite,
    key: str | Sequence[str] | None = None,
) -> ValidationSummary:
    """Validate a whole DataFrame against `suite` in an ephemeral GX context.

    `key` names the column(s) whose values identify failing rows in the summary. When not
    given, the suite's `meta["key"]` is used (the suite factories set it). A key column absent
    from the frame is dropped from reporting (the suite's own column checks report it).
    """
    key_cols = _normalise_key(key if key is not None else suite.meta.get("key"))
    present_key = tuple(k for k in key_cols if k in df.columns)
    if len(present_key) != len(key_cols):
        present_key = ()

    suite, skipped = _applicable(suite, set(df.columns))

    with _GX_LOCK:
        context = _ephemeral_context()
        name = f"ltc_{uuid.uuid4().hex[:12]}"
        datasource = context.data_sources.add_pandas(name)
        asset = datasource.add_dataframe_asset(name="frame")
        batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(suite, result_format=_result_format(present_key))

    failed: list[str] = []
    errored: list[str] = []
    counts: dict[str, int] = {}
    failing_keys: dict[str, tuple[str, ...]] = {}
    severities: set[Severity] = set()
    used: dict[str, int] = {}

    for r in result.results:
        config = r.expectation_config
        label = expectation_label(config.type, config.kwargs)
        used[label] = used.get(label, 0) + 1
        if used[label] > 1:
            label = f"{label}#{used[label]}"
        if r.success:
            continue
        failed.append(label)
        severities.add(_severity_of(config))
        info = r.exception_info or {}
        if isinstance(info, Mapping) and info.get("raised_exception"):
            errored.append(label)
        res = r.result or {}
        if res.get("unexpected_count") is not None:
            counts[label] = int(res["unexpected_count"])
        if present_key:
            keys = _extract_keys(res, present_key)
            if keys:
                failing_keys[label] = keys

    severity: Severity | None
    if not failed:
        severity = None
    else:
        severity = "error" if "error" in severities else "warn"
    return ValidationSummary(
        suite_name=suite.name,
        success=bool(result.success) and not failed,
        evaluated=len(result.results),
        failed=tuple(failed),
        unexpected_counts=counts,
        failing_keys=failing_keys,
        severity=severity,
        errored=tuple(errored),
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


def validate_table(
    con_or_path: duckdb.DuckDBPyConnection | str | Path,
    table: str,
    suite: gx.ExpectationSuite,
    key: str | Sequence[str] | None = None,
) -> ValidationSummary:
    """Validate a DuckDB table (``schema.table``) against `suite`.

    With a path, a read-only connection is opened, used and closed here (DuckDB allows one
    writer; never hold the file). With a connection, the caller owns it. Only the columns the
    suite mentions, plus the key, are read: a required column that is missing shows up as a
    failed column expectation, and columns the suite does not check (personal data) are never
    loaded. A missing table gives a failed summary (`failed == ("table_exists",)`).
    """
    key_cols = _normalise_key(key if key is not None else suite.meta.get("key"))
    wanted = list(dict.fromkeys([*key_cols, *suite_columns(suite)]))

    if isinstance(con_or_path, (str, Path)):
        con = duckdb.connect(str(con_or_path), read_only=True)
        try:
            df = read_table_frame(con, table, wanted)
        finally:
            con.close()
    else:
        df = read_table_frame(con_or_path, table, wanted)

    if df is None:
        return ValidationSummary(
            suite_name=suite.name,
            success=False,
            evaluated=0,
            failed=("table_exists",),
            severity="error",
            key=key_cols,
        )
    return validate_frame(df, suite, key_cols)
