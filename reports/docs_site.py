"""dbt docs and GE Data Docs, published next to the report under `$LTC_HOME/reports`.

Why the dbt docs are assembled here instead of by `dbt docs generate --static`: a run makes ONE
dbt invocation (orchestration/defs/transform/dbt.py), and a second one costs ~5 s of fixed
overhead before it does anything. `--static` does very little that needs dbt: it takes the
index.html that ships in dbt-core (`dbt.task.docs.DOCS_INDEX_FILE_PATH`) and replaces the two
placeholders ``"MANIFEST.JSON INLINE DATA"`` and ``"CATALOG.JSON INLINE DATA"`` with the JSON of
manifest.json and catalog.json (dbt/task/docs/generate.py). The manifest already exists: the
run's `dbt build` wrote it. The catalog is a listing of relations and columns with their types,
which information_schema gives in one query. So `build_catalog` writes dbt's catalog JSON shape
from DuckDB (or Postgres) and `inline_docs` does the same substitution as dbt.

Which manifest: the one the run's `dbt build` wrote into its own target directory
(dagster-dbt: ``target/<op>-<run id[:7]>-<uuid>/manifest.json``), not the shared
``target/manifest.json``. The shared one is whatever the last `dbt parse` (or a developer's
`dbt build`) left: it describes the project as it was then, not the relations this run built,
its `database` is that of whichever warehouse file was configured then, and it may have been
written without the telemetry opt-out (it says ``send_anonymous_usage_stats: true`` on this
machine; dbt docs then loads Snowplow's tracker from a CDN). The run's manifest is the one that
matches the warehouse being documented. Without one (the asset materialised on its own, or
the run's dbt step did not run), the newest run directory is used, then the shared manifest.

Offline: the inlined manifest's ``send_anonymous_usage_stats`` is forced to false (it is the
only thing that makes dbt's page fetch anything: Snowplow's sp.js), and both sites are checked
by `external_references` before they are published.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports.formatting import write_atomic

if TYPE_CHECKING:
    from connectors.settings import Settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DBT_OP_NAME = "ltc_dbt_models"  # the @dbt_assets op: dagster-dbt names run target dirs after it
DBT_DOCS_DIR = "dbt_docs"
DATA_DOCS_DIR = "data_docs"
CATALOG_SCHEMA_VERSION = "https://schemas.getdbt.com/dbt/catalog/v1.json"
_PLACEHOLDER = re.compile(r'"(MANIFEST|CATALOG)\.JSON INLINE DATA"')
# dbt's catalog covers relational nodes (`REFABLE_NODE_TYPES`), never ephemeral models, plus sources
_RELATIONAL = ("model", "seed", "snapshot")


# ---------------------------------------------------------------------------------------------
# Which manifest


def dbt_target_dir(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """dbt's target directory as dagster-dbt resolves it (DBT_TARGET_PATH, relative to the project)."""
    target = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    return target if target.is_absolute() else project_dir / target


