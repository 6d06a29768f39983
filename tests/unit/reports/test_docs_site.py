"""dbt docs without a second dbt run, and both docs sites offline.

The catalog built from information_schema has dbt's own shape (dbt's artifact class reads it
back) and holds the manifest's relations only; the static page inlines manifest and catalog as
`dbt docs generate --static` does; nothing in either site points to another host. In Chromium
(served over HTTP from 127.0.0.1, every request the page makes logged, all other hosts
unresolvable): the pages render, show what they should, and request nothing from elsewhere; a
page with dbt's usage tracking left on does (the control). The Dagster asset publishes both sites
and sits downstream of the report's marts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import http.server
import json
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from marts_fixture import PII_NAME, build_marts
from postgres_db import dsn as postgres_dsn
from postgres_db import fresh_database

from connectors.marts_file import connect_warehouse
from reports.docs_site import (
    DBT_OP_NAME,
    CatalogRow,
    build_catalog,
    catalog_rows_duckdb,
    dbt_docs_template,
    documented_relations,
    external_references,
    find_manifest,
    inline_docs,
    load_manifest,
    site_external_references,
    warehouse_catalog,
    write_dbt_docs,
)

CHROMIUM = Path("/usr/bin/chromium")
PROBE_COLUMN = "ltc_catalog_probe"  # a column only the warehouse has: the page can know it from the catalog only


# ---------------------------------------------------------------------------------------------
# A small manifest: a model, an ephemeral model, a seed, a test, a source


def _node(uid: str, resource_type: str, schema: str, name: str, materialized: str = "table", **extra) -> dict:
    return {"unique_id": uid, "resource_type": resource_type, "database": "warehouse", "schema": schema,
            "name": name, "alias": name, "config": {"materialized": materialized}, **extra}


def small_manifest() -> dict:
    return {
        "metadata": {"dbt_version": "1.11.16", "invocation_id": "inv-1", "send_anonymous_usage_stats": True},
        "nodes": {
            "model.ltc.fct_invoices": _node("model.ltc.fct_invoices", "model", "marts", "fct_invoices",
                                            description="Ends a script: </script><!-- \"MANIFEST.JSON INLINE DATA\""),
            "model.ltc.int_ephemeral": _node("model.ltc.int_ephemeral", "model", "intermediate", "int_ephemeral",
                                             "ephemeral"),
            "seed.ltc.channel_mapping": _node("seed.ltc.channel_mapping", "seed", "seeds", "channel_mapping", "seed"),
            "test.ltc.not_null_x": _node("test.ltc.not_null_x", "test", "marts_test", "not_null_x", "test"),
            "model.ltc.not_built": _node("model.ltc.not_built", "model", "marts", "not_built"),
        },
        "sources": {
            "source.ltc.raw_erp.invoices": {"unique_id": "source.ltc.raw_erp.invoices", "resource_type": "source",
                                            "database": "warehouse", "schema": "raw_erp", "name": "invoices",
                                            "identifier": "Invoices"},
        },
    }


@pytest.fixture
def small_warehouse(tmp_path: Path) -> Path:
    db = tmp_path / "warehouse.duckdb"
    with connect_warehouse(db, read_only=False) as con:
        for schema in ("marts", "intermediate", "seeds", "raw_erp", "other"):
            con.execute(f"create schema {schema}")
        con.execute("create table marts.fct_invoices (invoice_id varchar, total_amount decimal(18,2), issue_date date)")
        con.execute("create view intermediate.int_ephemeral as select 1 as x")  # a leftover: not documented
        con.execute("create table seeds.channel_mapping (lead_source varchar, channel varchar)")
        con.execute("create table raw_erp.invoices (invoice_id varchar, payer_email varchar)")
        con.execute("insert into raw_erp.invoices values ('I1', 'jane.payer@private.example')")
        con.execute("create table other.secret_table (x integer)")
    return db


def _catalog(manifest: dict, db: Path) -> dict:
    from reports.docs_site import schemas_of

    with connect_warehouse(db, read_only=True) as con:
        rows = catalog_rows_duckdb(con, schemas_of(manifest))
    return build_catalog(manifest, rows, generated_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))


# ---------------------------------------------------------------------------------------------
# The catalog


def test_catalog_has_dbts_shape_and_only_the_manifests_relations(small_warehouse: Path):
    from dbt.artifacts.schemas.catalog import CatalogArtifact

    catalog = _catalog(small_manifest(), small_warehouse)
    CatalogArtifact.validate(catalog)  # dbt's JSON schema for catalog.json
    artifact = CatalogArtifact.from_dict(catalog)
    assert set(artifact.nodes) == {"model.ltc.fct_invoices", "seed.ltc.channel_mapping"}  # no ephemeral, test, unbuilt
    assert set(artifact.sources) == {"source.ltc.raw_erp.invoices"}  # identifier matched case-insensitively
    invoices = catalog["nodes"]["model.ltc.fct_invoices"]
    assert invoices["metadata"] == {"type": "BASE TABLE", "schema": "marts", "name": "fct_invoices",
                                    "database": "warehouse", "comment": None, "owner": None}
    assert {name: (c["type"], c["index"]) for name, c in invoices["columns"].items()} == {
        "invoice_id": ("VARCHAR", 1), "total_amount": ("DECIMAL(18,2)", 2), "issue_date": ("DATE", 3)}
    assert catalog["metadata"]["generated_at"] == "2026-01-01T00:00:00.000000Z"
    assert catalog["errors"] is None
    assert "jane.payer" not in json.dumps(catalog)  # names and types, never values


def test_documented_relations_skip_ephemeral_models_and_tests():
    relations = documented_relations(small_manifest())
    assert relations == {
        ("marts", "fct_invoices"): [("nodes", "model.ltc.fct_invoices")],
        ("seeds", "channel_mapping"): [("nodes", "seed.ltc.channel_mapping")],
        ("marts", "not_built"): [("nodes", "model.ltc.not_built")],
        ("raw_erp", "invoices"): [("sources", "source.ltc.raw_erp.invoices")],
    }


def test_catalog_rows_keep_to_the_schemas_asked_for(small_warehouse: Path):
    with connect_warehouse(small_warehouse, read_only=True) as con:
        rows = catalog_rows_duckdb(con, ["MARTS"])
    assert {r.table for r in rows} == {"fct_invoices"}
    assert rows[0] == CatalogRow("marts", "fct_invoices", "BASE TABLE", "invoice_id", 1, "VARCHAR")


# ---------------------------------------------------------------------------------------------
# The static page


def _script_free(html: str) -> str:
    return re.sub(r"<(script|style)\b.*?</\1\s*>", " ", html, flags=re.S | re.I)


def test_inlined_page_has_the_manifest_and_catalog_and_no_placeholder(small_warehouse: Path):
    manifest = small_manifest()
    catalog = _catalog(manifest, small_warehouse)
    template = dbt_docs_template()
    html = inline_docs(template, manifest, catalog)
    assert '"MANIFEST.JSON INLINE DATA"' not in html and "CATALOG.JSON INLINE DATA" not in html
    assert '\\"MANIFEST.JSON INLINE DATA\\"' in html  # the description's copy is text, not substituted
    for name in ("fct_invoices", "channel_mapping", "invoice_id", "total_amount", "DECIMAL(18,2)", "lead_source"):
        assert name in html
    # the description's "</script>" cannot end the script: the page has as many as the template
    assert html.lower().count("</script") == template.lower().count("</script")
    assert '"send_anonymous_usage_stats":false' in html and '"send_anonymous_usage_stats":true' not in html
    assert manifest["metadata"]["send_anonymous_usage_stats"] is True  # the caller's manifest is untouched


def test_inline_refuses_a_template_without_both_placeholders():
    with pytest.raises(ValueError, match="placeholders"):
        inline_docs("<html>no data here</html>", small_manifest(), {})


def test_external_references_finds_what_a_browser_would_fetch():
    html = """<html><head><script src="https://cdn.example/a.js"></script>
      <link rel="stylesheet" href="//fonts.example/f.css"><link rel="icon" href="favicon.ico">
      <style>@import 'https://x.example/i.css'; p { background: url("http://x.example/b.png") }</style></head>
      <body><img src="HTTPS://img.example/i.png"><img src="static/local.png">
      <a href="https://docs.example/">a link is not fetched</a>
      <script>var s = '<img src="https://in.a.js.string/">';</script></body></html>"""
    assert external_references(html) == [
        "<script src=https://cdn.example/a.js>", "<link href=//fonts.example/f.css>",
        "https://x.example/i.css", "http://x.example/b.png", "<img src=HTTPS://img.example/i.png>",
    ]


def test_dbt_page_points_to_no_other_host(small_warehouse: Path, tmp_path: Path):
    manifest = small_manifest()
    page = write_dbt_docs(manifest, _catalog(manifest, small_warehouse), tmp_path / "dbt_docs")
    assert site_external_references(page) == {}
    assert [p.name for p in page.parent.iterdir()] == ["index.html"]  # written atomically, no temp left


# ---------------------------------------------------------------------------------------------
# Which manifest


def _run_dir(target: Path, run_id: str, age_s: float) -> Path:
    path = target / f"{DBT_OP_NAME}-{run_id[:7]}-{uuid.uuid4().hex[:7]}" / "manifest.json"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    stamp = time.time() - age_s
    import os

    os.utime(path, (stamp, stamp))
    return path


def test_find_manifest_prefers_the_runs_own_then_the_newest_run_then_the_shared(tmp_path: Path, monkeypatch):
    target = tmp_path / "target"
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))
    with pytest.raises(FileNotFoundError):
        find_manifest("abcdef0123")
    shared = target / "manifest.json"
    target.mkdir()
    shared.write_text("{}")
    assert find_manifest("abcdef0123") == shared
    mine = _run_dir(target, "abcdef0123", age_s=100)
    newest = _run_dir(target, "1234567890", age_s=1)
    assert find_manifest("abcdef0123") == mine
    assert find_manifest("ffffff0000") == newest
    assert find_manifest(None) == newest


# ---------------------------------------------------------------------------------------------
# Postgres


@pytest.mark.postgres
def test_catalog_from_postgres(require_service, ltc_home: Path, monkeypatch):
    psycopg2 = pytest.importorskip("psycopg2")
    with fresh_database(require_service, "ltc_docs_test") as dbname:
        dsn = postgres_dsn(dbname)
        with psycopg2.connect(dsn) as con, con.cursor() as cur:
            cur.execute("create schema marts; create schema raw_erp; create schema seeds")
            cur.execute("create table marts.fct_invoices "
                        "(invoice_id varchar, total_amount numeric(18,2), issue_date date)")
            cur.execute("create table raw_erp.\"Invoices\" (invoice_id varchar)")
            cur.execute("create view seeds.channel_mapping as select 'x'::text as lead_source")
        con.close()
        monkeypatch.setenv("LTC_WAREHOUSE", "postgres")
        monkeypatch.setenv("LTC_PG_DSN", dsn)
        from connectors.settings import Settings

        settings = Settings.from_env()
        catalog = warehouse_catalog(small_manifest(), settings)
        invoices = catalog["nodes"]["model.ltc.fct_invoices"]["columns"]
        assert {n: c["type"] for n, c in invoices.items()} == {
            "invoice_id": "character varying", "total_amount": "numeric", "issue_date": "date"}
        assert catalog["nodes"]["seed.ltc.channel_mapping"]["metadata"]["type"] == "VIEW"
        assert "source.ltc.raw_erp.invoices" in catalog["sources"]
        # the Data Docs: suite pages, no validations (the runner reads DuckDB, and there is none)
        from reports.docs_site import publish_data_docs

        index = publish_data_docs(settings)
        assert (index.parent / "expectations" / "raw_erp__invoices.html").is_file()
        assert not settings.duckdb_path.exists()


# ---------------------------------------------------------------------------------------------
# In Chromium


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[str]:
    """`directory` over HTTP on 127.0.0.1 (how a published reports folder is read), quietly."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def open_page(url: str, work: Path) -> tuple[str, list[str]]:
    """(rendered DOM without scripts and styles, URLs the page requested from hosts other than
    127.0.0.1). Every host but 127.0.0.1 is unresolvable, so nothing leaves the machine; Chromium's
    net log still records each request, and requests Chromium makes for itself (component
    updates and the like, initiator "not an origin") are not the page's."""
    net_log = work / f"net-{uuid.uuid4().hex[:8]}.json"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--user-data-dir={work / 'profile'}",
           f"--log-net-log={net_log}", "--virtual-time-budget=5000", "--dump-dom", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requested = [e.get("params", {}) for e in log["events"] if e["type"] == start]
    remote = sorted({p["url"] for p in requested
                     if p.get("url", "").startswith(("http:", "https:", "ws:", "wss:"))
                     and p.get("initiator") != "not an origin"
                     and not p["url"].startswith("http://127.0.0.1:")})
    return _script_free(proc.stdout), remote


