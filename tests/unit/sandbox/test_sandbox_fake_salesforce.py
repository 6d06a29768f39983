"""The fake Salesforce, driven by the real simple_salesforce client exactly as the connector drives it.

simple_salesforce always rebuilds URLs as https://host:port, so the client gets a session whose
transport adapter rewrites https→http (the production adapter lives in connectors/salesforce;
this one is the test's own).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from connectors.sandbox import FakeSalesforce
from connectors.sandbox.sf_schema import SCHEMAS


class RewriteToHttp(requests.adapters.HTTPAdapter):
    def send(self, request, **kwargs):
        request.url = "http://" + request.url.removeprefix("https://")
        kwargs.setdefault("timeout", 30)
        return super().send(request, **kwargs)


def _session(prefix: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount(prefix, RewriteToHttp())
    return session


def client(fake: FakeSalesforce, token: str | None = None) -> Salesforce:
    https = fake.url.replace("http://", "https://")
    return Salesforce(instance_url=https, session_id=token or fake.access_token, version="59.0",
                      session=_session(https + "/"), parse_float=Decimal, object_pairs_hook=dict)


@pytest.fixture()
def fake(sandbox):
    with FakeSalesforce(sandbox.dir) as server:
        yield server


@pytest.fixture()
def sf(fake) -> Salesforce:
    return client(fake)


def _ids(rows) -> list[str]:
    return [r["Id"] for r in rows]


def test_query_all_iter_pages_through_every_live_row(sandbox, fake, sf):
    rows = list(sf.query_all_iter("SELECT Id, Name, SystemModstamp FROM Lead",
                                  headers={"Sforce-Query-Options": "batchSize=200"}))
    expected = [l["Id"] for l in sandbox.sf("Lead") if not l["IsDeleted"]]
    assert sorted(_ids(rows)) == sorted(expected)
    assert len(rows) > 400  # so at least three pages of 200
    continuations = [r for r in fake.requests if r.startswith("GET /services/data/v59.0/query/01g")]
    assert len(continuations) == -(-len(expected) // 200) - 1
    assert rows[0]["attributes"] == {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{rows[0]['Id']}"}
    assert set(rows[0]) == {"attributes", "Id", "Name", "SystemModstamp"}


def test_first_page_has_relative_next_records_url(sf):
    page = sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=200"})
    assert page["done"] is False and len(page["records"]) == 200
    assert page["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    assert page["nextRecordsUrl"].endswith("-200")
    last = sf.query("SELECT Id FROM Lead LIMIT 5")
    assert last["done"] is True and "nextRecordsUrl" not in last and last["totalSize"] == 5


def test_query_all_includes_deleted_rows_across_pages(sandbox, sf):
    rows = list(sf.query_all_iter("SELECT Id, IsDeleted FROM Lead", include_deleted=True,
                                  headers={"Sforce-Query-Options": "batchSize=200"}))
    assert len(rows) == len(sandbox.sf("Lead"))
    assert sorted(r["Id"] for r in rows if r["IsDeleted"]) == sandbox.truth["anomalies"]["deleted_records"]["Lead"]
    live = sf.query_all("SELECT Id FROM Lead WHERE IsDeleted = true")
    assert live["totalSize"] == 0  # query (not queryAll) never returns deleted rows


def test_where_on_systemmodstamp_with_both_literal_forms(sandbox, sf):
    leads = sandbox.sf("Lead")
    lower, upper = "2025-06-01T00:00:00.000+0000", "2025-09-01T00:00:00.000+0000"
    expected = sorted((l["SystemModstamp"], l["Id"]) for l in leads
                      if lower <= l["SystemModstamp"] < upper and not l["IsDeleted"])
    rows = sf.query_all(
        "SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp >= 2025-06-01T00:00:00Z "
        "AND SystemModstamp < 2025-09-01T00:00:00.000+0000 ORDER BY SystemModstamp, Id")["records"]
    assert [(r["SystemModstamp"], r["Id"]) for r in rows] == expected
    assert expected  # the window is not empty


def test_ties_on_systemmodstamp_are_all_returned(sandbox, sf):
    stamps = [l["SystemModstamp"] for l in sandbox.sf("Lead") if not l["IsDeleted"]]
    tie = max(set(stamps), key=stamps.count)
    literal = tie.replace(".000+0000", "Z")
    rows = sf.query_all(f"SELECT Id FROM Lead WHERE SystemModstamp = {literal}")["records"]
    assert len(rows) == stamps.count(tie) >= 5


def test_filters_on_other_types_and_ordering(sandbox, sf):
    opps = [o for o in sandbox.sf("Opportunity") if not o["IsDeleted"]]
    rows = sf.query_all("SELECT Id, Amount, CloseDate FROM Opportunity WHERE IsWon = true AND Amount > 20000 "
                        "AND CurrencyIsoCode IN ('EUR', 'GBP') ORDER BY Amount DESC, Id LIMIT 3")["records"]
    expected = sorted((o for o in opps if o["IsWon"] and o["Amount"] > 20000 and o["CurrencyIsoCode"] != "USD"),
                      key=lambda o: (-o["Amount"], o["Id"]))[:3]
    assert _ids(rows) == _ids(expected)
    assert isinstance(rows[0]["Amount"], Decimal) and rows[0]["Amount"] == expected[0]["Amount"]
    dated = sf.query_all("SELECT Id FROM Opportunity WHERE CloseDate <= 2025-03-31 OR (StageName = 'Closed Lost' "
                         "AND NOT Probability != 0)")["records"]
    assert sorted(_ids(dated)) == sorted(o["Id"] for o in opps
                                          if o["CloseDate"] <= "2025-03-31" or o["StageName"] == "Closed Lost")
    nulls = sf.query_all("SELECT Id FROM Lead WHERE ConvertedOpportunityId != null")["records"]
    assert len(nulls) == sandbox.truth["figures"]["converted_leads"]
    count = sf.query("SELECT COUNT() FROM Lead")
    assert count["totalSize"] == sandbox.truth["figures"]["leads"] and count["records"] == []


def test_describe_global_and_object(sf):
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert names == set(SCHEMAS)
    fields = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert fields["Amount"]["type"] == "currency"
    assert fields["SystemModstamp"]["type"] == "datetime"
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert "Closed Won" in [p["value"] for p in fields["StageName"]["picklistValues"]]
    account = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert account["BillingCity"]["compoundFieldName"] == "BillingAddress"
    assert account["BillingAddress"]["type"] == "address"
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("sobjects/Nope/describe")


def test_bad_token_raises_expired_session(fake):
    with pytest.raises(SalesforceExpiredSession) as err:
        client(fake, token="wrong").query("SELECT Id FROM Lead")
    assert err.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


@pytest.mark.parametrize("soql, code", [
    ("SELECT Id, Bogus__c FROM Lead", "INVALID_FIELD"),
    ("SELECT Id FROM Lead ORDER BY Nope", "INVALID_FIELD"),
    ("SELECT Id FROM Nope", "INVALID_TYPE"),
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY"),
    ("SELECT Id Lead", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead WHERE CreatedDate > '2025-01-01T00:00:00Z'", "MALFORMED_QUERY"),
])
def test_bad_queries_raise_malformed_request(sf, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query(soql)
    assert err.value.content[0]["errorCode"] == code


def test_limits_and_usage_header(fake, sf):
    sf.query("SELECT Id FROM User")
    used = sf.api_usage["api-usage"]
    assert used.total == 15000 and used.used == fake.api_usage
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 15000


def test_mutations_bump_systemmodstamp_past_everything(sandbox, fake, sf):
    latest = max(l["SystemModstamp"] for l in sandbox.sf("Lead"))
    lead_id = sandbox.sf("Lead")[0]["Id"]
    fake.upsert("Lead", {"Id": lead_id, "Rating": "Hot"})
    new = fake.upsert("Lead", {"LastName": "Newcomer", "Company": "Fresh Ltd", "Status": "Open - Not Contacted"})
    fake.delete("Lead", sandbox.sf("Lead")[1]["Id"])
    literal = latest.replace(".000+0000", "Z")
    changed = sf.query_all(f"SELECT Id, IsDeleted, Rating FROM Lead WHERE SystemModstamp > {literal}",
                           include_deleted=True)["records"]
    by_id = {r["Id"]: r for r in changed}
    assert set(by_id) == {lead_id, new["Id"], sandbox.sf("Lead")[1]["Id"]}
    assert by_id[lead_id]["Rating"] == "Hot" and by_id[sandbox.sf("Lead")[1]["Id"]]["IsDeleted"] is True
    assert len(new["Id"]) == 18 and new["Id"].startswith("00Q")
    stamp = dt.datetime(2025, 6, 1, 12, 0, 0)  # a late-committed row below a saved cursor
    fake.upsert("Lead", {"Id": lead_id}, system_modstamp=stamp)
    assert fake.store["Lead"][lead_id]["SystemModstamp"] == "2025-06-01T12:00:00.000+0000"
    fake.purge("Lead", new["Id"])
    assert sf.query("SELECT COUNT() FROM Lead WHERE LastName = 'Newcomer'")["totalSize"] == 0


def test_fail_next_scripts_errors(fake, sf):
    fake.fail_next(503, body="<html>down for maintenance</html>", headers={"Retry-After": "1"})
    with pytest.raises(SalesforceGeneralError) as err:
        sf.query("SELECT Id FROM User")
    assert err.value.status == 503 and "maintenance" in err.value.content
    fake.fail_next(400, "INVALID_QUERY_LOCATOR", path="/query/01g")
    with pytest.raises(SalesforceMalformedRequest):
        list(sf.query_all_iter("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=200"}))
    assert len(sf.query("SELECT Id FROM User")["records"]) == 10  # faults are used up


def test_oauth_client_credentials_through_the_real_client(fake):
    port = fake.url.rsplit(":", 1)[1]

    class ToFake(RewriteToHttp):  # the token URL is https://<my-domain>.salesforce.com/...
        def send(self, request, **kwargs):
            request.url = request.url.replace("sandbox.my.salesforce.com", f"127.0.0.1:{port}")
            return super().send(request, **kwargs)

    session = requests.Session()
    session.trust_env = False
    session.mount("https://", ToFake())
    sf = Salesforce(consumer_key="key", consumer_secret="secret", domain="sandbox.my", session=session,
                    version="59.0")
    assert sf.sf_instance == f"127.0.0.1:{port}"
    assert sf.session_id == fake.access_token
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 10


def test_default_data_dir_is_the_sandbox_under_ltc_home(tmp_path, monkeypatch):
    from connectors.sandbox import generate

    monkeypatch.setenv("LTC_HOME", str(tmp_path / "home"))
    generate(tmp_path / "home" / "sandbox", seed=1, scale=30)
    assert len(FakeSalesforce().store["Lead"]) == 30
    monkeypatch.setenv("LTC_HOME", str(tmp_path / "empty"))  # nothing generated there: an empty org
    with FakeSalesforce() as empty:
        assert client(empty).query("SELECT COUNT() FROM Lead")["totalSize"] == 0


def test_soap_password_login_through_the_real_client(fake):
    port = fake.url.rsplit(":", 1)[1]

    class ToFake(RewriteToHttp):  # SOAP login goes to https://login.salesforce.com/services/Soap/u/59.0
        def send(self, request, **kwargs):
            request.url = request.url.replace("login.salesforce.com", f"127.0.0.1:{port}")
            return super().send(request, **kwargs)

    session = requests.Session()
    session.trust_env = False
    session.mount("https://", ToFake())
    sf = Salesforce(username="ops@example.com", password="pw", security_token="tok", domain="login",
                    session=session, version="59.0")
    assert sf.sf_instance == f"127.0.0.1:{port}" and sf.session_id == fake.access_token
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 10
