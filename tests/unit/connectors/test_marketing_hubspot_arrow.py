"""The marketing API client and its Arrow tables (connectors/marketing/hubspot.py), without dlt:
paging against the fake, exact column types, the history and submission tables, the cursor."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from connectors.marketing import hubspot as hs
from connectors.sandbox.fake_hubspot import FakeHubSpot
from connectors.sandbox.marketing_data import HubSpotData

UTC = dt.timezone.utc


def _contact(i: int, stages: list[str], updated: str = "2025-02-01T10:00:00.000Z") -> dict:
    history = [{"value": s, "timestamp": f"2025-01-0{n + 1}T09:00:00.{i:03d}Z", "sourceType": "CRM_UI", "sourceId": None}
               for n, s in enumerate(stages)][::-1]  # newest first, like HubSpot
    props = {p: None for p in hs.CONTACT_PROPERTIES}
    props.update(email=f"c{i}@example.com", lifecyclestage=stages[-1] if stages else None, country="",
                 createdate="2025-01-01T09:00:00.000Z", hs_v2_date_entered_lead="2025-01-01T09:00:00.000Z")
    return {"id": str(100 + i), "properties": props, "propertiesWithHistory": {"lifecyclestage": history},
            "createdAt": "2025-01-01T09:00:00.000Z", "updatedAt": updated, "archived": False}


def _objects(items: list[dict], columns, extra=None) -> pa.StructArray:
    return hs._objects_array(items, hs._raw_type(columns, extra), "test")


CONTACT_EXTRA = {hs.HISTORY_PATH: pa.list_(hs.HISTORY_ENTRY)}


def test_contact_table_has_the_declared_types_and_values():
    table = hs._table(_objects([_contact(1, ["lead"]), _contact(2, ["lead", "customer"])], hs.CONTACT_COLUMNS,
                               CONTACT_EXTRA), hs.CONTACT_COLUMNS, "hubspot_contacts")
    assert table.schema == hs.arrow_schema(hs.CONTACT_COLUMNS)
    types = dict(zip(table.column_names, table.schema.types))
    assert types["updated_at"] == types["createdate"] == types["hs_v2_date_entered_customer"] == pa.timestamp("us", "UTC")
    assert types["email"] == pa.string() and types["archived"] == pa.bool_()
    assert not table.schema.field("id").nullable
    row = table.to_pylist()[1]
    assert row["id"] == "102" and row["lifecyclestage"] == "customer"
    assert row["updated_at"] == dt.datetime(2025, 2, 1, 10, tzinfo=UTC)
    assert row["country"] is None  # HubSpot's "" for an empty property lands as NULL
    assert row["hs_v2_date_entered_customer"] is None


def test_campaign_money_is_decimal_and_dates_are_dates():
    item = {"id": "c1", "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-02T00:00:00.5Z", "archived": False,
            "properties": {"hs_name": "Launch", "hs_start_date": "2025-03-01", "hs_end_date": "",
                           "hs_budget_items_sum_amount": "1234.5"}}
    table = hs._table(_objects([item], hs.CAMPAIGN_COLUMNS), hs.CAMPAIGN_COLUMNS, "hubspot_campaigns")
    assert table.schema.field("hs_budget_items_sum_amount").type == pa.decimal128(18, 2)
    row = table.to_pylist()[0]
    assert row["hs_budget_items_sum_amount"] == Decimal("1234.50")
    assert row["hs_start_date"] == dt.date(2025, 3, 1) and row["hs_end_date"] is None
    assert row["updated_at"] == dt.datetime(2025, 1, 2, 0, 0, 0, 500000, tzinfo=UTC)


@pytest.mark.parametrize("column, value", [("updatedAt", "yesterday"), ("hs_budget_items_sum_amount", "1.234")])
def test_a_value_that_does_not_convert_names_the_object_and_the_value(column, value):
    good = {"id": "ok", "updatedAt": "2025-01-01T00:00:00Z", "properties": {"hs_budget_items_sum_amount": "1.00"}}
    bad = {"id": "bad-one", "updatedAt": "2025-01-01T00:00:00Z", "properties": {"hs_budget_items_sum_amount": "1.00"}}
    if column == "updatedAt":
        bad[column] = value
    else:
        bad["properties"][column] = value
    with pytest.raises(hs.HubSpotDataError, match=f"bad-one.*{value}"):
        hs._table(_objects([good, bad], hs.CAMPAIGN_COLUMNS), hs.CAMPAIGN_COLUMNS, "hubspot_campaigns")


def test_history_rows_carry_the_contact_and_the_position_newest_first():
    items = [_contact(1, ["lead", "marketingqualifiedlead"]), _contact(2, []), _contact(3, ["lead"])]
    table = hs.history_table(_objects(items, hs.CONTACT_COLUMNS, CONTACT_EXTRA))
    assert table.schema == hs.HISTORY_SCHEMA
    rows = [(r["contact_id"], r["history_index"], r["value"]) for r in table.to_pylist()]
    assert rows == [("101", 0, "marketingqualifiedlead"), ("101", 1, "lead"), ("103", 0, "lead")]
    assert table.column("timestamp").to_pylist()[0] == dt.datetime(2025, 1, 2, 9, 0, 0, 1000, tzinfo=UTC)


def test_submissions_pivot_each_value_into_its_row():
    subs = [{"conversionId": "a", "submittedAt": 1736000000000, "pageUrl": "https://x/1",
             "values": [{"name": "email", "value": "a@x"}, {"name": "sfcampaignid", "value": "701A"}]},
            {"conversionId": "b", "submittedAt": 1736000001000,
             "values": [{"name": "email", "value": "b@x"}, {"name": "Form ID", "value": "spoof"},
                        {"name": "First Name", "value": "Bea"}]},
            {"conversionId": "c", "submittedAt": 1736000002000, "values": []}]
    objects = _objects(subs, hs.SUBMISSION_COLUMNS, {("values",): hs.SUBMISSION_VALUES})
    table = hs.submissions_table(objects, pa.array(["f1", "f1", "f2"]))
    assert table.column_names[:4] == ["conversion_id", "form_id", "page_url", "submitted_at"]
    assert table.schema.field("submitted_at").type == pa.timestamp("us", "UTC")
    rows = {r["conversion_id"]: r for r in table.to_pylist()}
    assert rows["a"]["email"] == "a@x" and rows["a"]["sfcampaignid"] == "701A" and rows["a"]["form_id"] == "f1"
    assert rows["b"]["email"] == "b@x" and rows["b"]["sfcampaignid"] is None
    assert rows["b"]["form_id"] == "f1" and rows["b"]["form_id_value"] == "spoof"  # never overwrites ours
    assert rows["b"]["first_name"] == "Bea" and rows["a"]["first_name"] is None
    assert rows["c"]["email"] is None and rows["c"]["page_url"] is None
    assert rows["a"]["submitted_at"] == dt.datetime.fromtimestamp(1736000000, UTC)


def test_cursor_lands_newer_rows_and_dedupes_the_boundary():
    ts = pa.timestamp("us", "UTC")
    t1, t2 = dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 1, 2, tzinfo=UTC)
    state: dict = {}
    first = hs.Cursor(state, "updated_at")
    mask = first.keep(pa.array([t1, t2, t2], ts), pa.array(["a", "b", "c"]))
    assert mask.to_pylist() == [True, True, True]
    first.save()
    assert state["updated_at"] == {"last_value": t2.isoformat(), "ids": ["b", "c"]}
    # next run: the boundary rows already landed are skipped, a new row at the boundary lands
    again = hs.Cursor(state, "updated_at")
    mask = again.keep(pa.array([t1, t2, t2, t2, None], ts), pa.array(["a", "b", "c", "d", "e"]))
    assert mask.to_pylist() == [False, False, False, True, True]
    again.save()
    assert state["updated_at"]["ids"] == ["b", "c", "d"] and again.landed == 2 and again.listed == 5


@pytest.fixture
def fake():
    data = HubSpotData(contacts=[_contact(i, ["lead"]) for i in range(1, 251)])
    with FakeHubSpot(data=data, retry_after_s=0) as server:
        yield server


def test_client_pages_with_the_cursor_and_a_bearer_token(fake):
    client = hs.HubSpotClient(hs.HubSpotApi(fake.url, fake.access_token))
    pages = list(client.pages(hs.CONTACTS_PATH, {"properties": "email"}))
    assert [len(p) for p in pages] == [100, 100, 50] and client.requests == 3
    assert [c["id"] for p in pages for c in p] == [c["id"] for c in fake.data.contacts]
    assert "after=" in fake.requests[-1] and "limit=100" in fake.requests[0]


def test_client_retries_429_and_5xx(fake):
    fake.fail_next(1, 429)
    fake.fail_next(1, 503)
    client = hs.HubSpotClient(hs.HubSpotApi(fake.url, fake.access_token))
    assert sum(len(p) for p in client.pages(hs.CONTACTS_PATH)) == 250
    assert len(fake.requests) == 5  # two refused, then three pages


def test_client_gives_up_after_its_retries(fake):
    fake.fail_next(3, 500)
    client = hs.HubSpotClient(hs.HubSpotApi(fake.url, fake.access_token), retries=2)
    with pytest.raises(hs.HubSpotApiError, match="HTTP 500"):
        list(client.pages(hs.CONTACTS_PATH))


def test_client_stops_on_a_wrong_token(fake):
    with pytest.raises(hs.HubSpotApiError, match="HTTP 401: Authentication credentials not found"):
        list(hs.HubSpotClient(hs.HubSpotApi(fake.url, "wrong")).pages(hs.CONTACTS_PATH))


def test_batches_join_pages_up_to_the_row_target():
    batches = list(hs.batched([("a", [1] * 100), ("b", [2] * 100), ("c", []), ("d", [4] * 50)], rows=150))
    assert [len(items) for items, _ in batches] == [200, 50]
    assert [keys.to_pylist() for _, keys in batches] == [["a"] * 100 + ["b"] * 100, ["d"] * 50]


def test_prefetched_pages_every_job_with_each_jobs_pages_in_order():
    submissions = {f"form-{f}": [{"conversionId": f"{f}-{i}", "submittedAt": 1736000000000 + i, "values": []}
                                 for i in range(37 * f)] for f in range(1, 6)}
    with FakeHubSpot(data=HubSpotData(submissions=submissions)) as fake:
        client = hs.HubSpotClient(hs.HubSpotApi(fake.url, fake.access_token))
        jobs = [(f, hs.SUBMISSIONS_PATH.format(form_id=f), None, 10) for f in submissions]
        seen: dict[str, list[str]] = {f: [] for f in submissions}
        for form_id, page in client.prefetched(jobs, workers=3, depth=2):
            seen[form_id] += [s["conversionId"] for s in page]
    assert seen == {f: [s["conversionId"] for s in subs] for f, subs in submissions.items()}
    assert client.requests == sum(len(s) // 10 + 1 for s in submissions.values())


def test_prefetched_raises_what_a_worker_met(fake):
    client = hs.HubSpotClient(hs.HubSpotApi(fake.url, fake.access_token))
    jobs = [("contacts", hs.CONTACTS_PATH, None, None),
            ("nope", hs.SUBMISSIONS_PATH.format(form_id="nope"), None, None)]
    with pytest.raises(hs.HubSpotApiError, match="HTTP 404: form nope does not exist"):
        list(client.prefetched(jobs, workers=2))


@pytest.mark.parametrize("status, transient", [(503, True), (429, True), (401, False)])
def test_the_retry_policy_reads_the_clients_failures(fake, status, transient):
    """Dagster retries a marketing run that failed on a 5xx/429 (after the client's own retries)
    or an unreachable API, not one refused for its token (orchestration/defs/automation/retries.py)."""
    from connectors.ingest import IngestError
    from orchestration.defs.automation.retries import classify_failure

    fake.fail_next(3, status)
    client = hs.HubSpotClient(hs.HubSpotApi(fake.url, fake.access_token), retries=2)
    with pytest.raises(hs.HubSpotApiError) as failed:
        list(client.pages(hs.CONTACTS_PATH))
    assert failed.value.status == status
    try:
        raise IngestError("marketing ingest failed") from failed.value
    except IngestError as outer:
        assert classify_failure(outer).transient is transient


def test_an_unreachable_api_is_a_transient_failure():
    import socket

    from orchestration.defs.automation.retries import classify_failure

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = hs.HubSpotClient(hs.HubSpotApi(f"http://127.0.0.1:{port}", "t"), retries=1)
    with pytest.raises(Exception) as failed:
        list(client.pages(hs.CONTACTS_PATH))
    assert classify_failure(failed.value).transient


def test_search_changed_restarts_at_the_cap_and_goes_on_by_id_through_a_crowded_instant(monkeypatch):
    """Cap 10, pages of 4: 25 contacts changed at one instant (more than a window) and 7 after it;
    each is found once, in (lastmodifieddate, id) order, and no request passes the cap."""
    monkeypatch.setattr(hs, "SEARCH_CAP", 10)
    monkeypatch.setattr(hs, "SEARCH_LIMIT", 4)
    contacts = [_contact(i, ["lead"]) for i in range(1, 41)]
    for c in contacts[:25]:
        c["properties"]["lastmodifieddate"] = "2025-03-01T00:00:00.000Z"
    for n, c in enumerate(contacts[25:32]):
        c["properties"]["lastmodifieddate"] = f"2025-03-01T00:00:0{n + 1}.000Z"
    for c in contacts[32:]:
        c["properties"]["lastmodifieddate"] = "2025-02-01T00:00:00.000Z"  # before `since`: not found
    with FakeHubSpot(data=HubSpotData(contacts=contacts), search_cap=10) as fake:
        client = hs.HubSpotClient(hs.HubSpotApi(fake.url, fake.access_token))
        found = [c["id"] for page in client.search_changed(hs.CONTACTS_PATH, dt.datetime(2025, 3, 1, tzinfo=UTC))
                 for c in page]
    assert found == [c["id"] for c in contacts[:32]]
    assert client.requests <= 32 / 4 + 32 / 10 + 2


def test_post_errors_carry_the_status(fake):
    client = hs.HubSpotClient(hs.HubSpotApi(fake.url, fake.access_token))
    with pytest.raises(hs.HubSpotApiError, match="POST /crm/v3/objects/contacts/batch/read: HTTP 400") as failed:
        client.batch_read(hs.CONTACTS_PATH, [str(i) for i in range(101)], ["email"])
    assert failed.value.status == 400
    assert [c["id"] for c in client.batch_read(hs.CONTACTS_PATH, ["101", "nope"], ["email"])] == ["101"]