@pytest.fixture
def chromium(require_service, tmp_path: Path) -> Path:
    require_service(CHROMIUM.exists(), f"{CHROMIUM} is not installed")
    work = tmp_path / "chromium"
    work.mkdir()
    return work


@pytest.fixture
def project_manifest() -> dict:
    """The project's real manifest (what the dbt docs app is built for), from `dbt parse`."""
    from orchestration.prepare import prepare_dbt_manifest

    return load_manifest(prepare_dbt_manifest())


def test_dbt_docs_render_offline_in_chromium(chromium: Path, project_manifest: dict, tmp_path: Path):
    db = build_marts(tmp_path / "warehouse.duckdb")
    with connect_warehouse(db, read_only=False) as con:
        con.execute(f"alter table marts.fct_invoices add column {PROBE_COLUMN} integer")
    site = tmp_path / "reports"
    write_dbt_docs(project_manifest, _catalog(project_manifest, db), site / "dbt_docs")
    # the control: the same page with dbt's usage tracking left on (as the shared manifest has it)
    tracked = {**project_manifest, "metadata": {**project_manifest["metadata"], "send_anonymous_usage_stats": True}}
    raw = dbt_docs_template().replace('"MANIFEST.JSON INLINE DATA"', json.dumps(tracked))
    empty = json.dumps({"metadata": {}, "nodes": {}, "sources": {}, "errors": None})
    (site / "tracked.html").write_text(raw.replace('"CATALOG.JSON INLINE DATA"', empty), encoding="utf-8")

    with serving(site) as base:
        dom, requests = open_page(f"{base}/dbt_docs/index.html", chromium)
        assert 'title="fct_invoices"' in dom and 'title="rpt_cash_collection"' in dom  # the project tree
        assert requests == []
        model, requests = open_page(f"{base}/dbt_docs/index.html#!/model/model.ltc.fct_invoices", chromium)
        assert PROBE_COLUMN in model and "DECIMAL(18,2)" in model  # columns and types from the catalog
        assert PII_NAME not in model
        assert requests == []
        _, tracked_requests = open_page(f"{base}/tracked.html", chromium)
    assert any("sp.js" in url for url in tracked_requests), tracked_requests


