"""An incremental contacts run finds the changed contacts with HubSpot's search endpoint and reads
them with `batch/read`, instead of listing every contact (issue 8: O(changes), not O(contacts)).

Every test loads the contacts once (the list endpoint), changes some in the fake, runs again and
checks what the fake served and what landed: exactly the changed contacts, their history replaced,
nothing twice, nothing missed past the search's 10,000-result cap (here a cap of 50, so that the
restart path runs on a few hundred contacts) or at a timestamp shared by several contacts.
"""

from __future__ import annotations

import copy
import datetime as dt
import math

import duckdb
import pytest

import connectors.marketing.hubspot as hs
from connectors.ingest import run_ingest
from connectors.sandbox.fake_hubspot import FakeHubSpot
from connectors.sandbox.marketing_data import derive, hs_time
from connectors.settings import Settings

CONTACTS = ["hubspot_contacts"]
LIST = "GET /crm/v3/objects/contacts"
SEARCH = "POST /crm/v3/objects/contacts/search"
BATCH_READ = "POST /crm/v3/objects/contacts/batch/read"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from connectors.sandbox import generate

    root = tmp_path_factory.mktemp("contacts_search") / "sandbox"
    generate(root, seed=5, scale=200)
    return derive(root)


def _serve(data, monkeypatch, **options) -> FakeHubSpot:
    fake = FakeHubSpot(data=copy.deepcopy(data), retry_after_s=0, **options).start()
    monkeypatch.setenv("LTC_MARKETING_API_URL", fake.url)
    monkeypatch.setenv("LTC_MARKETING_API_TOKEN", fake.access_token)
    return fake


@pytest.fixture
def hubspot(data, ltc_home, monkeypatch):
    fake = _serve(data, monkeypatch)
    yield fake
    fake.stop()


def _sql(query: str) -> list[tuple]:
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        return con.sql(query).fetchall()


def _run(fake: FakeHubSpot) -> tuple[dict, list[str]]:
    """One contacts run: rows loaded, and the requests the fake served for it."""
    before = len(fake.requests)
    result = run_ingest("marketing", objects=CONTACTS)
    return result.rows_loaded, fake.requests[before:]


def _count(requests: list[str], kind: str) -> int:
    return sum(1 for r in requests if r == kind or r.startswith(kind + "?"))


def _last_load_ids() -> set[str]:
    return {i for (i,) in _sql("select id from raw_marketing.hubspot_contacts where _dlt_load_id = "
                               "(select max(_dlt_load_id) from raw_marketing.hubspot_contacts)")}


def _no_duplicates() -> None:
    assert _sql("select count(*) - count(distinct id) from raw_marketing.hubspot_contacts") == [(0,)]
    assert _sql("select count(*) - count(distinct (contact_id, history_index)) "
                "from raw_marketing.hubspot_contacts__lifecyclestage_history") == [(0,)]


def _landed_as_served(fake: FakeHubSpot) -> None:
    """Every contact and history row in the warehouse is what the fake serves now."""
    landed = dict(_sql("select id, lastmodifieddate from raw_marketing.hubspot_contacts"))
    served = {c["id"]: dt.datetime.fromisoformat(c["properties"]["lastmodifieddate"].replace("Z", "+00:00"))
              for c in fake.data.contacts}
    assert landed == served
    history = _sql("select count(*) from raw_marketing.hubspot_contacts__lifecyclestage_history")[0][0]
    assert history == sum(len(c["propertiesWithHistory"]["lifecyclestage"]) for c in fake.data.contacts)


def _touch(fake: FakeHubSpot, contacts: list[dict], when: dt.datetime, stage: str = "customer") -> None:
    """Change `contacts` as of `when` (several at one instant: ties `update_contact` cannot make)."""
    stamp = hs_time(when)
    with fake._lock:
        for c in contacts:
            c["properties"].update(lifecyclestage=stage, lastmodifieddate=stamp)
            c["updatedAt"] = stamp


