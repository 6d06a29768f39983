"""Checklist #8 for the API sources (reference §9, "changed type: no silent NULLs").

Why: a Salesforce field or a HubSpot property whose values start arriving with another type
("12.5k" in a currency field, "soon" in a timestamp) must never land as a variant column
(`amount__v_text`) that the staging models do not read, which would be a silent NULL downstream.
Both connectors hand dlt Arrow tables typed from describe / their column lists, so the value is
refused at extract, before dlt sees it: these tests drive the real clients against the sandbox
fakes through `run_ingest` and prove the refusal is loud (names the table, the record, the column,
the value and what to do) and lossless (the raw table, its columns and the loads are unchanged, and
the cursor did not move: a good change made just before the bad one, in the refused window, lands
with the corrected record on the next run).
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import duckdb
import pytest

from connectors.ingest import IngestError, run_ingest
from connectors.sandbox.fake_hubspot import FakeHubSpot
from connectors.sandbox.fake_salesforce import FakeSalesforce
from connectors.sandbox.generator import generate
from connectors.settings import Settings


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("drift_sandbox")
    generate(folder, seed=11, scale=50)
    return folder


def _raw(schema: str, table: str) -> dict:
    """What a refused run must leave untouched: the table's rows (count and content), its columns
    (no `__v_` variant) and the finished loads of the schema."""
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        columns = con.execute("select column_name, data_type from information_schema.columns "
                              "where table_schema = ? and table_name = ? order by 1", [schema, table]).fetchall()
        rows = con.execute(f"select count(*), sum(hash(t)) from (select * exclude (_dlt_load_id, _dlt_id) "
                           f"from {schema}.{table}) t").fetchone()
        loads = con.execute(f"select count(*) from {schema}._dlt_loads").fetchone()[0]
        states = con.execute(f"select count(*) from {schema}._dlt_pipeline_state").fetchone()[0]
    return {"columns": columns, "rows": rows, "loads": loads, "states": states}


def _value(query: str):
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        return con.execute(query).fetchone()


def _no_variants(schema: str) -> None:
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        variants = con.execute("select table_name, column_name from information_schema.columns where "
                               "table_schema = ? and contains(column_name, '__v_')", [schema]).fetchall()
    assert not variants, variants


# -- Salesforce --------------------------------------------------------------------------------

@pytest.fixture
def org(ltc_home, sandbox, monkeypatch):
    server = FakeSalesforce(sandbox, batch_size=200)
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", server.start())
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", server.access_token)
    monkeypatch.setenv("LTC_SF_LOOKBACK_S", "0")  # no overlap: a cursor moved too far would skip a change
    yield server
    server.stop()


def test_salesforce_changed_type_is_refused_and_lands_once_fixed(org):
    """Opportunity.Amount (currency → DECIMAL(18,2)) arrives as '12.5k' on one record. The run is
    refused naming opportunity, the record, `amount` and the value; raw_salesforce.opportunity is
    unchanged and has no variant column. A good change (an earlier stamp, the same refused window)
    and the corrected record both land on the next run: the cursor did not move."""
    run_ingest("salesforce", objects=["opportunity"])
    good, bad = sorted(org.store["Opportunity"])[:2]
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    # stamps after the landed cursor and before the next run's start (no sleep needed)
    org.upsert("Opportunity", {"Id": good, "Name": "drift good change"}, system_modstamp=now - dt.timedelta(seconds=3))
    org.upsert("Opportunity", {"Id": bad, "Amount": "12.5k"}, system_modstamp=now - dt.timedelta(seconds=2))
    before = _raw("raw_salesforce", "opportunity")

    with pytest.raises(IngestError) as refused:
        run_ingest("salesforce", objects=["opportunity"])
    message = str(refused.value)
    for part in ("opportunity", bad, "amount", "'12.5k'", "nothing of this run landed", "re-run"):
        assert part in message, message
    assert _raw("raw_salesforce", "opportunity") == before
    _no_variants("raw_salesforce")

    org.upsert("Opportunity", {"Id": bad, "Amount": Decimal("12500.00")}, system_modstamp=now - dt.timedelta(seconds=1))
    result = run_ingest("salesforce", objects=["opportunity"])
    assert result.rows_loaded.get("opportunity") == 2, result
    assert _value(f"select amount from raw_salesforce.opportunity where id = '{bad}'") == (Decimal("12500.00"),)
    assert _value(f"select name from raw_salesforce.opportunity where id = '{good}'") == ("drift good change",)
    _no_variants("raw_salesforce")


# -- HubSpot -----------------------------------------------------------------------------------

@pytest.fixture
def hubspot(ltc_home, sandbox, monkeypatch):
    with FakeHubSpot(sandbox, retry_after_s=0) as fake:
        monkeypatch.setenv("LTC_MARKETING_API_URL", fake.url)
        monkeypatch.setenv("LTC_MARKETING_API_TOKEN", fake.access_token)
        yield fake


def _changed(fake: FakeHubSpot, contact_id: str, **properties) -> None:
    fake.update_contact(contact_id, **properties)
    time.sleep(0.01)  # the next change gets a later updatedAt (milliseconds)


@pytest.mark.parametrize("prop, bad_value, fixed, landed", [
    # text where a timestamp belongs: fails the column's cast
    ("createdate", "soon", "2025-03-04T05:06:07.000Z", dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)),
    # a number where text belongs: fails the JSON's shape, before any column exists
    ("email", 12345, "drift@example.com", "drift@example.com"),
])
def test_hubspot_changed_type_is_refused_and_lands_once_fixed(hubspot, prop, bad_value, fixed, landed):
    """A contact's property arrives with another type ('soon' in `createdate`, a timestamp; a
    number in `email`, text). The run is refused naming hubspot_contacts, the contact, the property
    and the value, and saying what to do; raw_marketing.hubspot_contacts is unchanged and has no
    variant column. A good change made just before it (an earlier updatedAt) and the corrected
    contact both land on the next run, the value not NULL: the cursor did not move past the
    refused window."""
    run_ingest("marketing", objects=["hubspot_contacts"])
    good, bad = (c["id"] for c in hubspot.data.contacts[:2])
    _changed(hubspot, good, company="Drift Good Change Ltd")
    _changed(hubspot, bad, **{prop: bad_value})
    before = _raw("raw_marketing", "hubspot_contacts")

    with pytest.raises(IngestError) as refused:
        run_ingest("marketing", objects=["hubspot_contacts"])
    message = str(refused.value)
    for part in ("hubspot_contacts", bad, prop, repr(bad_value), "nothing of this run landed", "re-run"):
        assert part in message, message
    assert _raw("raw_marketing", "hubspot_contacts") == before
    _no_variants("raw_marketing")

    _changed(hubspot, bad, **{prop: fixed})
    result = run_ingest("marketing", objects=["hubspot_contacts"])
    assert result.rows_loaded.get("hubspot_contacts") == 2, result
    assert _value(f"select {prop} from raw_marketing.hubspot_contacts where id = '{bad}'") == (landed,)
    assert _value(f"select company from raw_marketing.hubspot_contacts where id = '{good}'") == ("Drift Good Change Ltd",)
    _no_variants("raw_marketing")
