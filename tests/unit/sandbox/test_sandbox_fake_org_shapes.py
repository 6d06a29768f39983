"""The fake Salesforce's newer surface, driven by the real simple_salesforce client where a
connector would be: the objects added to the sandbox, orgs shaped differently (single currency,
field history off, a custom object), slow answers, Bulk CSV quoting, and the Bulk serving
machinery (snapshots, cached lines, sorted-table cache, `bulk_load`, the standalone server).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
import io
import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound
from urllib3.util.retry import Retry

from connectors.sandbox import FakeSalesforce
from connectors.sandbox.fake_salesforce import parse_soql, run_query, synthetic_org
from connectors.sandbox.generator import EXTRA_OBJECTS
from connectors.sandbox.sf_schema import CURRENCY_OBJECTS, SCHEMAS

ROOT = Path(__file__).resolve().parents[3]


class RewriteToHttp(requests.adapters.HTTPAdapter):
    """simple_salesforce always calls https://: send it to the plain-HTTP fake (reference §1.2)."""

    def send(self, request, **kwargs):
        request.url = "http://" + request.url.removeprefix("https://")
        kwargs.setdefault("timeout", 30)
        return super().send(request, **kwargs)


def client(fake: FakeSalesforce, adapter: requests.adapters.HTTPAdapter | None = None) -> Salesforce:
    https = fake.url.replace("http://", "https://")
    session = requests.Session()
    session.trust_env = False
    session.mount(https + "/", adapter or RewriteToHttp())
    return Salesforce(instance_url=https, session_id=fake.access_token, version="59.0", session=session,
                      parse_float=Decimal, object_pairs_hook=dict)


@pytest.fixture()
def fake(sandbox):
    with FakeSalesforce(sandbox.dir) as server:
        yield server


@pytest.fixture()
def sf(fake):
    return client(fake)


def _bulk_rows(sf, obj: str, soql: str, *, all_rows: bool = True) -> list[dict]:
    """Every row of a Bulk 2.0 query through simple_salesforce, parsed with the csv module."""
    bulk = getattr(sf.bulk2, obj)
    pages = (bulk.query_all if all_rows else bulk.query)(soql, max_records=200, wait=0.01)
    rows = []
    for page in pages:
        rows += list(csv.DictReader(io.StringIO(page, newline="")))
    return rows


def _error_code(exc) -> str:
    return exc.value.content[0]["errorCode"]


# ----------------------------------------------------------------------------- the new objects


@pytest.mark.parametrize("obj", EXTRA_OBJECTS)
def test_new_objects_through_rest_and_bulk(sandbox, sf, obj):
    on_disk = sandbox.sf(obj)
    schema = SCHEMAS[obj]
    names = [f.name for f in schema.fields]
    rows = sf.query_all(f"SELECT {', '.join(names)} FROM {obj}", include_deleted=True)["records"]
    assert sorted(r["Id"] for r in rows) == sorted(r["Id"] for r in on_disk)
    by_id = {r["Id"]: r for r in on_disk}
    for r in rows:
        assert {k: v for k, v in r.items() if k != "attributes"} == by_id[r["Id"]]
    live = sf.query_all(f"SELECT Id FROM {obj}")["records"]
    assert len(live) == sum(not r.get("IsDeleted") for r in on_disk)  # no IsDeleted: every row is live
    bulk = _bulk_rows(sf, obj, f"SELECT {', '.join(names)} FROM {obj}")
    assert sorted(r["Id"] for r in bulk) == sorted(by_id)
    assert list(bulk[0]) == names


