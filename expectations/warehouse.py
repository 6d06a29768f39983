"""Validate the configured warehouse: the raw suites and the mart suites, on DuckDB or Postgres.

Why a module: the Dagster checks (orchestration/defs/quality/), the benchmarks' checks phase and
anyone else who validates "the warehouse" must validate the same way on either warehouse. The
runner (expectations/runner.py) validates a DuckDB connection or file; this module hands it the
configured warehouse through `connectors.warehouse.duckdb_reader`: the DuckDB file itself, or on
Postgres an in-memory DuckDB holding copies of only what the suite reads (a raw table's key and
checked columns; a mart suite's marts), validated by the same in-database engine. One table is
held at a time for the raw suites.

Results are the runner's `ValidationSummary`s, the same on both warehouses for the same rows
(tests/unit/benchmark_harness/test_scale_on_postgres.py compares them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.warehouse import duckdb_reader
from expectations.core import ValidationSummary, normalise_key
from expectations.runner import Engine, suite_columns, validate_marts, validate_table

if TYPE_CHECKING:
    import great_expectations as gx

    from connectors.settings import Settings


def checked_columns(suite: "gx.ExpectationSuite", key=None) -> list[str]:
    """The columns a validation of `suite` reads: the key (default the suite's `meta["key"]`),
    then every column the suite mentions."""
    key_cols = normalise_key(key if key is not None else suite.meta.get("key"))
    return list(dict.fromkeys([*key_cols, *suite_columns(suite)]))


def validate_warehouse_table(
    settings: "Settings",
    table: str,
    suite: "gx.ExpectationSuite",
    key=None,
    *,
    engine: Engine | None = None,
    run_date: dt.date | None = None,
    state_dir: str | Path | None = None,
    max_shrink: float | None = None,
) -> ValidationSummary:
    """`validate_table` on ``schema.table`` of the configured warehouse (see the module docstring);
    the keyword arguments are `validate_table`'s."""
    with duckdb_reader(settings, {table: checked_columns(suite, key)}) as con:
        return validate_table(con, table, suite, key, engine=engine, run_date=run_date,
                              state_dir=state_dir, max_shrink=max_shrink)


def validate_raw_table(settings: "Settings", system: str, table: str, *,
                       state_dir: str | Path | None = None) -> ValidationSummary:
    """The suite of `raw_<system>.<table>` (expectations/suites) on the configured warehouse."""
    from expectations.suites import SUITES_BY_SYSTEM

    spec = SUITES_BY_SYSTEM[system][table]
    return validate_warehouse_table(settings, f"raw_{system}.{table}", spec.suite(), spec.key,
                                    state_dir=state_dir)


def validate_warehouse_marts(
    settings: "Settings",
    *,
    names: Iterable[str] | None = None,
    engine: Engine | None = None,
    run_date: dt.date | None = None,
) -> list[ValidationSummary]:
    """`validate_marts` (every mart suite, or those in `names`) on the configured warehouse; on
    Postgres the marts the selected suites read are copied whole (marts are small: one row per
    invoice, receipt, month...)."""
    from expectations.suites.marts import MART_SUITES

    selected = list(names) if names is not None else list(MART_SUITES)
    tables = {table: None for name in selected for table in MART_SUITES[name].tables}
    with duckdb_reader(settings, tables) as con:
        return validate_marts(con, names=selected, engine=engine, run_date=run_date)
