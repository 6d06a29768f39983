"""The sandbox's HubSpot-style API: derived consistently from the Salesforce org, served like HubSpot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from connectors.sandbox import sf_schema as sfs
from connectors.sandbox.fake_hubspot import FakeHubSpot
from connectors.sandbox.marketing_data import STAGES, derive, write_hubspot


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    from connectors.sandbox import generate

    root = tmp_path_factory.mktemp("hubspot") / "sandbox"
    generate(root, seed=11, scale=250)
    return root


@pytest.fixture(scope="module")
def data(sandbox):
    return derive(sandbox)


def _sf(sandbox: Path, obj: str) -> list[dict]:
    return sfs.loads((sandbox / "salesforce" / f"{obj}.json").read_bytes())


def test_every_contact_is_a_salesforce_lead_with_the_same_email(sandbox, data):
    leads = {l["Id"]: l for l in _sf(sandbox, "Lead")}
    live_emails = {l["Email"].lower() for l in leads.values() if not l["IsDeleted"]}
    assert data.contacts and len({c["properties"]["email"].lower() for c in data.contacts}) == len(data.contacts)
    for c in data.contacts:
        lead = leads[c["properties"]["salesforceleadid"]]
        assert lead["Email"] == c["properties"]["email"] and not lead["IsDeleted"]
    # one contact per distinct live lead e-mail (HubSpot dedupes by e-mail; SF keeps duplicate leads)
    assert len(data.contacts) == len(live_emails)


def test_lifecycle_stages_are_ordered_and_match_the_crm(sandbox, data):
    leads = {l["Id"]: l for l in _sf(sandbox, "Lead")}
    for c in data.contacts:
        props = c["properties"]
        history = c["propertiesWithHistory"]["lifecyclestage"]
        stages = [h["value"] for h in reversed(history)]  # HubSpot lists newest first
        assert stages == [s for s in STAGES if props[f"hs_v2_date_entered_{s}"]]
        assert props["lifecyclestage"] == stages[-1]
        times = [h["timestamp"] for h in reversed(history)]
        assert times == sorted(times) and len(set(times)) == len(times)
        lead = leads[props["salesforceleadid"]]
        assert ("opportunity" in stages) == bool(lead["IsConverted"])
        assert props["hs_v2_date_entered_lead"] == c["createdAt"]


def test_campaigns_and_submissions_point_at_salesforce(sandbox, data):
    sf_campaigns = {c["Id"]: c for c in _sf(sandbox, "Campaign")}
    assert {c["properties"]["salesforce_campaign_id"] for c in data.campaigns} == set(sf_campaigns)
    emails = {l["Email"] for l in _sf(sandbox, "Lead")}
    subs = [s for v in data.submissions.values() for s in v]
    assert subs
    for s in subs:
        values = {v["name"]: v["value"] for v in s["values"]}
        assert values["email"] in emails
        if "sfcampaignid" in values:
            assert sf_campaigns[values["sfcampaignid"]]["Type"] != "Trade Show"  # badge scans: no form


def test_derivation_is_deterministic_and_can_be_written(sandbox, data, tmp_path):
    assert derive(sandbox) == data
    counts = write_hubspot(sandbox)
    assert counts == data.counts()
    assert json.loads((sandbox / "marketing" / "hubspot" / "contacts.json").read_text()) == data.contacts


# ---- the fake server --------------------------------------------------------------------------

@pytest.fixture
def fake(data):
    with FakeHubSpot(data=data, retry_after_s=0) as server:
        yield server


def _get(fake, path, token=None, **params):
    return requests.get(f"{fake.url}{path}", params=params, timeout=10,
                        headers={"Authorization": f"Bearer {token or fake.access_token}"})


def test_bearer_token_is_required(fake):
    r = requests.get(f"{fake.url}/crm/v3/objects/contacts", timeout=10)
    assert r.status_code == 401 and r.json()["category"] == "INVALID_AUTHENTICATION"
    assert _get(fake, "/crm/v3/objects/contacts", token="wrong").status_code == 401


def test_cursor_paging_walks_every_contact_once(fake, data):
    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 100, "properties": "email,lifecyclestage"}
        if after:
            params["after"] = after
        body = _get(fake, "/crm/v3/objects/contacts", **params).json()
        pages += 1
        seen += body["results"]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert [c["id"] for c in seen] == [c["id"] for c in data.contacts]
    assert pages == -(-len(data.contacts) // 100)
    assert set(seen[0]["properties"]) == {"email", "lifecyclestage"} and "propertiesWithHistory" not in seen[0]


def test_limit_is_capped_and_history_only_when_asked(fake):
    body = _get(fake, "/crm/v3/objects/contacts", limit=1000, propertiesWithHistory="lifecyclestage").json()
    assert len(body["results"]) == 100
    assert body["results"][0]["propertiesWithHistory"]["lifecyclestage"]


def test_bad_cursor_and_unknown_routes(fake):
    assert _get(fake, "/marketing/v3/campaigns", after="garbage").status_code == 400
    assert _get(fake, "/form-integrations/v1/submissions/forms/nope").status_code == 404
    assert _get(fake, "/crm/v3/objects/deals").status_code == 404


def test_rate_limit_answers_429_with_retry_after(fake):
    fake.fail_next(1, 429)
    r = _get(fake, "/marketing/v3/forms")
    assert r.status_code == 429 and r.headers["Retry-After"] == "0" and r.json()["errorType"] == "RATE_LIMIT"
    assert _get(fake, "/marketing/v3/forms").status_code == 200


def test_per_second_limit(data):
    with FakeHubSpot(data=data, requests_per_second=2) as fake:
        codes = [_get(fake, "/marketing/v3/forms").status_code for _ in range(6)]
    assert 429 in codes and codes[0] == 200


def test_update_contact_bumps_updated_at(fake):
    before = _get(fake, "/crm/v3/objects/contacts", limit=1).json()["results"][0]
    after = fake.update_contact(before["id"], lifecyclestage="customer")
    assert after["updatedAt"] > before["updatedAt"] and after["properties"]["lifecyclestage"] == "customer"


# ---- search and batch read ----------------------------------------------------------------------

def _post(fake, path, body):
    return requests.post(f"{fake.url}{path}", json=body, timeout=10,
                         headers={"Authorization": f"Bearer {fake.access_token}"})


def _since(value, operator="GTE"):
    return [{"filters": [{"propertyName": "lastmodifieddate", "operator": operator, "value": value}]}]


ASCENDING = [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"},
             {"propertyName": "hs_object_id", "direction": "ASCENDING"}]


def test_search_filters_and_sorts_by_last_modified_then_id(fake, data):
    stamps = sorted({c["properties"]["lastmodifieddate"] for c in data.contacts})
    middle = stamps[len(stamps) // 2]
    ms = int(sfs.parse_datetime(middle).timestamp() * 1000)  # epoch ms, as HubSpot accepts too
    body = _post(fake, "/crm/v3/objects/contacts/search",
                 {"filterGroups": _since(str(ms)), "sorts": ASCENDING, "properties": ["lastmodifieddate"],
                  "limit": 500}).json()
    expected = sorted((c for c in data.contacts if c["properties"]["lastmodifieddate"] >= middle),
                      key=lambda c: (c["properties"]["lastmodifieddate"], int(c["id"])))
    assert body["total"] == len(expected) and len(body["results"]) == min(200, len(expected))  # limit: 200 at most
    assert [r["id"] for r in body["results"]] == [c["id"] for c in expected[:200]]
    assert set(body["results"][0]["properties"]) == {"lastmodifieddate"}
    iso = _post(fake, "/crm/v3/objects/contacts/search", {"filterGroups": _since(middle, "GT"), "limit": 200}).json()
    assert iso["total"] == sum(c["properties"]["lastmodifieddate"] > middle for c in data.contacts)


def test_search_stops_at_its_cap_with_hubspots_error(data):
    with FakeHubSpot(data=data, search_cap=30) as fake:
        first = _post(fake, "/crm/v3/objects/contacts/search", {"sorts": ASCENDING, "limit": 20}).json()
        second = _post(fake, "/crm/v3/objects/contacts/search", {"sorts": ASCENDING, "limit": 20, "after": "20"}).json()
        refused = _post(fake, "/crm/v3/objects/contacts/search", {"sorts": ASCENDING, "limit": 20, "after": "30"})
    assert len(first["results"]) == 20 and len(second["results"]) == 10  # the window ends at the cap
    assert second["paging"]["next"]["after"] == "30" and second["total"] == len(data.contacts)
    assert refused.status_code == 400
    assert {"status", "message", "correlationId", "category"} <= set(refused.json())
    assert refused.json()["category"] == "VALIDATION_ERROR"


def test_batch_read_returns_the_contacts_with_history_and_names_the_missing(fake, data):
    ids = [c["id"] for c in data.contacts[:3]]
    r = _post(fake, "/crm/v3/objects/contacts/batch/read",
              {"inputs": [{"id": i} for i in ids], "properties": ["email", "lifecyclestage"],
               "propertiesWithHistory": ["lifecyclestage"]})
    assert r.status_code == 200 and r.json()["status"] == "COMPLETE"
    listed = _get(fake, "/crm/v3/objects/contacts", limit=3, properties="email,lifecyclestage",
                  propertiesWithHistory="lifecyclestage").json()["results"]
    assert r.json()["results"] == listed  # the list's shape
    partial = _post(fake, "/crm/v3/objects/contacts/batch/read", {"inputs": [{"id": ids[0]}, {"id": "999999999"}]})
    assert partial.status_code == 207 and [c["id"] for c in partial.json()["results"]] == ids[:1]
    assert partial.json()["errors"][0]["context"]["ids"] == ["999999999"]
    too_many = _post(fake, "/crm/v3/objects/contacts/batch/read", {"inputs": [{"id": i} for i in ids * 34]})
    assert too_many.status_code == 400


def test_search_refuses_what_it_cannot_filter(fake):
    r = _post(fake, "/crm/v3/objects/contacts/search",
              {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "x"}]}]})
    assert r.status_code == 400 and "email" in r.json()["message"]
    assert _post(fake, "/crm/v3/objects/deals/search", {}).status_code == 404


def test_a_long_retry_after_is_waited_only_up_to_the_cap(data, monkeypatch):
    """A 429 asking for an hour (`Retry-After: 3600`) must not park the ingest for an hour: urllib3
    honours up to 6 h unless told otherwise. The cap (connectors/_http.RETRY_AFTER_MAX_S) is shrunk
    to 1 s here, as other tests shrink the backoff."""
    import time

    from connectors.marketing import hubspot

    monkeypatch.setattr(hubspot, "RETRY_AFTER_MAX_S", 1)
    with FakeHubSpot(data=data, retry_after_s=3600) as server:
        client = hubspot.HubSpotClient(hubspot.HubSpotApi(server.url, server.access_token), timeout_s=10)
        server.fail_next(1, 429)
        started = time.monotonic()
        body = client.get("/marketing/v3/forms", {})
        waited = time.monotonic() - started
    assert body["results"] and 0.9 <= waited < 60, waited