def test_describe_of_the_new_objects(sf):
    entries = {o["name"]: o for o in sf.describe()["sobjects"]}
    assert set(EXTRA_OBJECTS) <= set(entries)
    history = {f["name"]: f for f in sf.OpportunityFieldHistory.describe()["fields"]}
    assert set(history) == {"Id", "IsDeleted", "CreatedDate", "CreatedById", "OpportunityId", "Field", "DataType",
                            "OldValue", "NewValue"}
    assert history["OldValue"]["type"] == "anyType" and history["OldValue"]["soapType"] == "xsd:anyType"
    assert history["NewValue"]["filterable"] is False and history["NewValue"]["sortable"] is False
    assert entries["OpportunityFieldHistory"]["createable"] is False
    rates = {f["name"]: f for f in sf.DatedConversionRate.describe()["fields"]}
    assert "IsDeleted" not in rates and rates["ConversionRate"]["type"] == "double"
    assert rates["ConversionRate"]["scale"] == 6 and rates["NextStartDate"]["nillable"] is True
    assert "IsDeleted" not in {f["name"] for f in sf.CurrencyType.describe()["fields"]}
    line = {f["name"]: f for f in sf.OpportunityLineItem.describe()["fields"]}
    assert line["Quantity"]["type"] == "double" and line["TotalPrice"]["type"] == "currency"
    assert line["Product2Id"]["referenceTo"] == ["Product2"]
    quote = {f["name"]: f for f in sf.Quote.describe()["fields"]}
    assert quote["QuoteNumber"]["autoNumber"] is True
    assert [p["value"] for p in quote["Status"]["picklistValues"]] == ["Draft", "Presented", "Accepted", "Denied"]


def test_field_history_values_keep_their_types_and_cannot_be_filtered(sf):
    rows = sf.query_all("SELECT Field, OldValue, NewValue, CreatedDate FROM OpportunityFieldHistory "
                        "WHERE CreatedDate >= 2025-01-01T00:00:00Z ORDER BY CreatedDate, Id")["records"]
    assert rows == sorted(rows, key=lambda r: r["CreatedDate"])
    assert {type(r["NewValue"]) for r in rows if r["Field"] == "Amount"} == {Decimal}
    assert {type(r["NewValue"]) for r in rows if r["Field"] == "StageName"} == {str}
    for soql in ("SELECT Id FROM OpportunityFieldHistory WHERE OldValue = 'Prospecting'",
                 "SELECT Id FROM OpportunityFieldHistory ORDER BY NewValue"):
        with pytest.raises(SalesforceMalformedRequest):
            sf.query(soql)
    with pytest.raises(SalesforceMalformedRequest) as err:  # immutable rows: no SystemModstamp to filter on
        sf.query("SELECT Id FROM OpportunityFieldHistory WHERE SystemModstamp > 2025-01-01T00:00:00Z")
    assert _error_code(err) == "INVALID_FIELD"


