"""The Salesforce connector's object coverage and org variety, against the sandbox FakeSalesforce
through the real simple-salesforce client (issue 3: objects, fields, deletes, Bulk, faults).

Each test ends by comparing what landed with what the org holds, so nothing lost and nothing
duplicated is asserted, not assumed.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from decimal import Decimal

import duckdb
import pytest

from connectors._http import default_retry
from connectors.ingest import run_ingest
from connectors.salesforce.source import DEFAULT_OBJECTS, table_name
from connectors.sandbox.fake_salesforce import FakeSalesforce
from connectors.sandbox.generator import generate
from connectors.settings import Settings

BASE = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).replace(microsecond=0)
DLT_COLUMNS = {"_dlt_load_id", "_dlt_id", "_loaded_at"}


@pytest.fixture(scope="module")
def sandbox_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sandbox")
    generate(folder, seed=11, scale=300)
    return folder


def _serve(monkeypatch, org: FakeSalesforce) -> FakeSalesforce:
    url = org.start()
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", url)
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", org.access_token)
    monkeypatch.setattr("connectors.salesforce.client.default_retry",
                        functools.partial(default_retry, backoff_factor=0.01, backoff_jitter=0.01))
    monkeypatch.setattr("connectors.salesforce.bulk.POLL_WAIT", 0.01)  # the fake's jobs finish at once
    return org


@pytest.fixture
def org(ltc_home, sandbox_dir, monkeypatch):
    server = _serve(monkeypatch, FakeSalesforce(sandbox_dir, batch_size=200))
    yield server
    server.stop()


@pytest.fixture
def empty_org(ltc_home, tmp_path, monkeypatch):
    server = _serve(monkeypatch, FakeSalesforce(tmp_path / "empty_org", batch_size=200))
    yield server
    server.stop()


def _con():
    return duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True)


def _table(table: str) -> dict[str, dict]:
    """Landed rows by id, business columns only; fails on a duplicate id."""
    with _con() as con:
        rel = con.sql(f'select * from raw_salesforce."{table}"')
        cols = [c for c in rel.columns if c not in DLT_COLUMNS]
        rows = [dict(zip(rel.columns, r)) for r in rel.fetchall()]
    by_id = {r["id"]: {c: r[c] for c in cols} for r in rows}
    assert len(by_id) == len(rows), f"duplicate ids in {table}"
    return by_id


def _tables() -> set[str]:
    with _con() as con:
        return {r[0] for r in con.sql(
            "select table_name from information_schema.tables where table_schema = 'raw_salesforce'").fetchall()}


def _org_ids(org: FakeSalesforce, obj: str) -> set[str]:
    return set(org.store[obj])


# ---- every object, Bulk and REST alike ------------------------------------------------------------

def test_every_default_object_lands_and_bulk_equals_rest(org, monkeypatch, tmp_path):
    monkeypatch.setenv("LTC_SF_BULK_THRESHOLD", "0")
    rest = run_ingest("salesforce")
    landed_rest = {t: _table(t) for t in _tables() if not t.startswith("_dlt") and t != "deleted_records"}
    for obj in DEFAULT_OBJECTS:
        assert set(landed_rest[table_name(obj)]) == _org_ids(org, obj), obj
        assert landed_rest[table_name(obj)], f"the sandbox has no {obj}"
    assert not any("Bulk API 2.0" in n for n in rest.notes)

    # the same org through Bulk 2.0 (every window with ≥ 50 rows) into a fresh warehouse
    monkeypatch.setenv("LTC_HOME", str(tmp_path / "bulk_home"))
    monkeypatch.setenv("LTC_SF_BULK_THRESHOLD", "50")
    bulk = run_ingest("salesforce")
    bulk_objects = {n.split(":")[0] for n in bulk.notes if "Bulk API 2.0" in n}
    assert {"Lead", "Opportunity", "OpportunityHistory", "OpportunityFieldHistory"} <= bulk_objects
    for table, rows in landed_rest.items():
        assert _table(table) == rows, f"{table}: Bulk and REST landed different values"


def test_value_types_money_exact_datetimes_utc_currency_kept(org):
    run_ingest("salesforce", objects=["opportunity", "opportunity_line_item", "dated_conversion_rate"])
    with _con() as con:
        types = dict(con.sql("select column_name, data_type from information_schema.columns "
                             "where table_schema = 'raw_salesforce' and table_name = 'opportunity'").fetchall())
        line_types = dict(con.sql("select column_name, data_type from information_schema.columns where "
                                  "table_schema = 'raw_salesforce' and table_name = 'opportunity_line_item'").fetchall())
    assert types["amount"] == "DECIMAL(18,2)" and types["probability"].startswith("DECIMAL")
    assert types["system_modstamp"] == "TIMESTAMP WITH TIME ZONE" and types["close_date"] == "DATE"
    assert line_types["unit_price"] == "DECIMAL(18,2)" and line_types["quantity"].startswith("DECIMAL")
    opps = _table("opportunity")
    for rec_id, rec in org.store["Opportunity"].items():
        landed = opps[rec_id]
        assert landed["currency_iso_code"] == rec["CurrencyIsoCode"]
        assert (landed["amount"] is None and rec["Amount"] is None) or landed["amount"] == Decimal(str(rec["Amount"]))
    rates = _table("dated_conversion_rate")
    assert rates and all(isinstance(r["conversion_rate"], Decimal) for r in rates.values())


# ---- history: CreatedDate, insert-only --------------------------------------------------------------

def test_field_history_is_read_on_created_date_and_only_appended(org):
    first = run_ingest("salesforce", objects=["opportunity_field_history"])
    assert any(n.startswith("opportunity_field_history: CreatedDate >= -inf") for n in first.notes)
    before = _table("opportunity_field_history")
    assert set(before) == _org_ids(org, "OpportunityFieldHistory")

    opp = next(iter(org.store["Opportunity"]))
    new = org.upsert("OpportunityFieldHistory", {"OpportunityId": opp, "Field": "StageName", "DataType": "Text",
                                                 "OldValue": "Prospecting", "NewValue": "Qualification"},
                     system_modstamp=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5))
    second = run_ingest("salesforce", objects=["opportunity_field_history"])
    assert any(n.startswith("opportunity_field_history: CreatedDate >= 2") for n in second.notes)
    after = _table("opportunity_field_history")
    assert set(after) == set(before) | {new["Id"]}  # appended, and the overlap re-read added nothing
    assert {k: v for k, v in after.items() if k in before} == before
    assert after[new["Id"]]["new_value"] == "Qualification"


# ---- deletes: queryAll soft deletes, getDeleted hard deletes --------------------------------------

def test_soft_and_hard_deletes_both_reach_the_warehouse(empty_org):
    ids = [empty_org.upsert("Lead", {"LastName": f"L{i}", "Company": "Acme", "Status": "Open"},
                            system_modstamp=BASE + dt.timedelta(seconds=i))["Id"] for i in range(30)]
    run_ingest("salesforce", objects=["lead", "deleted_records"])
    empty_org.delete("Lead", ids[0])  # soft: Recycle Bin, queryAll shows IsDeleted = true
    empty_org.delete("Lead", ids[1])
    empty_org.purge("Lead", ids[1])  # then emptied from the bin: only getDeleted still names it
    empty_org.purge("Lead", ids[2])  # hard-deleted straight away
    # stamps are whole seconds and a run reads `< its start second`: let this second pass, as
    # any real run would start later than the deletes it reads
    time.sleep(1.1)
    result = run_ingest("salesforce", objects=["lead", "deleted_records"])
    # getDeleted names every record deleted in its window, in the Recycle Bin or purged from it
    assert any("deleted_records: 3 Lead record(s)" in n for n in result.notes), result.notes

    leads = _table("lead")
    assert set(leads) == set(ids)  # nothing landed is ever removed
    assert leads[ids[0]]["is_deleted"] is True
    with _con() as con:
        tombstones = {r[0] for r in con.sql("select id from raw_salesforce.deleted_records where sobject = 'Lead'").fetchall()}
    assert tombstones == {ids[0], ids[1], ids[2]}
    live_landed = {i for i, r in leads.items() if not r["is_deleted"] and i not in tombstones}
    live_org = {i for i, r in empty_org.store["Lead"].items() if not r["IsDeleted"]}
    assert live_landed == live_org

    again = run_ingest("salesforce", objects=["lead", "deleted_records"])  # a rerun adds nothing twice
    with _con() as con:
        assert con.execute("select count(*) from raw_salesforce.deleted_records").fetchone()[0] == 3
    assert again.rows_loaded.get("deleted_records", 0) in (0, 3)


# ---- org variety: single currency, no field history, custom objects --------------------------------

def test_a_single_currency_org_without_field_history_skips_those_objects(ltc_home, sandbox_dir, monkeypatch):
    org = _serve(monkeypatch, FakeSalesforce(sandbox_dir, single_currency=True,
                                             objects_disabled=("OpportunityFieldHistory",)))
    try:
        result = run_ingest("salesforce")
    finally:
        org.stop()
    skipped = {n.split(":")[0] for n in result.notes if "skipped" in n}
    assert skipped == {"opportunity_field_history", "currency_type", "dated_conversion_rate"}
    tables = _tables()
    assert "opportunity" in tables and "currency_type" not in tables
    assert "currency_iso_code" not in next(iter(_table("opportunity").values()))


def test_custom_objects_and_custom_fields_are_configurable(empty_org, monkeypatch):
    empty_org.add_object("Invoice_Plan__c", [("Amount__c", "currency"), ("Opportunity__c", "reference", "Opportunity")])
    empty_org.upsert("Invoice_Plan__c", {"Name": "Plan A", "Amount__c": Decimal("1000.10")}, system_modstamp=BASE)
    monkeypatch.setenv("LTC_SF_OBJECTS", "Lead,Invoice_Plan__c")
    run_ingest("salesforce")
    table = table_name("Invoice_Plan__c")  # dlt's snake_case: invoice_plan_c, columns amount_c, ...
    plans = _table(table)
    assert [r["amount_c"] for r in plans.values()] == [Decimal("1000.10")]

    empty_org.add_field("Invoice_Plan__c", "Region__c")
    empty_org.upsert("Invoice_Plan__c", {"Name": "Plan B", "Region__c": "EMEA"}, system_modstamp=BASE + dt.timedelta(hours=1))
    result = run_ingest("salesforce")
    assert any("new field(s)" in n and "Region__c" in n for n in result.notes)
    plans = _table(table)
    assert set(plans) == _org_ids(empty_org, "Invoice_Plan__c")
    assert sorted(str(r["region_c"]) for r in plans.values()) == ["EMEA", "None"]


def test_a_bad_object_name_is_a_config_error(empty_org, monkeypatch):
    from connectors.ingest import IngestError

    monkeypatch.setenv("LTC_SF_OBJECTS", "Lead, Drop Table")
    with pytest.raises(IngestError, match="LTC_SF_OBJECTS"):
        run_ingest("salesforce")


# ---- faults on the Bulk path and slow responses ---------------------------------------------------

def test_slow_responses_time_out_and_are_retried(empty_org, monkeypatch):
    ids = [empty_org.upsert("Lead", {"LastName": f"L{i}", "Company": "Acme", "Status": "Open"},
                            system_modstamp=BASE + dt.timedelta(seconds=i))["Id"] for i in range(450)]
    monkeypatch.setenv("LTC_SF_TIMEOUT_S", "0.5")
    empty_org.delay_next(2.0, times=2, path="/query/")  # two slow next-page answers in a row
    since = len(empty_org.requests)
    run_ingest("salesforce", objects=["lead"])
    assert set(_table("lead")) == set(ids)
    # the 2 timed-out page requests were sent again by the transport
    pages = [r for r in empty_org.requests[since:] if "/query/" in r]
    assert len(pages) == len(set(pages)) + 2


def test_expired_session_during_bulk_results_reauthenticates_and_completes(empty_org, monkeypatch):
    ids = [empty_org.upsert("Lead", {"LastName": f"L{i}", "Company": "Acme", "Status": "Open"},
                            system_modstamp=BASE + dt.timedelta(seconds=i))["Id"] for i in range(120)]
    monkeypatch.setenv("LTC_SF_BULK_THRESHOLD", "100")
    monkeypatch.setattr("connectors.salesforce.bulk.BULK_PAGE_SIZE", 50)
    empty_org.fail_next(401, "INVALID_SESSION_ID", "Session expired or invalid", path="locator=")
    result = run_ingest("salesforce", objects=["lead"])
    assert set(_table("lead")) == set(ids)
    assert len(empty_org.bulk_jobs) == 2  # the job was read again from the window's start
    assert any("Bulk API 2.0" in n for n in result.notes)


def test_quota_reserve_is_checked_before_a_bulk_job(empty_org, monkeypatch):
    from connectors.ingest import IngestError

    for i in range(120):
        empty_org.upsert("Lead", {"LastName": f"L{i}", "Company": "Acme", "Status": "Open"},
                         system_modstamp=BASE + dt.timedelta(seconds=i))
    monkeypatch.setenv("LTC_SF_BULK_THRESHOLD", "100")
    empty_org.api_usage, empty_org.api_limit = 9_500, 10_000  # 5 % left, below the 10 % reserve
    with pytest.raises(IngestError, match="quota reserve"):
        run_ingest("salesforce", objects=["lead"])
    assert not empty_org.bulk_jobs  # no job was created


def test_bulk_job_failure_falls_back_and_hostile_csv_values_land_exactly(empty_org, monkeypatch):
    hostile = 'Acme "Big" Deal, phase 2\nline two\r\nthree — ünïcode'
    ids = [empty_org.upsert("Lead", {"LastName": hostile if i == 7 else f"L{i}", "Company": "N/A", "Status": "Open"},
                            system_modstamp=BASE + dt.timedelta(seconds=i))["Id"] for i in range(150)]
    monkeypatch.setenv("LTC_SF_BULK_THRESHOLD", "100")
    empty_org.fail_next_bulk_job("InvalidBatch : Failed to process query: QUERY_TIMEOUT")
    first = run_ingest("salesforce", objects=["lead"])
    assert any("fell back to the REST API" in n for n in first.notes), first.notes

    # the next full read goes through Bulk (fresh warehouse), with a NUL byte in one value
    monkeypatch.setenv("LTC_HOME", str(Settings.from_env().home / "second"))
    empty_org.inject_bulk_nul(ids[3], "LastName")
    second = run_ingest("salesforce", objects=["lead"])
    assert any("Lead: Bulk API 2.0" in n for n in second.notes), second.notes
    landed = _table("lead")
    assert set(landed) == set(ids)
    for rec_id, rec in empty_org.store["Lead"].items():
        assert (landed[rec_id]["last_name"], landed[rec_id]["company"]) == (rec["LastName"], "N/A")
    assert landed[ids[7]]["last_name"] == hostile