def test_an_incremental_run_searches_and_reads_only_the_changed_contacts(hubspot):
    first, requests = _run(hubspot)
    assert first["hubspot_contacts"] == len(hubspot.data.contacts)
    assert _count(requests, LIST) == math.ceil(len(hubspot.data.contacts) / 100) and _count(requests, SEARCH) == 0

    changed = hubspot.data.contacts[5:12]
    # one contact's history rewritten (newest first, as HubSpot lists it): its old rows must go
    rewritten = next(c for c in hubspot.data.contacts[12:] if len(c["propertiesWithHistory"]["lifecyclestage"]) > 2)
    history = rewritten["propertiesWithHistory"]["lifecyclestage"]
    history[:] = [{"value": "customer", "timestamp": "2030-01-01T00:00:00.000Z", "sourceType": "INTEGRATION",
                   "sourceId": None}, history[-1]]
    for c in [*changed, rewritten]:
        hubspot.update_contact(c["id"], lifecyclestage="customer")
    rows, requests = _run(hubspot)

    assert rows["hubspot_contacts"] == len(changed) + 1
    assert _last_load_ids() == {c["id"] for c in [*changed, rewritten]}
    assert _count(requests, LIST) == 0  # not one page of the full list
    assert _count(requests, SEARCH) == 1 and _count(requests, BATCH_READ) == 1 and len(requests) == 2
    assert _sql("select history_index, value from raw_marketing.hubspot_contacts__lifecyclestage_history "
                f"where contact_id = '{rewritten['id']}' order by 1") == [(0, "customer"), (1, history[-1]["value"])]
    _landed_as_served(hubspot)
    _no_duplicates()
    again, requests = _run(hubspot)
    assert again == {} and requests == [SEARCH]  # nothing changed: one empty search


def test_more_changes_than_the_search_cap_restart_without_loss_or_duplicates(data, ltc_home, monkeypatch):
    """130 changes with a cap of 50 and pages of 20: the search starts again three times; 20
    contacts share the instant where a window ends, and 60 share one instant (more than a whole
    window: the restart goes on by id)."""
    monkeypatch.setattr(hs, "SEARCH_CAP", 50)
    monkeypatch.setattr(hs, "SEARCH_LIMIT", 20)
    fake = _serve(data, monkeypatch, search_cap=50)
    try:
        _run(fake)
        base = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
        contacts = fake.data.contacts
        groups = [contacts[0:40], contacts[40:60], contacts[60:120], contacts[120:130]]
        for n, group in enumerate(groups):  # positions 40-59 straddle the first window's end
            _touch(fake, group, base + dt.timedelta(seconds=n))
        rows, requests = _run(fake)
        changed = {c["id"] for group in groups for c in group}

        assert rows["hubspot_contacts"] == len(changed) == 130
        assert _last_load_ids() == changed
        assert _count(requests, LIST) == 0
        # O(changes): at most a page per 20 results plus a restart per window, a read per page
        searches, reads = _count(requests, SEARCH), _count(requests, BATCH_READ)
        assert 130 / 20 < searches <= 130 / 20 + 130 / 50 + 3 and reads <= searches
        _landed_as_served(fake)
        _no_duplicates()
        assert _run(fake)[0] == {}
    finally:
        fake.stop()


def test_a_change_at_the_saved_instant_lands_and_the_landed_ones_do_not_again(hubspot):
    """The search starts at the saved cursor value itself (GTE): a contact changed at exactly that
    instant lands, those landed at it by the run before are not landed again."""
    run_ingest("marketing", objects=CONTACTS)
    newest = max(hubspot.data.contacts, key=lambda c: c["updatedAt"])
    at_newest = dt.datetime.fromisoformat(newest["updatedAt"].replace("Z", "+00:00"))
    tied = next(c for c in hubspot.data.contacts if c["updatedAt"] < newest["updatedAt"])
    _touch(hubspot, [tied], at_newest)
    rows, requests = _run(hubspot)
    assert rows == {"hubspot_contacts": 1, "hubspot_contacts__lifecyclestage_history": len(
        tied["propertiesWithHistory"]["lifecyclestage"])}
    assert _last_load_ids() == {tied["id"]}
    assert _count(requests, LIST) == 0 and _count(requests, BATCH_READ) == 1
    # both are at the saved instant now: the next run finds them and lands neither
    rows, requests = _run(hubspot)
    assert rows == {} and requests == [SEARCH]
    _landed_as_served(hubspot)
    _no_duplicates()
