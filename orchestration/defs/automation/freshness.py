"""Freshness checks on every raw asset, and the sensor that evaluates them.

Why: a schedule that silently stops (daemon down, a source failing every night, a paused sensor)
leaves the reports quietly showing old numbers. A last-update freshness check turns "raw/<system>
was not updated for longer than expected" into a failed (WARN) check in the UI and in the run
history. The bound is per system (`LTC_FRESHNESS_<SYSTEM>_H`): Salesforce is refreshed hourly, so
2 h means one missed run; ERP, finance and marketing land daily, so 26 h is a day plus slack.

`build_last_update_freshness_checks` only defines the checks; they run (a) right after the asset
is updated, because the jobs that materialise raw assets select the checks that target them, and
(b) from `build_sensor_for_freshness_checks`, which starts a check run when a passing check could
have become overdue. Dagster 1.13 marks both "superseded" by a `FreshnessPolicy` attached to the
asset definitions; those definitions are owned by the ingest module and may not be redefined here,
so this module stays on the check-based API (still supported) and silences its
SupersessionWarnings, which would otherwise print at every code-location load.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings

import dagster as dg

from connectors.catalog import RAW_TABLES
from connectors.settings import Settings

FRESHNESS_SENSOR = "raw_freshness_checks_sensor"
FRESHNESS_CHECK_NAME = "freshness_check"  # the check name Dagster's factory gives every check


@contextlib.contextmanager
def _superseded_api():
    """Silence Dagster's SupersessionWarning for the check-based freshness API (see the docstring)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=dg.SupersessionWarning)
        yield


def raw_keys(system: str) -> list[dg.AssetKey]:
    return [dg.AssetKey(["raw", system, table]) for table in RAW_TABLES[system]]


def raw_freshness_checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    """One multi-asset check definition per system (each with its own lower bound)."""
    checks: list[dg.AssetChecksDefinition] = []
    with _superseded_api():
        for system in RAW_TABLES:
            checks.extend(dg.build_last_update_freshness_checks(
                assets=raw_keys(system),
                lower_bound_delta=dt.timedelta(hours=settings.freshness_hours(system)),
                timezone=settings.timezone,
            ))
    return checks


def freshness_sensor(checks: list[dg.AssetChecksDefinition],
                     minimum_interval_seconds: int = 300) -> dg.SensorDefinition:
    """Evaluates the checks every 5 minutes at most: the tightest bound is hours, so a check turns
    red at most minutes late, and each tick costs one event-log query per check."""
    with _superseded_api():
        return dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            minimum_interval_seconds=minimum_interval_seconds,
            name=FRESHNESS_SENSOR,
            # it only launches check runs (no source is read), so it is on wherever the daemon runs
            default_status=dg.DefaultSensorStatus.RUNNING,
        )