def test_objects_without_is_deleted(sandbox, fake, sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM CurrencyType WHERE IsDeleted = false")
    assert _error_code(err) == "INVALID_FIELD"
    assert sf.query("SELECT COUNT() FROM CurrencyType")["totalSize"] == 3
    new = fake.upsert("CurrencyType", {"IsoCode": "EUR", "ConversionRate": Decimal("0.91"), "DecimalPlaces": 2,
                                       "IsActive": False, "IsCorporate": False})
    assert "IsDeleted" not in new and new["SystemModstamp"] == new["CreatedDate"]
    with pytest.raises(ValueError):
        fake.delete("CurrencyType", new["Id"])
    assert sf.query_all("SELECT Id FROM CurrencyType", include_deleted=True)["totalSize"] == 4
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert sf.DatedConversionRate.deleted(start, end)["deletedRecords"] == []
    updated = sf.OpportunityFieldHistory.updated(start, end)["ids"]  # CreatedDate is its only cursor
    assert len(updated) == sum(not r["IsDeleted"] for r in sandbox.sf("OpportunityFieldHistory"))


def test_get_deleted_still_names_purged_records(fake, sf):
    ids = [fake.upsert("Lead", {"LastName": f"Gone {i}", "Company": "Acme"})["Id"] for i in range(3)]
    soft = fake.delete("Lead", ids[0])
    fake.delete("Lead", ids[1])
    fake.purge("Lead", ids[1])  # emptied from the Recycle Bin
    fake.purge("Lead", ids[2])  # deleted for good at once
    assert sf.query_all("SELECT Id FROM Lead",
                        include_deleted=True)["totalSize"] == len(fake.store["Lead"])
    assert ids[1] not in fake.store["Lead"] and ids[2] not in fake.store["Lead"]
    start = dt.datetime(2025, 12, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    deleted = {d["id"]: d["deletedDate"] for d in sf.Lead.deleted(start, end)["deletedRecords"]}
    assert set(ids) <= set(deleted)
    assert deleted[ids[0]] == soft["SystemModstamp"]
    assert ids[2] not in sf.Lead.updated(start, end)["ids"]


# ----------------------------------------------------------------------------- org shapes


def test_single_currency_org(sandbox):
    with FakeSalesforce(sandbox.dir, single_currency=True) as fake:
        sf = client(fake)
        names = {o["name"] for o in sf.describe()["sobjects"]}
        assert names == set(SCHEMAS) - set(CURRENCY_OBJECTS)
        for obj in names:
            assert "CurrencyIsoCode" not in {f["name"] for f in getattr(sf, obj).describe()["fields"]}, obj
        for obj in CURRENCY_OBJECTS:
            with pytest.raises(SalesforceMalformedRequest) as err:
                sf.query(f"SELECT Id FROM {obj}")
            assert _error_code(err) == "INVALID_TYPE"
            with pytest.raises(SalesforceResourceNotFound):
                getattr(sf, obj).describe()
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.query("SELECT Id, CurrencyIsoCode FROM Opportunity")
        assert _error_code(err) == "INVALID_FIELD"
        row = sf.query("SELECT FIELDS FROM Opportunity LIMIT 1".replace("FIELDS", "Id, Amount"))["records"][0]
        assert "CurrencyIsoCode" not in fake.store["Opportunity"][row["Id"]]
        bulk = _bulk_rows(sf, "Opportunity", "SELECT Id, Amount FROM Opportunity")
        assert len(bulk) == len(sandbox.sf("Opportunity"))
        with pytest.raises(KeyError):
            fake.upsert("Opportunity", {"Id": row["Id"], "CurrencyIsoCode": "EUR"})


def test_org_without_field_history(sandbox):
    with FakeSalesforce(sandbox.dir, objects_disabled=("OpportunityFieldHistory",)) as fake:
        sf = client(fake)
        assert "OpportunityFieldHistory" not in {o["name"] for o in sf.describe()["sobjects"]}
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.query("SELECT Id FROM OpportunityFieldHistory")
        assert _error_code(err) == "INVALID_TYPE"
        with pytest.raises(SalesforceResourceNotFound) as err:
            sf.OpportunityFieldHistory.describe()
        assert err.value.content[0]["errorCode"] == "NOT_FOUND"
        with pytest.raises(SalesforceMalformedRequest) as err:
            list(sf.bulk2.OpportunityFieldHistory.query("SELECT Id FROM OpportunityFieldHistory", wait=0.01))
        assert _error_code(err) == "INVALID_TYPE"
        assert sf.query("SELECT COUNT() FROM OpportunityHistory")["totalSize"] > 0  # the rest is there
    with pytest.raises(KeyError):
        FakeSalesforce(sandbox.dir, objects_disabled=("Nope",))


def test_remove_object_at_runtime(fake, sf):
    assert sf.query("SELECT COUNT() FROM Quote")["totalSize"] > 0
    fake.remove_object("Quote")
    with pytest.raises(SalesforceMalformedRequest):
        sf.query("SELECT COUNT() FROM Quote")
    with pytest.raises(SalesforceResourceNotFound):
        sf.Quote.describe()
    with pytest.raises(KeyError):
        fake.upsert("Quote", {"Name": "x"})


def test_custom_object_created_at_runtime(sandbox, fake, sf):
    opp_id = sandbox.sf("Opportunity")[0]["Id"]
    schema = fake.add_object("Invoice_Plan__c", [("Opportunity__c", "reference", "Opportunity"),
                                                 ("Instalments__c", "double"), ("Plan_Total__c", "currency"),
                                                 ("First_Due__c", "date")])
    assert schema.key_prefix == "a0X"
    entry = next(o for o in sf.describe()["sobjects"] if o["name"] == "Invoice_Plan__c")
    assert entry["custom"] is True and entry["keyPrefix"] == "a0X"
    describe = sf.Invoice_Plan__c.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    assert describe["custom"] is True
    assert fields["Opportunity__c"]["custom"] is True and fields["Opportunity__c"]["referenceTo"] == ["Opportunity"]
    assert fields["Opportunity__c"]["relationshipName"] == "Opportunity__r"
    assert {"Id", "IsDeleted", "SystemModstamp", "Name", "CurrencyIsoCode"} <= set(fields)
    assert fields["Name"]["custom"] is False
    plans = [fake.upsert("Invoice_Plan__c", {"Name": f"Plan {i}", "Opportunity__c": opp_id, "Instalments__c": i,
                                             "Plan_Total__c": Decimal("1200.50") * i, "First_Due__c": "2025-07-01",
                                             "CurrencyIsoCode": "EUR"}) for i in (1, 2, 3)]
    assert all(p["Id"].startswith("a0X") and len(p["Id"]) == 18 for p in plans)
    rows = sf.query_all("SELECT Id, Plan_Total__c FROM Invoice_Plan__c WHERE Instalments__c >= 2 "
                        "ORDER BY Plan_Total__c DESC")["records"]
    assert [r["Plan_Total__c"] for r in rows] == [Decimal("3601.50"), Decimal("2401.00")]
    bulk = _bulk_rows(sf, "Invoice_Plan__c", "SELECT Id, Name, Plan_Total__c FROM Invoice_Plan__c")
    assert sorted(r["Plan_Total__c"] for r in bulk) == ["1200.50", "2401.00", "3601.50"]
    assert fake.add_object("Second__c").key_prefix == "a0Y"
    with pytest.raises(ValueError):
        fake.add_object("Invoice_Plan__c")
    with pytest.raises(ValueError):
        fake.add_object("NotCustom")


# ----------------------------------------------------------------------------- slow answers


def _client_with_timeout(fake, read_timeout: float, retries: int = 0) -> Salesforce:
    class Short(RewriteToHttp):
        def send(self, request, **kwargs):
            kwargs["timeout"] = (2, read_timeout)
            return super().send(request, **kwargs)

    retry = Retry(total=retries, read=retries, connect=0, status=0, allowed_methods={"GET"}, backoff_factor=0)
    return client(fake, Short(max_retries=retry))


def test_delay_makes_the_client_time_out_once(fake):
    fake.delay_next(0.6, path="/query")
    sf = _client_with_timeout(fake, read_timeout=0.2)
    started = time.perf_counter()
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.Timeout)):  # read timeout
        sf.query("SELECT Id FROM User")
    assert time.perf_counter() - started < 0.55
    assert len(sf.query("SELECT Id FROM User")["records"]) == 10  # the delay is used up
    fake.delay_next(0.6, times=1, path="/query")  # with a transport retry, the second try answers
    retrying = _client_with_timeout(fake, read_timeout=0.2, retries=2)
    before = len(fake.requests)
    assert len(retrying.query("SELECT Id FROM User")["records"]) == 10
    assert len([r for r in fake.requests[before:] if "/query" in r]) == 2
    fake.delay_next(0.05, path="/sobjects")  # a path filter: other requests are not delayed
    started = time.perf_counter()
    sf.query("SELECT Id FROM User")
    assert time.perf_counter() - started < 0.05 + 0.5
    assert fake._delays  # still waiting for a /sobjects request


