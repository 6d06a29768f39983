"""`run_ingest("marketing")` end to end into DuckDB: the four ad-spend shapes, quarantine, the
HubSpot-style API landed as Arrow tables, idempotence and incremental runs."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import dlt
import duckdb
import pytest

from connectors.ingest import IngestError, run_ingest
from connectors.sandbox import sf_schema as sfs
from connectors.sandbox.fake_hubspot import FakeHubSpot
from connectors.settings import Settings

GOOGLE = (
    "Campaign report\nAll time\n"
    "Day,Campaign ID,Campaign,Cost,Impressions,Clicks,Currency code\n"
    '2025-01-05,1234567890,Brand - NA,"1,234.56","12,000",340,USD\n'
    "2025-01-06,1234567890,Brand - NA,-3.00,900,12,USD\n"  # negative: quarantined
    "2025-01-07,1234567890,Brand - NA,10.00,900,12,USX\n"  # unknown currency: quarantined
)
META = (
    "Reporting starts,Reporting ends,Campaign name,Campaign ID,Amount spent (EUR),Impressions,Link clicks\n"
    "2025-01-05,2025-01-05,Finance Leaders EU,1234567890,45.10,3000,21\n"  # same id as Google: another platform
)
LINKEDIN = (
    "Start Date (in UTC),Campaign ID,Campaign Name,Total Spent,Impressions,Clicks,Currency\n"
    "1/5/2025,612345678,NA Decision Makers,310.00,5100,44,USD\n"
    "2025-01-06,612345678,NA Decision Makers,310.00,5100,44,USD\n"  # wrong date format: quarantined
)
TABLES = ("ad_spend", "quarantined_rows", "quarantined_files", "hubspot_campaigns", "hubspot_contacts",
          "hubspot_contacts__lifecyclestage_history", "hubspot_forms", "hubspot_form_submissions")


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> Path:
    from connectors.sandbox import generate

    root = tmp_path_factory.mktemp("marketing") / "sandbox"
    generate(root, seed=5, scale=200)
    return root


@pytest.fixture
def env(company, ltc_home, monkeypatch, tmp_path) -> Path:
    root = tmp_path / "sandbox"
    shutil.copytree(company, root)
    monkeypatch.setenv("LTC_ADSPEND_DROP", str(root / "marketing" / "adspend"))
    return root


@pytest.fixture
def hubspot(env, monkeypatch):
    with FakeHubSpot(env, retry_after_s=0) as fake:
        monkeypatch.setenv("LTC_MARKETING_API_URL", fake.url)
        monkeypatch.setenv("LTC_MARKETING_API_TOKEN", fake.access_token)
        yield fake


def _sql(query: str):
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        return con.sql(query).fetchall()


def _snapshot() -> dict[str, list]:
    out = {}
    existing = {t for (t,) in _sql("select table_name from information_schema.tables where table_schema='raw_marketing'")}
    for table in TABLES:
        if table in existing:
            out[table] = sorted(_sql(f"select * from raw_marketing.{table}"), key=repr)
    return out


def _platform_files(root: Path) -> None:
    folder = root / "marketing" / "adspend"
    (folder / "google_ads_campaigns_2025-01.csv").write_text(GOOGLE)
    (folder / "meta_2025-01.csv").write_text(META)
    (folder / "linkedin_2025-01.csv").write_text(LINKEDIN)


def test_platform_exports_land_in_the_normalised_table_and_bad_rows_are_quarantined(env):
    _platform_files(env)
    generic = sum(len(p.read_text().strip().splitlines()) - 1 for p in (env / "marketing" / "adspend").glob("adspend_*.csv"))
    result = run_ingest("marketing")
    assert result.rows_loaded["ad_spend"] == generic + 3
    by_platform = dict(_sql("select platform, count(*) from raw_marketing.ad_spend group by 1"))
    assert by_platform == {"generic": generic, "google_ads": 1, "meta": 1, "linkedin": 1}
    google, meta = _sql("select spend, currency, channel from raw_marketing.ad_spend where campaign_id='1234567890' "
                        "order by platform")
    assert google == (Decimal("1234.56"), "USD", "Paid Search") and meta == (Decimal("45.10"), "EUR", "Social")
    assert _sql("select data_type from information_schema.columns where table_schema='raw_marketing' "
                "and table_name='ad_spend' and column_name='spend'") == [("DECIMAL(18,2)",)]
    # Meta's extra column evolved the table (text); nothing else did
    assert _sql("select reporting_ends from raw_marketing.ad_spend where platform='meta'") == [("2025-01-05",)]

    rows = _sql("select file_name, line, reason from raw_marketing.quarantined_rows order by file_name, line")
    assert [(f, n) for f, n, _ in rows] == [("google_ads_campaigns_2025-01.csv", 5),
                                           ("google_ads_campaigns_2025-01.csv", 6), ("linkedin_2025-01.csv", 3)]
    assert "negative spend" in rows[0][2] and "unknown currency" in rows[1][2] and "1/31/2025" in rows[2][2]
    files = dict(_sql("select file_name, reason from raw_marketing.quarantined_files"))
    assert set(files) == {"google_ads_campaigns_2025-01.csv", "linkedin_2025-01.csv"}
    assert files["google_ads_campaigns_2025-01.csv"].startswith("2 row(s) quarantined (1 landed)")


def test_a_broken_file_is_quarantined_and_the_rest_lands(env):
    folder = env / "marketing" / "adspend"
    (folder / "empty.csv").write_text("")
    (folder / "no_currency.csv").write_text("Day,Campaign ID,Campaign,Cost,Impressions,Clicks\n2025-01-05,1,A,1.00,1,1\n")
    run_ingest("marketing")
    files = dict(_sql("select file_name, reason from raw_marketing.quarantined_files"))
    assert "empty file" in files["empty.csv"]
    assert "no_currency.csv line 1: missing columns ['Currency code']" in files["no_currency.csv"]
    assert _sql("select count(*) from raw_marketing.ad_spend where file_name in ('empty.csv', 'no_currency.csv')") == [(0,)]


def test_everything_twice_gives_identical_tables(env, hubspot):
    _platform_files(env)
    hubspot.fail_next(2, 429)  # rate limited at first: dlt's client honours Retry-After and retries
    first = run_ingest("marketing")
    assert set(first.rows_loaded) >= set(TABLES) - {"quarantined_files"} or first.rows_loaded
    once = _snapshot()
    second = run_ingest("marketing")
    assert second.rows_loaded == {}  # nothing new: files by sha256, API rows by their cursors
    assert _snapshot() == once
    assert sum(1 for r in hubspot.requests if "/crm/v3/objects/contacts" in r) >= 2


def test_hubspot_contacts_join_salesforce_leads_by_id_and_email(env, hubspot):
    run_ingest("marketing", objects=["hubspot_contacts"])
    leads = {l["Id"]: l for l in sfs.loads((env / "salesforce" / "Lead.json").read_bytes())}
    contacts = _sql("select id, email, salesforceleadid, lifecyclestage from raw_marketing.hubspot_contacts")
    assert len(contacts) == len(hubspot.data.contacts)
    for _, email, lead_id, _ in contacts:
        assert leads[lead_id]["Email"] == email
    history = _sql("select count(*) from raw_marketing.hubspot_contacts__lifecyclestage_history")[0][0]
    assert history == sum(len(c["propertiesWithHistory"]["lifecyclestage"]) for c in hubspot.data.contacts)
    existing = {t for (t,) in _sql("select table_name from information_schema.tables where table_schema='raw_marketing'")}
    assert "ad_spend" not in existing  # only what was asked for (Dagster subsets by table)


def test_hubspot_timestamps_land_typed_in_one_column_each(env, hubspot):
    """The API's camelCase timestamps (`updatedAt`, the incremental cursor) land as one typed
    column each; column hints in snake case made dlt merge two columns with a warning."""
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    dlt_logger = logging.getLogger("dlt")  # dlt's own logger does not propagate to pytest's capture
    dlt_logger.addHandler(handler)
    try:
        run_ingest("marketing", objects=["hubspot_campaigns", "hubspot_contacts", "hubspot_forms",
                                         "hubspot_form_submissions"])
    finally:
        dlt_logger.removeHandler(handler)
    assert not [r for r in records if "collides" in r.getMessage()]
    types = dict(((t, c), d) for t, c, d in _sql(
        "select table_name, column_name, data_type from information_schema.columns where table_schema='raw_marketing'"))
    for table in ("hubspot_campaigns", "hubspot_contacts", "hubspot_forms"):
        assert types[(table, "updated_at")] == types[(table, "created_at")] == "TIMESTAMP WITH TIME ZONE"
    assert types[("hubspot_form_submissions", "submitted_at")] == "TIMESTAMP WITH TIME ZONE"


def test_incremental_run_lands_only_the_changed_contact(env, hubspot):
    run_ingest("marketing")
    contact = hubspot.data.contacts[3]
    hubspot.update_contact(contact["id"], lifecyclestage="customer")
    result = run_ingest("marketing")
    assert result.rows_loaded.get("hubspot_contacts") == 1
    assert _sql(f"select lifecyclestage from raw_marketing.hubspot_contacts where id='{contact['id']}'") == [("customer",)]
    assert _sql("select count(*) from raw_marketing.hubspot_contacts")[0][0] == len(hubspot.data.contacts)


API_TYPES = {  # the Arrow schemas of connectors/marketing/hubspot.py, as DuckDB sees them
    ("hubspot_contacts", "id"): "VARCHAR", ("hubspot_contacts", "updated_at"): "TIMESTAMP WITH TIME ZONE",
    ("hubspot_contacts", "hs_v2_date_entered_customer"): "TIMESTAMP WITH TIME ZONE",
    ("hubspot_contacts", "archived"): "BOOLEAN", ("hubspot_contacts", "email"): "VARCHAR",
    ("hubspot_campaigns", "hs_budget_items_sum_amount"): "DECIMAL(18,2)", ("hubspot_campaigns", "hs_start_date"): "DATE",
    ("hubspot_forms", "form_type"): "VARCHAR", ("hubspot_form_submissions", "form_id"): "VARCHAR",
    ("hubspot_form_submissions", "sfcampaignid"): "VARCHAR",
}
HISTORY_COLUMNS = [("contact_id", "VARCHAR", "NO"), ("history_index", "BIGINT", "NO"), ("value", "VARCHAR", "YES"),
                   ("timestamp", "TIMESTAMP WITH TIME ZONE", "YES"), ("source_type", "VARCHAR", "YES"),
                   ("_dlt_id", "VARCHAR", "NO"), ("_dlt_load_id", "VARCHAR", "NO"),
                   ("_loaded_at", "TIMESTAMP WITH TIME ZONE", "NO")]


def _history(contact_id: str) -> list[tuple]:
    return _sql("select history_index, value, timestamp, source_type from "
                f"raw_marketing.hubspot_contacts__lifecyclestage_history where contact_id = '{contact_id}' order by 1")


def _key_duplicates() -> dict[str, int]:
    keys = {"hubspot_contacts": "id", "hubspot_campaigns": "id", "hubspot_forms": "id",
            "hubspot_form_submissions": "conversion_id",
            "hubspot_contacts__lifecyclestage_history": "contact_id, history_index"}
    return {t: _sql(f"select count(*) - count(distinct ({k})) from raw_marketing.{t}")[0][0] for t, k in keys.items()}


def test_api_tables_land_as_arrow_with_exact_types(env, hubspot):
    result = run_ingest("marketing", objects=["hubspot_campaigns", "hubspot_contacts", "hubspot_forms",
                                              "hubspot_form_submissions"])
    types = {(t, c): d for t, c, d in _sql("select table_name, column_name, data_type from information_schema.columns "
                                            "where table_schema='raw_marketing'")}
    assert {k: types.get(k) for k in API_TYPES} == API_TYPES
    assert not [k for k in types if "__v_" in k[1]]  # no variant columns
    history = _sql("select column_name, data_type, is_nullable from information_schema.columns where "
                   "table_schema='raw_marketing' and table_name='hubspot_contacts__lifecyclestage_history'")
    assert sorted(history) == sorted(HISTORY_COLUMNS)
    contact = hubspot.data.contacts[0]
    expected = [(i, h["value"], sfs.parse_datetime(h["timestamp"]), h["sourceType"])
                for i, h in enumerate(contact["propertiesWithHistory"]["lifecyclestage"])]
    assert _history(contact["id"]) == expected
    assert result.rows_loaded["hubspot_contacts__lifecyclestage_history"] == sum(
        len(c["propertiesWithHistory"]["lifecyclestage"]) for c in hubspot.data.contacts)
    budgets = _sql("select hs_budget_items_sum_amount from raw_marketing.hubspot_campaigns "
                   "where hs_budget_items_sum_amount is not null")
    assert budgets and all(isinstance(b, Decimal) for (b,) in budgets)


def test_a_changed_contact_replaces_its_history_and_nothing_duplicates(env, hubspot):
    run_ingest("marketing")
    before = _sql("select count(*) from raw_marketing.hubspot_contacts__lifecyclestage_history")[0][0]
    # a contact with more than two entries, so that keeping its old rows would show
    changed = next(c for c in hubspot.data.contacts if len(c["propertiesWithHistory"]["lifecyclestage"]) > 2)
    other = next(c for c in hubspot.data.contacts if c is not changed)
    other_history = _history(other["id"])
    # the contact moved on and its history was rewritten (HubSpot lists the newest entry first)
    history = changed["propertiesWithHistory"]["lifecyclestage"]
    old_length = len(history)
    history[:] = [{"value": "customer", "timestamp": "2030-01-01T00:00:00.000Z", "sourceType": "INTEGRATION",
                   "sourceId": None}, *history[-1:]]
    hubspot.update_contact(changed["id"], lifecyclestage="customer")
    result = run_ingest("marketing")
    assert result.rows_loaded.get("hubspot_contacts") == 1
    assert result.rows_loaded.get("hubspot_contacts__lifecyclestage_history") == 2
    assert [(i, v, s) for i, v, _, s in _history(changed["id"])] == [(0, "customer", "INTEGRATION"),
                                                                     (1, history[-1]["value"], history[-1]["sourceType"])]
    assert _history(other["id"]) == other_history
    assert _sql("select count(*) from raw_marketing.hubspot_contacts__lifecyclestage_history")[0][0] == \
        before - old_length + 2
    once = _snapshot()
    assert run_ingest("marketing").rows_loaded == {}
    assert _snapshot() == once
    assert _key_duplicates() == dict.fromkeys(_key_duplicates(), 0)


def test_a_new_submission_on_an_unchanged_form_lands(env, hubspot):
    run_ingest("marketing", objects=["hubspot_forms", "hubspot_form_submissions"])
    form_id, subs = next((f, s) for f, s in hubspot.data.submissions.items() if s)
    newest = max(s["submittedAt"] for v in hubspot.data.submissions.values() for s in v)
    subs.append({"conversionId": "new-conversion", "submittedAt": newest + 1000, "pageUrl": "https://x/new",
                 "values": [{"name": "email", "value": "new@example.com"}]})
    result = run_ingest("marketing", objects=["hubspot_forms", "hubspot_form_submissions"])
    assert result.rows_loaded == {"hubspot_form_submissions": 1}  # the form itself did not change
    assert _sql("select form_id, email from raw_marketing.hubspot_form_submissions "
                "where conversion_id = 'new-conversion'") == [(form_id, "new@example.com")]


def test_a_warehouse_with_the_nested_history_upgrades_in_place(env, hubspot):
    """The history landed by the previous connector (dlt's rest_api source): a dlt nested table."""
    from connectors.landing import make_pipeline, stamp_loaded_at, utc_now

    old_rows = [{"id": c["id"], "email": c["properties"]["email"], "updatedAt": c["updatedAt"],
                 "lifecyclestage_history": [{"value": h["value"], "timestamp": h["timestamp"], "source_type": h["sourceType"]}
                                            for h in c["propertiesWithHistory"]["lifecyclestage"]]}
                for c in hubspot.data.contacts[:20]]

    @dlt.source(name="marketing", max_table_nesting=1)
    def old():
        return dlt.resource(old_rows, name="hubspot_contacts", write_disposition="merge", primary_key="id")

    make_pipeline("marketing", Settings.from_env()).run(stamp_loaded_at(old(), utc_now()), loader_file_format="parquet")
    assert ("_dlt_parent_id",) in _sql("select column_name from information_schema.columns where table_name = "
                                       "'hubspot_contacts__lifecyclestage_history'")
    result = run_ingest("marketing")
    assert any("was a dlt nested table" in n for n in result.notes)
    history = _sql("select column_name, data_type, is_nullable from information_schema.columns where "
                   "table_schema='raw_marketing' and table_name='hubspot_contacts__lifecyclestage_history'")
    assert sorted(history) == sorted(HISTORY_COLUMNS)
    assert _sql("select count(*) from raw_marketing.hubspot_contacts")[0][0] == len(hubspot.data.contacts)
    assert _sql("select count(*) from raw_marketing.hubspot_contacts__lifecyclestage_history")[0][0] == sum(
        len(c["propertiesWithHistory"]["lifecyclestage"]) for c in hubspot.data.contacts)
    second = run_ingest("marketing")
    assert not any("nested table" in n for n in second.notes) and second.rows_loaded == {}


def test_api_without_token_says_what_to_set(env, monkeypatch):
    monkeypatch.setenv("LTC_MARKETING_API_URL", "http://127.0.0.1:9")
    with pytest.raises(IngestError, match="LTC_MARKETING_API_TOKEN"):
        run_ingest("marketing")


def test_api_not_configured_is_skipped_with_a_note(env):
    result = run_ingest("marketing")
    assert any("LTC_MARKETING_API_URL is not set" in n for n in result.notes)
    assert "ad_spend" in result.rows_loaded


def test_a_warehouse_from_before_platforms_upgrades_in_place(env):
    """ad_spend landed by the previous connector (key (date, campaign_id), no platform column)."""
    settings = Settings.from_env()
    from connectors.landing import make_pipeline

    old_rows = [{"date": "2024-12-31", "campaign_id": "701old", "campaign_name": "Old", "channel": "Email",
                 "impressions": 1, "clicks": 0, "spend": Decimal("1.00"), "currency": "USD"}]
    pipeline = make_pipeline("marketing", settings)

    from connectors.values import MONEY

    old_columns = [  # the previous connector's hints, verbatim
        {"name": "date", "data_type": "date", "nullable": False},
        {"name": "campaign_id", "data_type": "text", "nullable": False},
        {"name": "campaign_name", "data_type": "text"}, {"name": "channel", "data_type": "text"},
        {"name": "impressions", "data_type": "bigint"}, {"name": "clicks", "data_type": "bigint"},
        {"name": "spend", **MONEY}, {"name": "currency", "data_type": "text"},
    ]

    @dlt.resource(name="ad_spend", write_disposition="merge", primary_key=["date", "campaign_id"],
                  columns=old_columns)
    def ad_spend():
        yield old_rows

    @dlt.source(name="marketing")
    def old():
        return ad_spend

    from connectors.landing import stamp_loaded_at, utc_now

    pipeline.run(stamp_loaded_at(old(), utc_now()), loader_file_format="parquet")  # as run_ingest did
    _platform_files(env)
    run_ingest("marketing")
    run_ingest("marketing")
    platforms = dict(_sql("select coalesce(platform, 'none'), count(*) from raw_marketing.ad_spend group by 1"))
    assert platforms["none"] == 1 and platforms["meta"] == 1 and platforms["google_ads"] == 1


def test_nothing_configured_says_what_to_set(ltc_home):
    with pytest.raises(IngestError, match="neither LTC_ADSPEND_DROP .* nor LTC_MARKETING_API_URL"):
        run_ingest("marketing")


def test_api_tables_land_in_postgres_typed_and_the_history_is_replaced(env, hubspot, monkeypatch, require_service):
    """LTC_WAREHOUSE=postgres: dlt loads the Arrow tables through INSERTs; the same types (money
    numeric(18,2), timestamptz) and the same delete-insert of a changed contact's history."""
    import psycopg2
    from postgres_db import dsn, fresh_database

    api = ["hubspot_campaigns", "hubspot_contacts", "hubspot_forms", "hubspot_form_submissions"]
    with fresh_database(require_service, "ltc_marketing") as db:
        monkeypatch.setenv("LTC_WAREHOUSE", "postgres")
        # dlt wants a password; the local server trusts every connection, so any will do
        monkeypatch.setenv("LTC_PG_DSN", f"postgresql://postgres:trust@127.0.0.1:5432/{db}")
        run_ingest("marketing", objects=api)
        changed = next(c for c in hubspot.data.contacts if len(c["propertiesWithHistory"]["lifecyclestage"]) > 2)
        changed["propertiesWithHistory"]["lifecyclestage"][:] = [
            {"value": "customer", "timestamp": "2030-01-01T00:00:00.000Z", "sourceType": "INTEGRATION", "sourceId": None}]
        hubspot.update_contact(changed["id"], lifecyclestage="customer")
        second = run_ingest("marketing", objects=api)
        assert second.rows_loaded == {"hubspot_contacts": 1, "hubspot_contacts__lifecyclestage_history": 1}
        with psycopg2.connect(dsn(db)) as con, con.cursor() as cur:
            cur.execute("select table_name, column_name, data_type, numeric_precision, numeric_scale "
                        "from information_schema.columns where table_schema = 'raw_marketing'")
            types = {(t, c): (d, p, s) for t, c, d, p, s in cur.fetchall()}
            cur.execute("select history_index, value from raw_marketing.hubspot_contacts__lifecyclestage_history "
                        "where contact_id = %s", (changed["id"],))
            history = cur.fetchall()
            cur.execute("select count(*), count(distinct (contact_id, history_index)) "
                        "from raw_marketing.hubspot_contacts__lifecyclestage_history")
            rows, keys = cur.fetchone()
    assert types[("hubspot_campaigns", "hs_budget_items_sum_amount")] == ("numeric", 18, 2)
    assert types[("hubspot_contacts", "updated_at")][0] == "timestamp with time zone"
    assert types[("hubspot_contacts__lifecyclestage_history", "timestamp")][0] == "timestamp with time zone"
    assert types[("hubspot_contacts__lifecyclestage_history", "history_index")][0] == "bigint"
    assert history == [(0, "customer")]
    assert rows == keys == sum(len(c["propertiesWithHistory"]["lifecyclestage"]) for c in hubspot.data.contacts)
