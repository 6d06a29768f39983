"""Salesforce REST landing under failure and change, through the real simple-salesforce client
against the sandbox `FakeSalesforce` (salesforce-api.md §4–§7).

Every scenario ends with the same check: the Id set landed in DuckDB equals the org's queryAll Id
set (deleted rows included), with no duplicate ids and the org's latest values.
"""

from __future__ import annotations

import datetime as dt
import functools

import duckdb
import pytest

from connectors._http import default_retry
from connectors.ingest import IngestError, run_ingest
from connectors.salesforce.client import build_client
from connectors.sandbox.fake_salesforce import FakeSalesforce
from connectors.settings import Settings

BASE = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).replace(microsecond=0)


@pytest.fixture
def fake(ltc_home, tmp_path, monkeypatch):
    org = FakeSalesforce(tmp_path / "empty_org", batch_size=2000)  # no salesforce/ folder: an empty org
    url = org.start()
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", url)
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", org.access_token)
    # the transport's backoff, shrunk so bursts of 5xx cost milliseconds here
    monkeypatch.setattr("connectors.salesforce.client.default_retry",
                        functools.partial(default_retry, backoff_factor=0.01, backoff_jitter=0.01))
    yield org
    org.stop()


def _seed(org: FakeSalesforce, n: int, *, stamp=None, start: int = 0, name: str = "L") -> list[str]:
    """`n` leads; all sharing `stamp` if given, else one second apart from BASE."""
    ids = []
    for i in range(start, start + n):
        when = stamp or BASE + dt.timedelta(seconds=i)
        rec = org.upsert("Lead", {"FirstName": "A", "LastName": f"{name}{i}", "Company": "Acme",
                                  "Status": "Open"}, system_modstamp=when)
        ids.append(rec["Id"])
    return ids


def _sql(query: str):
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        return con.sql(query).fetchall()


def _landed() -> dict[str, tuple]:
    rows = _sql("select id, last_name, is_deleted from raw_salesforce.lead")
    assert len(rows) == len({r[0] for r in rows}), "duplicate ids landed"
    return {r[0]: (r[1], r[2]) for r in rows}


def _org() -> dict[str, tuple]:
    sf = build_client(Settings.from_env())
    records = sf.query_all("SELECT Id, LastName, IsDeleted FROM Lead", include_deleted=True)["records"]
    return {r["Id"]: (r["LastName"], r["IsDeleted"]) for r in records}


def assert_matches_org() -> None:
    landed, org = _landed(), _org()
    assert set(landed) == set(org)
    assert landed == org


def _count(org: FakeSalesforce, needle: str, since: int = 0) -> int:
    return sum(needle in r for r in org.requests[since:])


def _touch(org: FakeSalesforce, ids: list[str], last_name: str, when: dt.datetime) -> None:
    for rec_id in ids:
        org.upsert("Lead", {"Id": rec_id, "LastName": last_name}, system_modstamp=when)


# ---- 1. quota ----------------------------------------------------------------------------------

def test_quota_reserve_stops_the_run_and_a_later_run_completes(fake, monkeypatch):
    ids = _seed(fake, 2500)
    run_ingest("salesforce", objects=["lead"])
    assert_matches_org()
    before = _landed()

    _touch(fake, ids[:10], "Changed", BASE + dt.timedelta(hours=2))
    fake.api_usage, fake.api_limit = 13_600, 15_000  # ~1,400 left: below the 10 % reserve (1,500)
    since = len(fake.requests)
    with pytest.raises(IngestError, match=r"quota reserve reached .* below the 10% reserve") as err:
        run_ingest("salesforce", objects=["lead"])
    assert "\n" not in str(err.value)
    assert _count(fake, "/query", since) == 1  # stopped after the first page, no further paging
    assert _landed() == before  # nothing past the committed state

    # the reserve is configurable: 5 % lets the same run through
    monkeypatch.setenv("LTC_SF_API_RESERVE_PCT", "5")
    assert Settings.from_env().salesforce_api_reserve_pct == 5.0
    monkeypatch.delenv("LTC_SF_API_RESERVE_PCT")
    fake.api_usage = 0  # the daily limit resets
    run_ingest("salesforce", objects=["lead"])
    assert_matches_org()
    assert _landed()[ids[0]] == ("Changed", False)


