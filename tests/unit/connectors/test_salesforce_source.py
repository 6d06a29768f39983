"""Salesforce landing behaviour against a scriptable mini fake: windows, merge, session refresh,
API-limit stop and config errors. (End-to-end against the sandbox fake: tests/integration.)"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from sf_fake_server import MiniSalesforce

from connectors.ingest import IngestError, run_ingest
from connectors.settings import Settings

FIELDS = [
    {"name": "Id", "type": "id"},
    {"name": "IsDeleted", "type": "boolean"},
    {"name": "Name", "type": "string"},
    {"name": "Amount", "type": "currency"},
    {"name": "CloseDate", "type": "date"},
    {"name": "SystemModstamp", "type": "datetime"},
]


def _record(i: int, stamp: str, deleted: bool = False, amount: float = 100.25) -> dict:
    return {"Id": f"006{i:015d}", "IsDeleted": deleted, "Name": f"Opp {i}", "Amount": amount,
            "CloseDate": "2025-03-31", "SystemModstamp": stamp}


@pytest.fixture
def fake(ltc_home, monkeypatch):
    records = [_record(i, f"2025-01-01T10:00:0{i // 2}.000+0000", deleted=(i == 4)) for i in range(5)]
    server = MiniSalesforce({"Opportunity": {"fields": FIELDS, "records": records}}, batch_size=2)
    url = server.start()
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", url)
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "tok")
    yield server
    server.stop()


def _rows(sql: str):
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_rerun_adds_no_rows_and_rereads_the_lookback_window(fake):
    first = run_ingest("salesforce", objects=["opportunity"])
    assert first.rows_loaded == {"opportunity": 5}
    run_ingest("salesforce", objects=["opportunity"])
    assert _rows("select count(*), count(distinct id), count(*) filter (where is_deleted) from raw_salesforce.opportunity") == [(5, 5, 1)]
    # second window starts 10 minutes before the highest SystemModstamp landed (ties re-read)
    assert "SystemModstamp >= 2025-01-01T09:50:02Z AND SystemModstamp <" in fake.queries[-1]


def test_a_changed_record_lands_as_an_update(fake):
    run_ingest("salesforce", objects=["opportunity"])
    fake.objects["Opportunity"]["records"][0].update(Amount=999.99, SystemModstamp="2025-02-01T00:00:00.000+0000")
    run_ingest("salesforce", objects=["opportunity"])
    assert _rows("select count(*), sum(amount) filter (where id = '006000000000000000') from raw_salesforce.opportunity")[0][0] == 5
    assert str(_rows("select amount from raw_salesforce.opportunity where id = '006000000000000000'")[0][0]) == "999.99"


def test_upper_bound_is_the_run_start(fake):
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    fake.objects["Opportunity"]["records"].append(_record(9, future))
    result = run_ingest("salesforce", objects=["opportunity"])
    assert result.rows_loaded == {"opportunity": 5}  # the row stamped after the run start waits


def test_expired_session_rebuilds_the_client_once(fake, monkeypatch):
    monkeypatch.delenv("SALESFORCE_ACCESS_TOKEN")
    monkeypatch.setenv("SALESFORCE_CLIENT_ID", "cid")
    monkeypatch.setenv("SALESFORCE_CLIENT_SECRET", "secret")
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    fake.inject.append(("/query/", 401, expired, {}))  # the second page of the first query
    result = run_ingest("salesforce", objects=["opportunity"])
    # the first page (2 rows) was yielded before the 401; the resumed query starts at its last
    # cursor (>=), so the tie partner is read again and the merge keeps one row per id
    assert result.rows_loaded == {"opportunity": 7}
    assert _rows("select count(*), count(distinct id) from raw_salesforce.opportunity") == [(5, 5)]
    assert fake.token_grants == 2


def test_request_limit_stops_the_run_and_keeps_the_state(fake):
    run_ingest("salesforce", objects=["opportunity"])
    fake.objects["Opportunity"]["records"][1].update(SystemModstamp="2025-03-01T00:00:00.000+0000")
    limit = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    fake.inject.append(("queryAll", 403, limit, {}))
    with pytest.raises(IngestError, match="REQUEST_LIMIT_EXCEEDED"):
        run_ingest("salesforce", objects=["opportunity"])
    result = run_ingest("salesforce", objects=["opportunity"])
    # the failed run moved nothing: the next window still starts where the last good run left off
    assert "SystemModstamp >= 2025-01-01T09:50:02Z" in fake.queries[-1]
    assert result.rows_loaded["opportunity"] >= 1


def test_missing_instance_url_is_a_one_line_config_error(ltc_home):
    with pytest.raises(IngestError, match="SALESFORCE_INSTANCE_URL is not set") as err:
        run_ingest("salesforce")
    assert "\n" not in str(err.value)


def test_unknown_object_is_refused(fake):
    with pytest.raises(IngestError, match="unknown salesforce object"):
        run_ingest("salesforce", objects=["opportunities"])