# ----------------------------------------------------------------------------- Bulk CSV


NASTY = ['Comma, Inc.', 'He said "hi"', "two\nlines", "crlf\r\nend", '"quoted", and\nmore', "", "trailing \\"]


def test_bulk_csv_quoting_round_trips_through_the_csv_module(sandbox, fake, sf):
    ids = [fake.upsert("Account", {"Name": name, "Industry": "Retail"})["Id"] for name in NASTY]
    soql = "SELECT Id, Name, Industry FROM Account WHERE Industry = 'Retail'"
    rows = {r["Id"]: r for r in _bulk_rows(sf, "Account", soql)}
    assert [rows[i]["Name"] for i in ids] == NASTY
    # the raw page is exactly what csv.writer(QUOTE_ALL) writes
    headers = {"Authorization": f"Bearer {fake.access_token}"}
    base = f"{fake.url}/services/data/v59.0/jobs/query"
    job = requests.post(base, headers=headers, json={"operation": "query", "query": soql}).json()["id"]
    requests.get(f"{base}/{job}", headers=headers)
    page = requests.get(f"{base}/{job}/results", headers=headers, params={"maxRecords": 100000})
    expected = io.StringIO()
    writer = csv.writer(expected, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(["Id", "Name", "Industry"])
    live = sorted((a for a in fake.store["Account"].values() if a["Industry"] == "Retail" and not a["IsDeleted"]),
                  key=lambda a: list(fake.store["Account"]).index(a["Id"]))
    writer.writerows([a["Id"], a["Name"] or "", a["Industry"]] for a in live)
    assert page.content.decode("utf-8") == expected.getvalue()
    parsed = list(csv.reader(io.StringIO(page.text, newline="")))
    assert len(parsed) == len(live) + 1


def test_bulk_values_and_nul_injection_with_the_line_cache(sandbox, fake, sf):
    opp = next(o for o in sandbox.sf("Opportunity") if not o["IsDeleted"])
    soql = "SELECT Id, Name, Amount, IsWon, CloseDate, SystemModstamp FROM Opportunity"
    first = {r["Id"]: r for r in _bulk_rows(sf, "Opportunity", soql)}  # fills the line cache
    assert first[opp["Id"]]["Amount"] == f"{opp['Amount']:f}"
    assert first[opp["Id"]]["SystemModstamp"] == opp["SystemModstamp"].replace("+0000", "Z")
    assert first[opp["Id"]]["IsWon"] == ("true" if opp["IsWon"] else "false")
    fake.inject_bulk_nul(opp["Id"], "Name")
    page = requests.Session()
    headers = {"Authorization": f"Bearer {fake.access_token}"}
    base = f"{fake.url}/services/data/v59.0/jobs/query"
    job = page.post(base, headers=headers, json={"operation": "query", "query": soql}).json()["id"]
    page.get(f"{base}/{job}", headers=headers)
    text = page.get(f"{base}/{job}/results", headers=headers, params={"maxRecords": 100000}).text
    assert text.count("\x00") == 1
    line = next(x for x in text.split("\n") if x.startswith(f'"{opp["Id"]}"'))
    assert "\x00" in line and line.replace("\x00", "").startswith(f'"{opp["Id"]}","{opp["Name"]}"')


def test_a_bulk_job_is_a_snapshot_and_changes_are_served_fresh(sandbox, fake, sf):
    lead = next(l for l in sandbox.sf("Lead") if not l["IsDeleted"])
    soql = "SELECT Id, Rating, SystemModstamp FROM Lead ORDER BY SystemModstamp, Id"
    before = {r["Id"]: r for r in _bulk_rows(sf, "Lead", soql)}  # warm: lines cached
    headers = {"Authorization": f"Bearer {fake.access_token}"}
    base = f"{fake.url}/services/data/v59.0/jobs/query"
    old_job = requests.post(base, headers=headers, json={"operation": "query", "query": soql}).json()["id"]
    new_rating = "Cold" if lead["Rating"] == "Hot" else "Hot"
    fake.upsert("Lead", {"Id": lead["Id"], "Rating": new_rating})
    after = _bulk_rows(sf, "Lead", soql)
    assert after[-1]["Id"] == lead["Id"] and after[-1]["Rating"] == new_rating  # re-sorted, re-rendered
    assert {r["Id"]: r for r in after}.keys() == before.keys()
    requests.get(f"{base}/{old_job}", headers=headers)
    old = requests.get(f"{base}/{old_job}/results", headers=headers, params={"maxRecords": 100000}).text
    old_rows = {r["Id"]: r for r in csv.DictReader(io.StringIO(old, newline=""))}
    assert old_rows[lead["Id"]]["Rating"] == (lead["Rating"] or "")  # the job created before the change
    fake.remove_field("Lead", "Rating")  # schema change: caches dropped, old job still serves its snapshot
    with pytest.raises(SalesforceMalformedRequest):
        _bulk_rows(sf, "Lead", soql)
    old_again = requests.get(f"{base}/{old_job}/results", headers=headers, params={"maxRecords": 100000}).text
    assert old_again == old


# ----------------------------------------------------------------------------- query engine


def test_sorted_cache_and_range_bisection_match_a_plain_scan(fake, sf):
    fake.upsert("Opportunity", {"Name": "No amount", "StageName": "Prospecting", "Amount": None})  # a null to sort
    queries = [
        "SELECT Id FROM Lead WHERE SystemModstamp >= 2025-03-01T00:00:00Z AND SystemModstamp < 2025-09-01T00:00:00Z "
        "ORDER BY SystemModstamp, Id",
        "SELECT Id FROM Lead WHERE SystemModstamp > 2025-11-20T02:00:00Z AND Rating = 'Hot' ORDER BY SystemModstamp",
        "SELECT Id FROM Lead WHERE SystemModstamp <= 2025-11-20T02:00:00Z ORDER BY SystemModstamp DESC, Id",
        "SELECT Id FROM Lead WHERE CreatedDate < 2025-02-01T00:00:00Z ORDER BY Company, Id LIMIT 7 OFFSET 2",
        "SELECT Id FROM Opportunity WHERE Amount > 20000 ORDER BY Amount, Id",
        "SELECT Id FROM Opportunity WHERE Amount < 1000 ORDER BY Amount NULLS FIRST, Id",
        "SELECT Id FROM Opportunity ORDER BY Amount DESC NULLS LAST, Id",
        "SELECT Id FROM Opportunity ORDER BY Amount NULLS FIRST, Id",
        "SELECT Id FROM Opportunity WHERE Amount < 5000 OR StageName = 'Closed Won' ORDER BY CloseDate DESC, Id",
    ]
    for soql in queries:
        q = parse_soql(soql, fake.schemas)
        table = list(fake.store[q.obj.name].values())
        for include_deleted in (False, True):
            plain = run_query(q, table if include_deleted else [r for r in table if not r["IsDeleted"]])
            for _ in range(2):  # cold, then from the cached sorted table
                with fake._lock:
                    got = fake._select(q, include_deleted=include_deleted)
                assert [r["Id"] for r in got] == [r["Id"] for r in plain], soql
            if not include_deleted:
                assert [r["Id"] for r in sf.query_all(soql)["records"]] == [r["Id"] for r in plain]


def test_range_bisection_never_returns_nulls(tmp_path):
    """With one bound only, bisection need not meet the nulls sorted at one end of the table."""
    fake = FakeSalesforce(tmp_path / "empty")
    records = [{"Id": f"0065g{i:013d}", "IsDeleted": False, "Amount": None if i < 3 or i > 996 else Decimal(i),
                "SystemModstamp": "2025-01-01T00:00:00.000+0000"} for i in range(1000)]
    fake.bulk_load("Opportunity", records)
    for soql in ("SELECT Id FROM Opportunity WHERE Amount < 500 ORDER BY Amount, Id",
                 "SELECT Id FROM Opportunity WHERE Amount > 500 ORDER BY Amount NULLS LAST, Id",
                 "SELECT Id FROM Opportunity WHERE Amount >= 2 AND Amount <= 10 ORDER BY Amount, Id"):
        q = parse_soql(soql, fake.schemas)
        with fake._lock:
            got = fake._select(q, include_deleted=False)
        assert [r["Id"] for r in got] == [r["Id"] for r in run_query(q, records)], soql
        assert all(r["Amount"] is not None for r in got)


def test_bulk_load_and_the_synthetic_org(tmp_path):
    org = synthetic_org(3000, seed=5)
    assert org == synthetic_org(3000, seed=5) and org != synthetic_org(3000, seed=6)
    opps = org["Opportunity"]
    assert len(opps) == 3000 and len(org["Account"]) == 375
    assert set(opps[0]) == set(SCHEMAS["Opportunity"].stored_fields)
    amounts = [o["Amount"] for o in opps if o["Amount"] is not None]
    assert all(a.as_tuple().exponent == -2 for a in amounts)
    assert {o["CurrencyIsoCode"] for o in opps} == {"USD", "EUR", "GBP"}
    assert all(o["CreatedDate"] <= o["LastModifiedDate"] <= o["SystemModstamp"] for o in opps)
    assert max(Counter(o["SystemModstamp"] for o in opps).values()) >= 10  # batch-job ties
    accounts = {a["Id"] for a in org["Account"]}
    assert all(o["AccountId"] in accounts for o in opps)
    with FakeSalesforce(tmp_path / "empty") as fake:
        assert fake.bulk_load("Account", org["Account"]) == 375
        assert fake.bulk_load("Opportunity", opps) == 3000
        sf = client(fake)
        assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == sum(not o["IsDeleted"] for o in opps)
        rows = _bulk_rows(sf, "Opportunity", "SELECT Id, Amount, CloseDate FROM Opportunity WHERE IsWon = true")
        assert len(rows) == sum(o["IsWon"] for o in opps)
        latest = max(o["SystemModstamp"] for o in opps)
        assert fake.upsert("Opportunity", {"Name": "after"})["SystemModstamp"] > latest


def test_standalone_server_prints_its_url_and_serves(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "connectors.sandbox.fake_salesforce", "--opportunities", "2000",
                             "--port", "0", "--token", "bench"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        resp = requests.get(f"{url}/services/data/v59.0/query/", params={"q": "SELECT COUNT() FROM Opportunity"},
                            headers={"Authorization": "Bearer bench"}, timeout=10)
        assert resp.status_code == 200 and 1900 < resp.json()["totalSize"] <= 2000
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