def test_data_docs_render_offline_in_chromium(chromium: Path, tmp_path: Path):
    from expectations.data_docs import build_data_docs, collect_summaries
    from reports.docs_site import _assert_offline

    # the report's marts: no raw tables (those suites fail: table missing), marts without some
    # columns the dataset queries read (those fail: the query raised)
    db = build_marts(tmp_path / "warehouse.duckdb")
    outcomes = collect_summaries(db, run_date=dt.date(2026, 1, 1))
    site = build_data_docs(outcomes, tmp_path / "reports" / "data_docs", verify=_assert_offline).parent

    def page(suite: str) -> str:
        return next((site / "validations" / suite).rglob("*.html")).relative_to(site).as_posix()

    with serving(site) as base:
        dom, requests = open_page(f"{base}/index.html", chromium)
        assert "raw_salesforce__lead" in dom and "marts__fct_invoices" in dom  # static index tables
        assert requests == []
        dom, requests = open_page(f"{base}/{page('raw_erp__invoices')}", chromium)
        assert "the table does not exist" in dom
        assert requests == []
        dom, requests = open_page(f"{base}/{page('marts__rpt_cash_collection')}", chromium)
        assert "the query failed (BinderException)" in dom and "Status:" in dom
        assert requests == []
    assert PII_NAME not in "".join(p.read_text(encoding="utf-8") for p in site.rglob("*.html"))


