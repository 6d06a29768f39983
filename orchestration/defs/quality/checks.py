"""Great Expectations suites on the raw tables, run as Dagster asset checks.

Each raw table with a suite gets one check. ERROR-severity suites are blocking: when one fails,
the downstream dbt models do not run in that run (write-audit-publish), so bad data stops before
it reaches a report. WARN suites annotate the asset and let the run go on. Check metadata carries
the failing rows' keys only, never other values (they may be personal data).
"""


import dagster as dg

from connectors.settings import Settings
from expectations.suites import SUITES_BY_SYSTEM
from orchestration.defs.ingest.assets import raw_asset_key

CHECK_NAME = "great_expectations"


def _severity(summary) -> dg.AssetCheckSeverity:
    """A suite mixes error-level expectations (keys, required columns) with warn-level ones
    (value sets, ranges); the check takes the severity of the worst expectation that failed."""
    return dg.AssetCheckSeverity.ERROR if summary.severity == "error" else dg.AssetCheckSeverity.WARN


def _check_result(system: str, table: str, spec, settings: Settings) -> dg.AssetCheckResult:
    from expectations.runner import validate_table

    summary = validate_table(settings.duckdb_path, f"raw_{system}.{table}", spec.suite(), spec.key)
    return dg.AssetCheckResult(
        asset_key=raw_asset_key(system, table),
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


def _build_system_check(system: str) -> dg.AssetChecksDefinition:
    suites = SUITES_BY_SYSTEM[system]
    specs = [
        dg.AssetCheckSpec(
            name=CHECK_NAME,
            asset=raw_asset_key(system, table),
            # Only ERROR-severity failures block; WARN failures annotate and let the run go on.
            blocking=True,
            description=f"Great Expectations suite raw_{system}__{table}.",
        )
        for table, spec in suites.items()
    ]

    @dg.multi_asset_check(name=f"ge_raw_{system}", specs=specs, can_subset=True)
    def _checks(context: dg.AssetCheckExecutionContext):
        settings = Settings.from_env()
        for check_key in context.selected_asset_check_keys:
            table = check_key.asset_key.path[-1]
            yield _check_result(system, table, suites[table], settings)

    return _checks


raw_quality_checks = [_build_system_check(system) for system in SUITES_BY_SYSTEM]