def test_request_limit_exceeded_mid_paging_stops_without_retrying(fake):
    ids = _seed(fake, 2500)
    run_ingest("salesforce", objects=["lead"])
    _touch(fake, ids, "Changed", BASE + dt.timedelta(hours=2))
    before = _landed()

    fake.fail_next(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", path="/query/")
    since = len(fake.requests)
    with pytest.raises(IngestError, match=r"^salesforce: Salesforce API request limit exceeded \(403 REQUEST_LIMIT_EXCEEDED\)"):
        run_ingest("salesforce", objects=["lead"])
    assert _count(fake, "/queryAll", since) == 1  # first page
    assert _count(fake, "/query/", since) == 1  # the refused second page, not retried
    assert _count(fake, "oauth2/token", since) == 0  # not mistaken for an auth failure
    # progress is checkpointed: the first page (2,000 rows in SystemModstamp, Id order) landed
    # with its cursor; the 500 rows after it are as before, to be read by the next run
    landed = _landed()
    changed = {i for i, (name, _) in landed.items() if name == "Changed"}
    assert changed == set(sorted(ids)[:2000])
    assert {i: landed[i] for i in set(ids) - changed} == {i: before[i] for i in set(ids) - changed}

    result = run_ingest("salesforce", objects=["lead"])
    assert_matches_org()
    checkpoint = BASE + dt.timedelta(hours=2) - dt.timedelta(seconds=600)  # last cursor − lookback
    assert any(n.startswith(f"lead: SystemModstamp >= {checkpoint.isoformat()} ") for n in result.notes), result.notes


# ---- 2. 5xx bursts -----------------------------------------------------------------------------

def test_burst_of_503_mid_paging_is_retried_with_backoff(fake):
    _seed(fake, 2500)
    fake.fail_next(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred.", times=2, path="/queryAll")
    fake.fail_next(503, "SERVER_UNAVAILABLE", times=3, path="/query/", body="<html>Service Unavailable</html>")
    result = run_ingest("salesforce", objects=["lead"])
    assert result.rows_loaded == {"lead": 2500}
    assert _count(fake, "/queryAll") == 3  # 2 × 500, then the page
    assert _count(fake, "/query/") == 4  # 3 × 503, then the page
    assert_matches_org()


def test_503_burst_longer_than_the_retry_bound_fails_clearly(fake):
    ids = _seed(fake, 2500)
    run_ingest("salesforce", objects=["lead"])
    _touch(fake, ids, "Changed", BASE + dt.timedelta(hours=2))
    before = _landed()

    fake.fail_next(503, "SERVER_UNAVAILABLE", times=100, path="/query/", body="<html>Service Unavailable</html>")
    since = len(fake.requests)
    with pytest.raises(IngestError, match=r"kept answering HTTP 503 .*for Lead after the transport's retries"):
        run_ingest("salesforce", objects=["lead"])
    assert _count(fake, "/query/", since) == 6  # 1 + 5 retries: bounded
    assert _landed() == before

    fake._faults.clear()  # the outage is over
    run_ingest("salesforce", objects=["lead"])
    assert_matches_org()


# ---- 3. expired session ------------------------------------------------------------------------

def test_invalid_session_mid_paging_reauthenticates_once_and_resumes(fake, monkeypatch):
    monkeypatch.delenv("SALESFORCE_ACCESS_TOKEN")
    monkeypatch.setenv("SALESFORCE_CLIENT_ID", "cid")
    monkeypatch.setenv("SALESFORCE_CLIENT_SECRET", "secret")
    _seed(fake, 4500)
    fake.fail_next(401, "INVALID_SESSION_ID", "Session expired or invalid", path="/query/")
    result = run_ingest("salesforce", objects=["lead"])
    assert _count(fake, "POST /services/oauth2/token") == 2  # the first login and exactly one re-auth
    assert _count(fake, "/queryAll") == 2  # the first window, then the resumed one
    resumed = [r for r in fake.requests if "/queryAll" in r][-1]
    assert "SystemModstamp+%3E%3D+" in resumed or "SystemModstamp%20%3E%3D%20" in resumed
    assert result.rows_loaded["lead"] >= 4500
    assert_matches_org()


def test_a_second_invalid_session_fails_without_looping(fake, monkeypatch):
    _seed(fake, 2500)
    fake.fail_next(401, "INVALID_SESSION_ID", "Session expired or invalid", path="/query", times=2)
    with pytest.raises(IngestError, match="again after re-authenticating once"):
        run_ingest("salesforce", objects=["lead"])
    assert _count(fake, "/query") == 2


# ---- 4. ties -----------------------------------------------------------------------------------

def test_5000_rows_sharing_one_systemmodstamp_across_page_boundaries(fake):
    tie = BASE + dt.timedelta(hours=1)
    ids = _seed(fake, 5000, stamp=tie)
    first = run_ingest("salesforce", objects=["lead"])
    assert first.rows_loaded == {"lead": 5000}
    assert _count(fake, "/query/") == 2  # 3 REST pages of ≤ 2000
    assert_matches_org()

    # a late commit with the same stamp, a change inside the tie, and an expired session at a
    # page boundary of the re-read: still nothing missed, nothing doubled
    late = _seed(fake, 1, stamp=tie, start=9000, name="Late")
    _touch(fake, ids[4321:4322], "InTie", tie)
    fake.fail_next(401, "INVALID_SESSION_ID", "Session expired or invalid", path="/query/")
    second = run_ingest("salesforce", objects=["lead"])
    assert second.rows_loaded["lead"] >= 5001
    landed = _landed()
    assert len(landed) == 5001 and late[0] in landed and landed[ids[4321]][0] == "InTie"
    assert_matches_org()

    run_ingest("salesforce", objects=["lead"])
    assert_matches_org()


# ---- 5. schema drift ---------------------------------------------------------------------------

def _columns() -> set[str]:
    return {c for (c,) in _sql("select column_name from information_schema.columns "
                               "where table_schema = 'raw_salesforce' and table_name = 'lead'")}


def test_added_field_lands_as_a_column_and_a_removed_field_is_noted(fake):
    ids = _seed(fake, 30)
    first = run_ingest("salesforce", objects=["lead"])
    assert "region_c" not in _columns()
    assert not any("field(s)" in n for n in first.notes)

    fake.add_field("Lead", "Region__c", "string")
    for rec_id in ids[:3]:
        fake.upsert("Lead", {"Id": rec_id, "Region__c": "EMEA"}, system_modstamp=BASE + dt.timedelta(hours=2))
    second = run_ingest("salesforce", objects=["lead"])
    assert "region_c" in _columns()
    assert any("new field(s)" in n and "Region__c" in n for n in second.notes), second.notes
    assert sorted(_sql("select id from raw_salesforce.lead where region_c = 'EMEA'")) == sorted((i,) for i in ids[:3])
    assert_matches_org()

    fake.remove_field("Lead", "Rating")
    _touch(fake, ids[3:5], "AfterRemoval", BASE + dt.timedelta(hours=3))
    third = run_ingest("salesforce", objects=["lead"])
    assert any("removed" in n and "Rating" in n for n in third.notes), third.notes
    assert "rating" in _columns()  # the column stays for the rows landed before
    assert_matches_org()
    fourth = run_ingest("salesforce", objects=["lead"])
    assert not any("field(s)" in n for n in fourth.notes)  # reported once, against the last committed run
