"""Great Expectations suites on the raw tables, run as Dagster asset checks.

Each raw table with a suite gets one check, `great_expectations`. A suite mixes error-level
expectations (keys, required columns, row count) with warn-level ones (value sets, ranges);
a failed check takes the severity of the worst expectation that failed. ERROR failures block:
downstream dbt models do not run in that run (write-audit-publish), so bad data stops before
it reaches a report. WARN failures annotate the asset and let the run go on. Check metadata
carries the failing rows' keys only, never other values (they may be personal data).

The checks are declared on the ingestion multi-assets and evaluated in the same step, right
after the load. A separate check op would not block dbt: the dbt op itself carries the dbt
source tests as checks on the raw keys, and Dagster exempts an op that checks an upstream key
from being blocked by other checks on that key.
"""

import dagster as dg

from connectors.catalog import RAW_TABLES
from connectors.settings import Settings
from expectations.suites import SUITES_BY_SYSTEM

CHECK_NAME = "great_expectations"


def _raw_key(system: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", system, table])


def raw_check_specs(system: str) -> list[dg.AssetCheckSpec]:
    """One blocking check per raw table of `system` that has a suite (and is a raw asset)."""
    return [
        dg.AssetCheckSpec(
            name=CHECK_NAME,
            asset=_raw_key(system, table),
            blocking=True,  # only ERROR-severity failures block
            description=f"Great Expectations suite raw_{system}__{table}.",
        )
        for table in SUITES_BY_SYSTEM.get(system, {})
        if table in RAW_TABLES.get(system, ())
    ]


def _severity(summary) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if summary.severity == "error" else dg.AssetCheckSeverity.WARN


def evaluate_raw_check(system: str, table: str, settings: Settings) -> dg.AssetCheckResult:
    """Run the table's suite against the warehouse (the DuckDB file, or on Postgres a DuckDB copy
    of the checked columns: expectations/warehouse.py) and turn the summary into a check result.
    The row counts of passing validations are kept under `$LTC_HOME/quality`, which bounds how much
    a table may shrink from one load to the next."""
    from expectations.warehouse import validate_raw_table

    summary = validate_raw_table(settings, system, table, state_dir=settings.home / "quality")
    return check_result(_raw_key(system, table), summary)


def check_result(asset_key: dg.AssetKey, summary) -> dg.AssetCheckResult:
    """A `ValidationSummary` as a Dagster check result: keys of failing rows, never values."""
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=CHECK_NAME,
        passed=bool(summary.success),
        severity=_severity(summary),
        metadata={
            "suite": summary.suite_name,
            "evaluated": summary.evaluated,
            "failed_expectations": dg.MetadataValue.json(list(summary.failed)),
            "unexpected_counts": dg.MetadataValue.json(dict(summary.unexpected_counts)),
            "failing_keys": dg.MetadataValue.json({k: list(v) for k, v in summary.failing_keys.items()}),
        },
    )
