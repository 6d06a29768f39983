"""Bulk API 2.0 query extraction through the real simple_salesforce client against FakeSalesforce:
multi-page CSV results, hostile values, exact money, deleted rows, failed jobs and the REST fallback."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import requests

from connectors.salesforce.bulk import (
    BulkJobFailed,
    BulkCsvError,
    choose_pages,
    csv_page_to_arrow,
    iter_bulk_pages,
    parse_csv_page,
)
from connectors.salesforce.client import build_client
from connectors.salesforce.extract import FieldSpec, RecordConverter, iter_pages, select_fields
from connectors.sandbox import FakeSalesforce
from connectors.settings import Settings

FIELDS = "Id, IsDeleted, Name, StageName, Amount, Probability, CloseDate, IsWon, LeadSource, SystemModstamp"
SOQL = f"SELECT {FIELDS} FROM Opportunity ORDER BY SystemModstamp, Id"
HOSTILE = 'Acme "Big" Deal, phase 2\nline two\r\nline three — ünïcode'


@pytest.fixture()
def fake(tmp_path):
    with FakeSalesforce(tmp_path / "empty-org") as server:  # no salesforce/ folder: an empty org
        for i in range(25):
            server.upsert("Opportunity", {
                "Name": HOSTILE if i == 3 else f"Opp {i}",
                "StageName": "Prospecting",
                "Amount": Decimal("1234567.89") if i == 5 else Decimal(f"{i}.10"),
                "Probability": Decimal("12.5"),
                "CloseDate": "2025-03-31",
                "IsWon": i % 2 == 0,
                "LeadSource": None,
            }, system_modstamp=dt.datetime(2024, 5, 1, 10, 0, i, 123000, tzinfo=dt.timezone.utc))
        yield server


@pytest.fixture()
def sf(fake, tmp_path):
    settings = Settings(home=tmp_path, duckdb_path=tmp_path / "w.duckdb",
                        salesforce_instance_url=fake.url, salesforce_access_token=fake.access_token)
    return build_client(settings)


@pytest.fixture()
def fields(sf) -> list[FieldSpec]:
    return select_fields(sf.Opportunity.describe())


@pytest.fixture()
def convert(fields) -> RecordConverter:
    return RecordConverter(fields)


def _bulk(sf, fields, **kw) -> list[list[dict]]:
    """Bulk pages (Arrow tables) as lists of Python rows, to compare with the REST path."""
    kw.setdefault("poll_wait", 0.01)
    return [table.to_pylist() for table in iter_bulk_pages(sf, "Opportunity", SOQL, fields, **kw)]


def _rows(page) -> list[dict]:
    return page.to_pylist() if hasattr(page, "to_pylist") else page


def _by_id(pages) -> dict[str, dict]:
    rows = [r for page in pages for r in _rows(page)]
    assert len(rows) == len({r["id"] for r in rows}), "a row came twice"
    return {r["id"]: r for r in rows}


def test_multi_page_results_return_every_row_exactly_once(fake, sf, fields):
    pages = _bulk(sf, fields, page_size=7)
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert set(_by_id(pages)) == set(fake.store["Opportunity"])
    results = [r for r in fake.requests if "/results" in r]
    assert len(results) == 4 and "locator=" not in results[0] and all("locator=" in r for r in results[1:])


def test_bulk_rows_equal_rest_rows_quotes_newlines_and_money_exact(sf, fields, convert):
    bulk = _by_id(_bulk(sf, fields, page_size=10))
    rest = _by_id(iter_pages(sf, SOQL, convert))
    assert bulk == rest  # same shape and values, whichever API read them
    hostile = next(r for r in bulk.values() if r["name"].startswith("Acme"))
    assert hostile["name"] == HOSTILE  # quotes, comma, CRLF and LF inside one quoted CSV value
    big = next(r for r in bulk.values() if r["amount"] == Decimal("1234567.89"))
    assert isinstance(big["amount"], Decimal) and str(big["amount"]) == "1234567.89"
    assert big["probability"] == Decimal("12.5") and big["is_won"] in (True, False)
    assert big["lead_source"] is None and big["close_date"] == dt.date(2025, 3, 31)
    assert big["system_modstamp"] == dt.datetime(2024, 5, 1, 10, 0, 5, 123000, tzinfo=dt.timezone.utc)


def test_nul_bytes_are_stripped(fake, sf, fields):
    victim = sorted(fake.store["Opportunity"])[0]
    fake.inject_bulk_nul(victim, "Name")
    raw = _raw_results(fake, "Opportunity")
    assert "\x00" in raw  # the fake really sends one
    rows = _by_id(_bulk(sf, fields))
    assert "\x00" not in rows[victim]["name"] and rows[victim]["name"] == fake.store["Opportunity"][victim]["Name"]
    # and our own parser cleans a page that still carries one (e.g. read with `download`)
    assert list(parse_csv_page('"Id","Name"\n"a","O\x00pp ""x""\n2"\n')) == [{"Id": "a", "Name": 'Opp "x"\n2'}]
    table = csv_page_to_arrow('"Id","Name"\n"a","O\x00pp ""x""\n2"\n', [FieldSpec("Id", "id"), FieldSpec("Name", "string")])
    assert table.to_pylist() == [{"id": "a", "name": 'Opp "x"\n2'}]


def test_only_the_empty_value_is_null_text_like_n_a_stays_text():
    page = '"Id","Company"\n"a","N/A"\n"b","NULL"\n"c","nan"\n"d",""\n'
    companies = csv_page_to_arrow(page, [FieldSpec("Id", "id"), FieldSpec("Company", "string")]).column("company")
    assert companies.to_pylist() == ["N/A", "NULL", "nan", None]


def test_a_value_that_would_lose_digits_is_refused_not_rounded():
    money = [FieldSpec("Id", "id"), FieldSpec("Amount", "currency", 18, 2)]
    assert csv_page_to_arrow('"Id","Amount"\n"a","10.25"\n', money).column("amount").to_pylist() == [Decimal("10.25")]
    with pytest.raises(BulkCsvError, match="Amount"):
        csv_page_to_arrow('"Id","Amount"\n"a","10.255"\n', money)


def test_query_all_includes_deleted_rows(fake, sf, fields):
    gone = sorted(fake.store["Opportunity"])[1]
    fake.delete("Opportunity", gone)
    with_deleted = _by_id(_bulk(sf, fields, page_size=6))
    assert len(with_deleted) == 25 and with_deleted[gone]["is_deleted"] is True
    live = _by_id(_bulk(sf, fields, page_size=6, include_deleted=False))
    assert len(live) == 24 and gone not in live
    assert {r.split(" ")[0] for r in fake.requests if "/jobs/query" in r} >= {"POST", "GET"}


def test_failed_job_raises_and_choose_pages_falls_back_to_rest(fake, sf, fields, convert):
    fake.fail_next_bulk_job("InvalidBatch : Failed to process query: QUERY_TIMEOUT")
    with pytest.raises(BulkJobFailed, match="QUERY_TIMEOUT"):
        _bulk(sf, fields)
    fake.fail_next_bulk_job("InvalidBatch : Failed to process query: QUERY_TIMEOUT")
    notes: list[str] = []
    pages = list(choose_pages(sf, "Opportunity", SOQL, convert, fields, bulk_threshold=10, notes=notes,
                              poll_wait=0.01))
    assert set(_by_id(pages)) == set(fake.store["Opportunity"])
    assert len(fake.bulk_jobs) == 2 and "fell back to the REST API" in notes[-1]


def test_choose_pages_decides_on_the_first_rest_pages_total_size(fake, sf, fields, convert):
    notes: list[str] = []
    calls: list[str] = []
    pages = list(choose_pages(sf, "Opportunity", SOQL, convert, fields, bulk_threshold=25, notes=notes,
                              poll_wait=0.01, before_bulk=lambda: calls.append("quota checked")))
    assert len(_by_id(pages)) == 25 and len(fake.bulk_jobs) == 1 and "Bulk API 2.0" in notes[-1]
    assert calls == ["quota checked"]  # the quota is checked right before the job is created
    assert not any("COUNT" in r for r in fake.requests)  # no extra COUNT() call to decide
    pages = list(choose_pages(sf, "Opportunity", SOQL, convert, fields, bulk_threshold=26, poll_wait=0.01))
    assert len(_by_id(pages)) == 25 and len(fake.bulk_jobs) == 1  # REST this time
    assert all(isinstance(p, list) for p in pages)
    pages = list(choose_pages(sf, "Opportunity", SOQL, convert, fields, bulk_threshold=0, poll_wait=0.01))
    assert len(_by_id(pages)) == 25 and len(fake.bulk_jobs) == 1  # 0 = REST only


# ---- the fake's wire contract, read without the client ---------------------------------------

def _http(fake) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.headers["Authorization"] = f"Bearer {fake.access_token}"
    return s


def _raw_results(fake, obj: str, max_records: int = 50000) -> str:
    s, base = _http(fake), f"{fake.url}/services/data/v59.0/jobs/query"
    job = s.post(base, json={"operation": "queryAll", "query": f"SELECT Id, Name FROM {obj}"}).json()
    s.get(f"{base}/{job['id']}")
    return s.get(f"{base}/{job['id']}/results", params={"maxRecords": max_records}).text


def test_fake_job_lifecycle_412_csv_format_and_delete(tmp_path):
    with FakeSalesforce(tmp_path / "org", bulk_polls=2) as fake:
        rec = fake.upsert("Opportunity", {"Name": 'Say "hi"', "Amount": Decimal("10.50"), "IsWon": False,
                                          "StageName": None},
                          system_modstamp=dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.timezone.utc))
        fake.upsert("Opportunity", {"Name": "Second"})
        s, base = _http(fake), f"{fake.url}/services/data/v59.0/jobs/query"
        job = s.post(base, json={"operation": "query", "query": "SELECT Id, Name, Amount, IsWon, StageName, "
                                 "SystemModstamp FROM Opportunity ORDER BY Name"}).json()
        assert job["state"] == "UploadComplete" and job["id"].startswith("750")
        early = s.get(f"{base}/{job['id']}/results")
        assert early.status_code == 412 and early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"
        assert s.get(f"{base}/{job['id']}").json()["state"] == "InProgress"
        assert s.get(f"{base}/{job['id']}").json()["state"] == "JobComplete"
        first = s.get(f"{base}/{job['id']}/results", params={"maxRecords": 1})
        assert first.headers["Content-Type"].startswith("text/csv")
        assert first.headers["Sforce-NumberOfRecords"] == "1" and first.headers["Sforce-Locator"] != "null"
        assert first.text == ('"Id","Name","Amount","IsWon","StageName","SystemModstamp"\n'
                              f'"{rec["Id"]}","Say ""hi""","10.50","false","","2024-05-01T10:00:00.000Z"\n')
        last = s.get(f"{base}/{job['id']}/results",
                     params={"maxRecords": 1, "locator": first.headers["Sforce-Locator"]})
        assert last.headers["Sforce-Locator"] == "null" and last.text.count("\n") == 2
        assert s.delete(f"{base}/{job['id']}").status_code == 204
        assert s.get(f"{base}/{job['id']}").status_code == 404
        fake.fail_next_bulk_job("boom")
        failed = s.post(base, json={"operation": "query", "query": "SELECT Id FROM Opportunity"}).json()
        s.get(f"{base}/{failed['id']}")
        info = s.get(f"{base}/{failed['id']}").json()
        assert info["state"] == "Failed" and info["errorMessage"] == "boom"
        bad = s.post(base, json={"operation": "query", "query": "SELECT BillingAddress FROM Account"})
        assert bad.status_code == 400 and "compound" in bad.json()[0]["message"]
