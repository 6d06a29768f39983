"""Great Expectations suites on the marts, as blocking asset checks between dbt and the report.

Why a separate check op: the dbt tests already guard each model, but some invariants span rows
and models (money conservation per invoice and receipt, a cohort never growing from one stage to
the next, AR ending = current + overdue; expectations/suites/marts.py). They run once the dbt
build has finished, in one read-only DuckDB connection, and an ERROR failure keeps the report from
being published in the same run (write-audit-publish): the report asset depends on these marts,
and a blocking check on an upstream asset holds the downstream step. The previously published
report stays where it is. WARN failures annotate the mart and let the run go on. Metadata holds
the failing rows' keys only, never values.
"""


import dagster as dg

from connectors.settings import Settings
from orchestration.defs.quality.checks import CHECK_NAME, check_result


def _mart_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["marts", name])


def _specs() -> list[dg.AssetCheckSpec]:
    from expectations.suites import MART_SUITES

    return [
        dg.AssetCheckSpec(
            name=CHECK_NAME,
            asset=_mart_key(name),
            blocking=True,  # only ERROR-severity failures block
            description=f"Great Expectations suite on marts.{name} (expectations/suites/marts.py).",
        )
        for name in MART_SUITES
    ]


@dg.multi_asset_check(specs=_specs(), can_subset=True, name="mart_expectations")
def mart_expectations(context: dg.AssetCheckExecutionContext):
    """Validate the selected marts inside DuckDB (on Postgres, a DuckDB copy of the marts they read:
    expectations/warehouse.py) and report one check result per mart."""
    from expectations.warehouse import validate_warehouse_marts

    settings = Settings.from_env()
    names = [key.asset_key.path[-1] for key in context.selected_asset_check_keys]
    summaries = validate_warehouse_marts(settings, names=names)
    for name, summary in zip(names, summaries):
        yield check_result(_mart_key(name), summary)
