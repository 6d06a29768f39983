"""What both validation engines share: the summary type, labels, severities and run parameters.

Why a module of its own: the pandas/GX engine (`runner`) and the in-database engine (`sql_engine`)
must produce *identical* summaries for the same data (tests/unit/expectations/test_engines.py
compares them field by field), so everything that decides what a summary says lives here once:
how an expectation is labelled, which severity it has, which expectations apply to a batch, how a
key value is written, and the run-time parameters (the future-date limits) a suite refers to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

MAX_KEYS = 20
NULL_KEY = "<null>"
Severity = Literal["error", "warn"]

# Suite parameters (GX `{"$PARAMETER": name}`), resolved per run by `run_parameters`.
FUTURE_DATE_PARAM = "future_date_limit"
FUTURE_TIMESTAMP_PARAM = "future_timestamp_limit"
# A date a little ahead of the run is tolerated: time zones (an ERP in UTC+14 books "tomorrow"),
# value-dated bank entries, a clock a few minutes fast. Two days is the brief's tolerance.
FUTURE_TOLERANCE_DAYS = 2


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
    - `skipped`: expectations on optional columns absent from the batch (not run; required
      columns are asserted by the suite's error-level column-set expectation), or
      ``table_exists`` for an optional table that has not been created yet.
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
# Labels, columns, severities


def columns_of(kwargs: Mapping[str, Any]) -> list[str]:
    cols: list[str] = []
    for name in ("column", "column_A", "column_B"):
        if kwargs.get(name):
            cols.append(str(kwargs[name]))
    for name in ("column_list", "column_set"):
        if kwargs.get(name):
            cols.extend(str(c) for c in kwargs[name])
    return cols


def expectation_label(
    expectation_type: str, kwargs: Mapping[str, Any], meta: Mapping[str, Any] | None = None
) -> str:
    """A readable, data-free label: the expectation type, the column(s) it is on, and the
    `meta["check"]` tag when one expectation type is used twice on a column for different
    reasons (``expect_column_values_to_be_between(amount)[plausible_max]``)."""
    if "column_set" in kwargs:
        label = expectation_type
    else:
        cols = columns_of(kwargs)
        label = f"{expectation_type}({','.join(cols)})" if cols else expectation_type
    check = (meta or {}).get("check")
    return f"{label}[{check}]" if check else label


def config_label(config: Any) -> str:
    return expectation_label(config.type, config.kwargs, getattr(config, "meta", None))


def severity_of(config: Any) -> Severity:
    sev = getattr(config, "severity", None)
    value = getattr(sev, "value", sev)
    return "error" if value in (None, "critical") else "warn"


def is_optional(config: Any) -> bool:
    """Expectations on columns that may legitimately be absent (dlt creates a column only once it
    has seen a value; single-currency orgs have no currency field) are skipped when absent,
    whatever their severity. Warn-level ones are always skippable."""
    return severity_of(config) == "warn" or bool((getattr(config, "meta", None) or {}).get("optional_column"))


def applicable(expectations: Sequence[Any], columns: set[str]) -> tuple[list[Any], tuple[str, ...]]:
    """Split expectations into those to run and the labels of those skipped because an optional
    column is absent. Required ones always run, so a missing required column still fails."""
    keep: list[Any] = []
    skipped: list[str] = []
    for exp in expectations:
        config = exp.configuration
        missing = [c for c in columns_of(config.kwargs) if c not in columns]
        if missing and "column_set" not in config.kwargs and is_optional(config):
            skipped.append(config_label(config))
        else:
            keep.append(exp)
    return keep, tuple(skipped)


def unique_labels(labels: Sequence[str]) -> list[str]:
    """``label``, ``label#2``, ... for repeated labels, in order (both engines number alike)."""
    used: dict[str, int] = {}
    out = []
    for label in labels:
        used[label] = used.get(label, 0) + 1
        out.append(label if used[label] == 1 else f"{label}#{used[label]}")
    return out


def worst(severities: set[Severity]) -> Severity | None:
    if not severities:
        return None
    return "error" if "error" in severities else "warn"


# ---------------------------------------------------------------------------------------------
# Keys


def normalise_key(key: str | Sequence[str] | None) -> tuple[str, ...]:
    if key is None:
        return ()
    if isinstance(key, str):
        return (key,)
    return tuple(key)


def key_text(value: Any) -> str:
    import pandas as pd  # here, not at the top: `expectations.suites` imports this module and stays light

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


def join_key(values: Sequence[Any]) -> str:
    return "|".join(key_text(v) for v in values)


# ---------------------------------------------------------------------------------------------
# Run parameters


def run_parameters(
    run_date: dt.date | None = None, tolerance_days: int = FUTURE_TOLERANCE_DAYS
) -> dict[str, Any]:
    """Values for the suites' parameters on `run_date` (default: today, UTC).

    A date column may hold at most ``run_date + tolerance``; a timestamp column anything before
    the end of that day (UTC), i.e. strictly below the next midnight.
    """
    if run_date is None:
        run_date = dt.datetime.now(dt.timezone.utc).date()
    elif isinstance(run_date, dt.datetime):
        run_date = run_date.date()
    limit = run_date + dt.timedelta(days=tolerance_days)
    next_midnight = dt.datetime.combine(limit + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    return {FUTURE_DATE_PARAM: limit, FUTURE_TIMESTAMP_PARAM: next_midnight}


def resolve(value: Any, parameters: Mapping[str, Any]) -> Any:
    """A kwarg's value, with a GX ``{"$PARAMETER": name}`` replaced by the run's value."""
    if isinstance(value, Mapping) and "$PARAMETER" in value:
        name = value["$PARAMETER"]
        if name not in parameters:
            raise KeyError(f"suite parameter {name!r} has no value for this run")
        return parameters[name]
    return value
