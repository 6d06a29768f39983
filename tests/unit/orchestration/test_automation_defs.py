"""The automation definitions: the hourly CRM schedule, the two ingest jobs, freshness checks on
every raw asset (really evaluated against an instance), and the merge into the code location."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from connectors.catalog import RAW_TABLES
from connectors.settings import Settings
from orchestration.defs.automation import (
    ALERT_SENSOR,
    CRM_JOB,
    CRM_SCHEDULE,
    FINANCE_JOB,
    FINANCE_SENSOR,
    FRESHNESS_SENSOR,
    automation_defs,
)
from orchestration.defs.automation.freshness import FRESHNESS_CHECK_NAME, raw_freshness_checks


def raw_keys(system: str) -> set[dg.AssetKey]:
    return {dg.AssetKey(["raw", system, table]) for table in RAW_TABLES[system]}


def with_ingest_assets(defs: dg.Definitions) -> dg.Definitions:
    """The automation merged with the ingest assets only (no dbt manifest needed)."""
    from orchestration.defs.ingest.assets import ingest_assets

    return dg.Definitions.merge(dg.Definitions(assets=ingest_assets), defs)


# ---- the hourly CRM refresh ---------------------------------------------------------------------

def test_the_crm_schedule_is_hourly_in_utc_by_default(ltc_home):
    schedule = automation_defs().resolve_schedule_def(CRM_SCHEDULE)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 * * * *", "UTC")
    assert schedule.job_name == CRM_JOB


def test_the_crm_schedule_takes_cron_and_time_zone_from_the_environment(ltc_home, monkeypatch):
    monkeypatch.setenv("LTC_CRM_CRON", "15 7-19 * * 1-5")
    monkeypatch.setenv("LTC_TIMEZONE", "Europe/Berlin")
    schedule = automation_defs().resolve_schedule_def(CRM_SCHEDULE)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 7-19 * * 1-5", "Europe/Berlin")


def test_a_tick_requests_one_crm_run_keyed_by_its_scheduled_time(ltc_home, monkeypatch):
    monkeypatch.setenv("LTC_TIMEZONE", "Europe/Berlin")
    schedule = automation_defs().resolve_schedule_def(CRM_SCHEDULE)
    at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    with dg.instance_for_test() as instance:
        data = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=at))
    [request] = data.run_requests
    assert request.run_key == "2026-03-02T09:00:00+01:00"
    assert request.tags["ltc/trigger"] == CRM_SCHEDULE
    assert request.job_name in (None, CRM_JOB)  # None = the schedule's own job


def test_a_tick_is_skipped_while_the_full_refresh_is_running(ltc_home):
    schedule = automation_defs().resolve_schedule_def(CRM_SCHEDULE)
    with dg.instance_for_test() as instance:
        running = dg.DagsterRun(job_name="ltc_full_refresh", run_id="f" * 36, status=dg.DagsterRunStatus.STARTED)
        instance.add_run(running)
        instance.add_run(dg.DagsterRun(job_name=CRM_JOB, run_id="c" * 36, status=dg.DagsterRunStatus.SUCCESS))
        data = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    assert not data.run_requests
    assert "f" * 36 in data.skip_message and "c" * 36 not in data.skip_message


def test_the_crm_and_finance_jobs_select_exactly_their_raw_assets_and_checks(ltc_home):
    defs = with_ingest_assets(automation_defs())
    for job_name, system in ((CRM_JOB, "salesforce"), (FINANCE_JOB, "finance")):
        job = defs.resolve_job_def(job_name)
        assert set(job.asset_layer.selected_asset_keys) == raw_keys(system)
        assert set(job.asset_layer.asset_graph.get_all_asset_keys()) == raw_keys(system)
        checks = set(job.asset_layer.asset_graph.asset_check_keys)
        assert {c.asset_key for c in checks} == raw_keys(system)
        # the blocking data-quality checks and the freshness checks come with the assets
        assert {dg.AssetCheckKey(k, FRESHNESS_CHECK_NAME) for k in raw_keys(system)} <= checks
        assert any(c.name == "great_expectations" for c in checks)
    assert automation_defs().resolve_sensor_def(FINANCE_SENSOR).job_name == FINANCE_JOB


# ---- freshness ---------------------------------------------------------------------------------

def _bounds(checks) -> dict[dg.AssetKey, float]:
    return {spec.asset_key: spec.metadata["dagster/freshness_params"].value["lower_bound_delta_seconds"]
            for c in checks for spec in c.check_specs}


def test_every_raw_asset_has_a_freshness_check_with_its_systems_bound(ltc_home, monkeypatch):
    monkeypatch.setenv("LTC_FRESHNESS_ERP_H", "5")
    bounds = _bounds(raw_freshness_checks(Settings.from_env()))
    every_raw = set().union(*(raw_keys(s) for s in RAW_TABLES))
    assert set(bounds) == every_raw
    hours = {"salesforce": 2, "erp": 5, "finance": 26, "marketing": 26}
    for system, h in hours.items():
        assert {bounds[k] for k in raw_keys(system)} == {h * 3600}


def test_freshness_checks_pass_when_fresh_and_fail_when_stale_or_never_landed(ltc_home, monkeypatch):
    monkeypatch.setenv("LTC_FRESHNESS_SALESFORCE_H", str(1 / 3600))  # 1 s, so staleness is quick to reach
    checks = raw_freshness_checks(Settings.from_env())
    stale, fresh, never = (dg.AssetKey(["raw", "salesforce", "lead"]), dg.AssetKey(["raw", "erp", "invoices"]),
                           dg.AssetKey(["raw", "finance", "bank_transactions"]))
    keys = [dg.AssetCheckKey(k, FRESHNESS_CHECK_NAME) for k in (stale, fresh, never)]
    job = dg.define_asset_job("freshness_only", selection=dg.AssetSelection.checks(*keys))
    defs = with_ingest_assets(dg.Definitions(asset_checks=checks, jobs=[job]))
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=stale))
        time.sleep(1.5)
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=fresh))
        result = defs.resolve_job_def("freshness_only").execute_in_process(instance=instance)
    passed = {e.asset_key: e.passed for e in result.get_asset_check_evaluations()}
    assert passed == {stale: False, fresh: True, never: False}


def test_the_freshness_sensor_requests_every_check_never_evaluated(ltc_home):
    defs = with_ingest_assets(automation_defs())
    sensor = defs.resolve_sensor_def(FRESHNESS_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.instance_for_test() as instance:
        data = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    [request] = data.run_requests
    every_raw = set().union(*(raw_keys(s) for s in RAW_TABLES))
    assert {k.asset_key for k in request.asset_check_keys} == every_raw


# ---- the code location -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def code_location_defs():
    from orchestration.prepare import prepare_dbt_manifest

    prepare_dbt_manifest()
    from orchestration.definitions import defs

    return defs


def test_automation_is_merged_into_the_code_location(code_location_defs, ltc_home):
    merged = code_location_defs  # orchestration/definitions.py merges automation_defs() in
    dg.Definitions.validate_loadable(merged)
    repo = merged.get_repository_def()
    assert {"ltc_full_refresh", CRM_JOB, FINANCE_JOB} <= {j.name for j in repo.get_all_jobs()}
    assert {s.name for s in repo.schedule_defs} == {"daily_full_refresh", CRM_SCHEDULE}
    assert {s.name for s in repo.sensor_defs} == {FINANCE_SENSOR, FRESHNESS_SENSOR, ALERT_SENSOR}
    # the existing definitions are untouched: same job selection root, same daily cron
    assert merged.resolve_schedule_def("daily_full_refresh").cron_schedule == "0 6 * * *"
    graph = merged.resolve_asset_graph()
    assert dg.AssetKey(["reports", "edition"]) in graph.get_all_asset_keys()
    assert dg.AssetCheckKey(dg.AssetKey(["raw", "erp", "invoices"]), FRESHNESS_CHECK_NAME) in graph.asset_check_keys