def find_manifest(run_id: str | None = None, project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """The manifest written by run `run_id`'s dbt build; else the newest run's; else the shared one."""
    target = dbt_target_dir(project_dir)
    runs = [p for p in target.glob(f"{DBT_OP_NAME}-*/manifest.json") if p.is_file()]
    if run_id:
        mine = [p for p in runs if p.parent.name.startswith(f"{DBT_OP_NAME}-{run_id[:7]}-")]
        if mine:
            return max(mine, key=lambda p: p.stat().st_mtime)
    if runs:
        return max(runs, key=lambda p: p.stat().st_mtime)
    shared = target / "manifest.json"
    if shared.is_file():
        return shared
    raise FileNotFoundError(f"no dbt manifest under {target}: run `dbt build` (or `make dbt-parse`) first")


def load_manifest(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# catalog.json from information_schema

CATALOG_SQL = """
select t.table_schema, t.table_name, t.table_type, c.column_name, c.ordinal_position, c.data_type
from information_schema.tables as t
join information_schema.columns as c
  on c.table_catalog = t.table_catalog and c.table_schema = t.table_schema and c.table_name = t.table_name
where lower(t.table_schema) in ({placeholders})
order by t.table_schema, t.table_name, c.ordinal_position
"""


@dataclass(frozen=True)
class CatalogRow:
    schema: str
    table: str
    table_type: str
    column: str
    index: int
    data_type: str


def documented_relations(manifest: Mapping[str, Any]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(schema, identifier), lower-case → [("nodes" | "sources", unique_id)] for every relation
    the docs describe. Matched without the database: a DuckDB file is one catalog and Postgres'
    information_schema lists the connected database only, while the manifest's `database` is
    whatever name the file had when dbt ran."""
    relations: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for uid, node in manifest.get("nodes", {}).items():
        materialized = (node.get("config") or {}).get("materialized")
        if node.get("resource_type") in _RELATIONAL and materialized != "ephemeral":
            name = node.get("alias") or node.get("identifier") or node["name"]
            relations.setdefault((node["schema"].lower(), name.lower()), []).append(("nodes", uid))
    for uid, source in manifest.get("sources", {}).items():
        name = source.get("identifier") or source["name"]
        relations.setdefault((source["schema"].lower(), name.lower()), []).append(("sources", uid))
    return relations


def catalog_rows_duckdb(con: Any, schemas: Sequence[str]) -> list[CatalogRow]:
    """Tables and columns of `schemas` from DuckDB's information_schema (one query)."""
    if not schemas:
        return []
    sql = CATALOG_SQL.format(placeholders=", ".join("?" for _ in schemas))
    return [CatalogRow(*row) for row in con.execute(sql, [s.lower() for s in schemas]).fetchall()]


def catalog_rows_postgres(dsn: str, schemas: Sequence[str]) -> list[CatalogRow]:
    """The same from Postgres, in one short read-only transaction."""
    import psycopg2

    if not schemas:
        return []
    sql = CATALOG_SQL.format(placeholders=", ".join("%s" for _ in schemas))
    conn = psycopg2.connect(dsn)
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            cur.execute(sql, [s.lower() for s in schemas])
            return [CatalogRow(*row) for row in cur.fetchall()]
    finally:
        conn.close()


def _stats() -> dict[str, Any]:
    # what dbt writes when an adapter reports no statistics (dbt/task/docs/generate.py: format_stats)
    return {"has_stats": {"id": "has_stats", "label": "Has Stats?", "value": False, "include": False,
                          "description": "Indicates whether there are statistics for this table"}}


def build_catalog(
    manifest: Mapping[str, Any],
    rows: Iterable[CatalogRow],
    *,
    generated_at: dt.datetime | None = None,
    errors: Sequence[str] | None = None,
) -> dict[str, Any]:
    """catalog.json as dbt writes it (metadata, nodes, sources, errors) for the manifest's
    relations found in `rows`; a node whose relation does not exist is left out, as dbt does."""
    generated_at = (generated_at or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    wanted = documented_relations(manifest)
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row.schema.lower(), row.table.lower())
        if key not in wanted:
            continue
        table = tables.setdefault(key, {
            "metadata": {"type": row.table_type, "schema": row.schema, "name": row.table,
                         "database": None, "comment": None, "owner": None},
            "columns": {}, "stats": _stats(),
        })
        table["columns"][row.column] = {"type": row.data_type, "index": int(row.index),
                                        "name": row.column, "comment": None}
    catalog: dict[str, Any] = {"nodes": {}, "sources": {}}
    for key, table in tables.items():
        for kind, uid in wanted[key]:
            database = manifest[kind][uid].get("database")
            catalog[kind][uid] = {**table, "metadata": {**table["metadata"], "database": database},
                                  "unique_id": uid}
    meta = manifest.get("metadata", {})
    stamp = generated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "metadata": {"dbt_schema_version": CATALOG_SCHEMA_VERSION, "dbt_version": meta.get("dbt_version"),
                     "generated_at": stamp, "invocation_id": meta.get("invocation_id"),
                     "invocation_started_at": meta.get("invocation_started_at"), "env": {}},
        **catalog,
        "errors": list(errors) if errors else None,
    }


def schemas_of(manifest: Mapping[str, Any]) -> list[str]:
    return sorted({schema for schema, _ in documented_relations(manifest)})


def warehouse_catalog(manifest: Mapping[str, Any], settings: "Settings") -> dict[str, Any]:
    """The catalog of the configured warehouse: DuckDB through a short read-only connection (it
    only reads; DuckDB allows readers beside no writer), or Postgres when that is the warehouse."""
    schemas = schemas_of(manifest)
    if settings.warehouse == "postgres":
        if not settings.pg_dsn:
            raise ValueError("LTC_WAREHOUSE=postgres needs LTC_PG_DSN for the dbt docs catalog")
        return build_catalog(manifest, catalog_rows_postgres(settings.pg_dsn, schemas))
    from connectors.warehouse_lock import read_connection

    with read_connection(settings.duckdb_path) as con:
        rows = catalog_rows_duckdb(con, schemas)
    return build_catalog(manifest, rows)


# ---------------------------------------------------------------------------------------------
# The static page


def dbt_docs_template() -> str:
    """dbt-core's docs page, the same file `dbt docs generate --static` fills in."""
    from dbt.task.docs import DOCS_INDEX_FILE_PATH

    return Path(DOCS_INDEX_FILE_PATH).read_text(encoding="utf-8")


def _script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element: every "<" escaped (a description holding
    "</script>" would otherwise end the script; dbt's own `--static` has that bug), ASCII only."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c")


def offline_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest with dbt docs' usage tracking off: with ``send_anonymous_usage_stats: true``
    the page loads Snowplow's sp.js from a CDN and reports page views."""
    return {**manifest, "metadata": {**manifest.get("metadata", {}), "send_anonymous_usage_stats": False}}


def inline_docs(template: str, manifest: Mapping[str, Any], catalog: Mapping[str, Any]) -> str:
    """dbt's static docs page: `template` with the manifest and catalog inlined, in one pass (so a
    placeholder string inside the manifest is never substituted)."""
    found = [m.group(1) for m in _PLACEHOLDER.finditer(template)]
    if sorted(found) != ["CATALOG", "MANIFEST"]:
        raise ValueError(f"dbt docs template has placeholders {found}, expected one MANIFEST and one CATALOG")
    data = {"MANIFEST": _script_json(offline_manifest(manifest)), "CATALOG": _script_json(catalog)}
    return _PLACEHOLDER.sub(lambda m: data[m.group(1)], template)


# ---------------------------------------------------------------------------------------------
# Nothing fetched from elsewhere

_FETCHING_ATTRS = {"script": ("src",), "link": ("href",), "img": ("src", "srcset"), "iframe": ("src",),
                   "source": ("src", "srcset"), "video": ("src", "poster"), "audio": ("src",),
                   "embed": ("src",), "object": ("data",), "image": ("href", "xlink:href"),
                   "use": ("href", "xlink:href")}
_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.I)
_CSS_REMOTE = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:https?:)?//[^'")\s;]+)""", re.I)


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in _FETCHING_ATTRS.get(tag, ()) and _REMOTE.match(value):
                self.found.append(f"<{tag} {name}={value}>")
            if value and name == "style":
                self.found.extend(_CSS_REMOTE.findall(value))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found.extend(_CSS_REMOTE.findall(data))


def external_references(html: str) -> list[str]:
    """Every resource a browser would fetch from another host when opening `html`: the src/href
    of script, link, img and other embedding tags, and url()/@import in <style> and style="",
    when absolute (http:, https:) or protocol-relative (//host). Links (<a href>) are not
    fetched and not reported."""
    parser = _References()
    parser.feed(html)
    parser.close()
    return parser.found


def site_external_references(site: Path) -> dict[str, list[str]]:
    """`external_references` of every .html and .css file under `site` (a file or a directory)."""
    site = Path(site)
    files = [site] if site.is_file() else sorted([*site.rglob("*.html"), *site.rglob("*.css")])
    found: dict[str, list[str]] = {}
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        refs = _CSS_REMOTE.findall(text) if path.suffix == ".css" else external_references(text)
        if refs:
            found[str(path)] = refs
    return found


def _assert_offline(site: Path) -> None:
    found = site_external_references(site)
    if found:
        raise RuntimeError(f"refusing to publish docs that fetch from other hosts: {found}")


# ---------------------------------------------------------------------------------------------
# Publishing


def write_dbt_docs(manifest: Mapping[str, Any], catalog: Mapping[str, Any], out_dir: Path) -> Path:
    """`out_dir`/index.html: the self-contained dbt docs page, checked offline, written atomically."""
    html = inline_docs(dbt_docs_template(), manifest, catalog)
    refs = external_references(html)
    if refs:
        raise RuntimeError(f"dbt docs page would fetch from other hosts: {refs}")
    path = Path(out_dir) / "index.html"
    write_atomic(path, html)
    return path


def publish_dbt_docs(settings: "Settings", *, run_id: str | None = None,
                     manifest_path: Path | None = None) -> tuple[Path, Path]:
    """(page, manifest used): dbt docs of the warehouse under `reports/dbt_docs/index.html`."""
    manifest_path = manifest_path or find_manifest(run_id)
    manifest = load_manifest(manifest_path)
    catalog = warehouse_catalog(manifest, settings)
    return write_dbt_docs(manifest, catalog, settings.reports_dir / DBT_DOCS_DIR), manifest_path


def publish_data_docs(settings: "Settings", *, run_date: dt.date | None = None) -> Path:
    """GE Data Docs of every suite and its outcome now, under `reports/data_docs/`. On a Postgres
    warehouse the suites only: the validation runner reads DuckDB (as the checks do)."""
    from expectations.data_docs import build_data_docs, collect_summaries, suites_only

    if settings.warehouse == "postgres":
        outcomes = suites_only()
    else:
        outcomes = collect_summaries(settings.duckdb_path, run_date=run_date)
    return build_data_docs(outcomes, settings.reports_dir / DATA_DOCS_DIR, verify=_assert_offline)