# ---------------------------------------------------------------------------------------------
# The Dagster asset


def test_docs_asset_is_downstream_of_the_reports_marts():
    from orchestration.prepare import prepare_dbt_manifest

    prepare_dbt_manifest()
    import dagster as dg

    from orchestration.defs.reports.assets import REPORT_INPUTS
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    docs = graph.get(dg.AssetKey(["reports", "docs"]))
    assert docs.group_name == "reports"
    assert docs.parent_keys == {dg.AssetKey(path) for path in REPORT_INPUTS}
    assert docs.parent_keys == graph.get(dg.AssetKey(["reports", "edition"])).parent_keys
    assert docs.key in defs.resolve_job_def("ltc_full_refresh").asset_layer.selected_asset_keys


def test_docs_asset_publishes_both_sites(ltc_home: Path, project_manifest: dict, tmp_path: Path, monkeypatch):
    import dagster as dg

    from connectors.settings import Settings
    from orchestration.defs.reports.docs_assets import ltc_docs

    settings = Settings.from_env()
    build_marts(settings.duckdb_path)
    target = tmp_path / "target"
    run_manifest = target / f"{DBT_OP_NAME}-0000000-1111111" / "manifest.json"
    run_manifest.parent.mkdir(parents=True)
    run_manifest.write_text(json.dumps(project_manifest))
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))

    started = time.perf_counter()
    result = dg.materialize([ltc_docs])
    seconds = time.perf_counter() - started
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key == dg.AssetKey(["reports", "docs"])
    metadata = event.materialization.metadata
    dbt_page = Path(metadata["dbt_docs"].value)
    data_docs = Path(metadata["data_docs"].value)
    assert dbt_page == settings.reports_dir / "dbt_docs" / "index.html" and dbt_page.is_file()
    assert data_docs == settings.reports_dir / "data_docs" / "index.html" and data_docs.is_file()
    assert Path(metadata["dbt_manifest"].value) == run_manifest
    assert site_external_references(settings.reports_dir) == {}
    print(f"reports/docs materialised in {seconds:.2f} s: dbt docs {metadata['dbt_docs_seconds'].value} s, "
          f"data docs {metadata['data_docs_seconds'].value} s")
    shutil.rmtree(settings.reports_dir)  # ~7 MB of site per test run
