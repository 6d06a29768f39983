"""The Dagster definitions load, and the graph reads from source to report without glue."""

from __future__ import annotations

import dagster as dg

from connectors.catalog import RAW_TABLES


def _defs():
    from orchestration.prepare import prepare_dbt_manifest

    prepare_dbt_manifest()
    from orchestration.definitions import defs

    return defs


def test_definitions_load_with_every_raw_asset_and_the_report():
    defs = _defs()
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    for system, tables in RAW_TABLES.items():
        for table in tables:
            assert f"raw/{system}/{table}" in keys
    assert {"reports/edition", "reports/mail", "reports/docs"} <= keys
    assert {"marts/fct_leads", "marts/fct_lead_to_cash", "marts/rpt_cash_collection"} <= keys


def test_dbt_sources_are_stitched_to_the_raw_ingestion_assets():
    graph = _defs().resolve_asset_graph()
    staging = dg.AssetKey(["staging", "stg_salesforce__opportunities"])
    parents = {key.to_user_string() for key in graph.get(staging).parent_keys}
    # the object itself, and the getDeleted tombstones that mark hard-deleted records
    assert parents == {"raw/salesforce/opportunity", "raw/salesforce/deleted_records"}


def test_report_is_downstream_of_raw_salesforce_leads():
    graph = _defs().resolve_asset_graph()
    seen, frontier = set(), [dg.AssetKey(["raw", "salesforce", "lead"])]
    while frontier:
        key = frontier.pop()
        for child in graph.get(key).child_keys:
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    assert dg.AssetKey(["reports", "edition"]) in seen
    assert dg.AssetKey(["reports", "mail"]) in seen


def test_every_mart_is_upstream_of_the_reports():
    """REPORT_INPUTS comes from the dbt manifest: a new mart blocks the reports on its checks
    without anyone listing it."""
    graph = _defs().resolve_asset_graph()
    marts = {key for key in graph.get_all_asset_keys()
             if key.path[0] == "marts" and key.path[-1].startswith(("fct_", "dim_", "rpt_"))}
    assert len(marts) >= 20
    assert graph.get(dg.AssetKey(["reports", "edition"])).parent_keys == marts


def test_raw_checks_and_dbt_tests_are_asset_checks():
    checks = _defs().resolve_asset_graph().asset_check_keys
    raw_lead = dg.AssetKey(["raw", "salesforce", "lead"])
    assert dg.AssetCheckKey(raw_lead, "great_expectations") in checks
    fct_leads = dg.AssetKey(["marts", "fct_leads"])
    assert any(k.asset_key == fct_leads and k.name.startswith("unique") for k in checks), (
        "dbt tests should appear as asset checks on the marts"
    )


def test_full_refresh_job_and_daily_schedule_exist():
    defs = _defs()
    job = defs.resolve_job_def("ltc_full_refresh")
    assert job is not None
    schedule = defs.resolve_schedule_def("daily_full_refresh")
    assert schedule.cron_schedule == "0 6 * * *"


def test_dbt_assets_are_grouped_by_layer_and_system_with_owners_and_grain_descriptions():
    graph = _defs().resolve_asset_graph()
    staging = graph.get(dg.AssetKey(["staging", "stg_salesforce__opportunities"]))
    assert staging.group_name == "staging_salesforce"
    assert staging.owners == ["team:analytics-engineering"]
    mart = graph.get(dg.AssetKey(["marts", "rpt_funnel_conversion"]))
    assert mart.group_name == "marts"
    assert "One row per measure type" in mart.description
    assert "dbt_project/models/marts/rpt_funnel_conversion.sql" in mart.description
    assert "select" not in mart.description.lower()  # no SQL dump in the catalog
    raw = graph.get(dg.AssetKey(["raw", "erp", "invoices"]))
    assert raw.group_name == "raw_erp" and raw.owners == ["team:data-engineering"]


def test_each_system_is_one_multi_asset_that_can_be_subset():
    defs = _defs()
    graph = defs.resolve_asset_graph()
    for system, tables in RAW_TABLES.items():
        keys = {dg.AssetKey(["raw", system, table]) for table in tables}
        assets_defs = {id(graph.get(key).assets_def) for key in keys}
        assert len(assets_defs) == 1, system  # one multi-asset per system
        assets_def = graph.get(next(iter(keys))).assets_def
        assert assets_def.can_subset
        one = dg.AssetKey(["raw", system, tables[0]])
        subset = assets_def.subset_for({one}, selected_asset_check_keys=None)
        assert set(subset.keys) == {one}
