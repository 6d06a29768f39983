"""The marts after an incremental refresh equal a full rebuild from the same (changed) sources.

Issue 8's proof, at 1,000 leads, with the benchmark's own machinery (benchmarks/incremental.py):
generate, land every system and `dbt build` (each phase in a fresh child process, as the benchmark
and the pipeline run them); change 2 % of every source the next day (connectors.sandbox.mutate:
new leads, lead and stage moves, a won deal with its contract, order, ERP customer and shipment,
new and paid and cancelled invoices, receipts in new bank statements, restated and new ad spend,
Salesforce and ERP deletes); land and build again on the same warehouse (incremental: the
connectors' cursors and file hashes, dbt's incremental models); then land and build the changed
sources into a fresh warehouse; hash every mart in both. The GE checks and the reports are left
out of the phases: they write no mart.

One mart differs, and the xfail says why (strict: it turns red once the model is fixed, so the
mark comes off): fct_pipeline_snapshots freezes the days it captured, so an opportunity deleted
after a snapshot day stays in that day's rows of the incremental table, while a rebuild never
sees it. `test_pipeline_snapshots_differ_only_by_deleted_opportunities` pins that cause.

About 3 dbt builds and 12 ingest children: several minutes on the 2-core machine, so `extended`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from benchmarks.incremental import EXCLUDED, mart_names, one_repeat

pytestmark = [pytest.mark.slow, pytest.mark.extended, pytest.mark.timeout(2400)]

SCALE, FRACTION, MUTATE_SEED = 1000, 0.02, 6  # this seed's day wins a deal that is ordered and shipped
PHASES = ("ingest:salesforce", "ingest:erp", "ingest:finance", "ingest:marketing", "dbt")
FROZEN = {"fct_pipeline_snapshots": "frozen snapshot days keep opportunities deleted after the day was "
                                    "captured; a rebuild never sees them"}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("incremental")
    keep = tmp / "homes"
    result = one_repeat(tmp, SCALE, FRACTION, MUTATE_SEED, phases=PHASES, keep=keep)
    result["homes"] = keep
    return result


def _params():
    for name in mart_names():
        if name in EXCLUDED:
            continue
        marks = [pytest.mark.xfail(strict=True, reason=FROZEN[name])] if name in FROZEN else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("mart", list(_params()))
def test_mart_equals_full_rebuild(run, mart):
    entry = run["marts"][mart]
    assert entry["rows_incremental"] is not None, f"{mart} was not built"
    assert entry["equal"], f"{mart}: {entry.get('diff')}"


def test_every_source_changed_and_the_run_was_incremental(run):
    changes = run["mutate"]["changes"]
    assert changes["salesforce"]["Opportunity"]["deleted"] and changes["salesforce"]["Lead"]["deleted"]
    assert changes["erp"]["sales_orders"]["new"] and changes["erp"]["deliveries"]["deleted"]
    assert changes["finance"]["bank_transactions"]["new"] and changes["marketing"]["ad_spend"]["new"]
    for system in ("salesforce", "erp", "marketing"):
        full, incremental = run["full"][f"ingest:{system}"]["rows"], run["incremental"][f"ingest:{system}"]["rows"]
        assert 0 < incremental < full / 4, (system, incremental, full)
    # finance re-reads its whole FX file every run, by design (connectors/finance/source.py): at
    # 1,000 leads that is most of its rows (569 of 689 measured); the statements it did not land
    # again are the rest
    full, incremental = run["full"]["ingest:finance"]["rows"], run["incremental"]["ingest:finance"]["rows"]
    assert 0 < incremental < full, (incremental, full)


def test_pipeline_snapshots_differ_only_by_deleted_opportunities(run):
    """Every snapshot row found only in the incremental table belongs to an opportunity deleted on
    the mutated day, on a day captured before; nothing is missing from it."""
    diff = run["marts"]["fct_pipeline_snapshots"].get("diff")
    if diff is None:  # the model was fixed: the parametrized test above says so (XPASS)
        return
    assert diff["only_rebuild"] == 0
    homes: Path = run["homes"]
    con = duckdb.connect()
    try:
        con.execute(f"attach '{homes / 'incremental' / 'warehouse.duckdb'}' as a (read_only)")
        con.execute(f"attach '{homes / 'rebuild' / 'warehouse.duckdb'}' as b (read_only)")
        columns = [c for (c,) in con.execute(
            "select column_name from information_schema.columns where table_catalog = 'a' "
            "and table_name = 'fct_pipeline_snapshots' and column_name <> 'built_as_of_date' "
            "order by ordinal_position").fetchall()]
        cols = ", ".join(columns)
        extra = con.execute(
            f"select opportunity_id, max(snapshot_date) from (select {cols} from a.marts.fct_pipeline_snapshots "
            f"except all select {cols} from b.marts.fct_pipeline_snapshots) group by 1").fetchall()
        deleted = {i for (i,) in con.execute(
            "select opportunity_id from b.staging.stg_salesforce__opportunities where is_deleted "
            "and cast(last_modified_at as date) > cast('2025-12-31' as date)").fetchall()}
    finally:
        con.close()
    assert extra and {i for i, _ in extra} <= deleted
    assert all(str(day) < run["mutate"]["changes"]["as_of"] for _, day in extra)
