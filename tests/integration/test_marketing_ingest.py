"""`run_ingest("marketing")` end to end into DuckDB: the four ad-spend shapes, quarantine, the
HubSpot-style API through dlt's rest_api source, idempotence and incremental runs."""

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
