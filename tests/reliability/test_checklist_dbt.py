"""Failure-mode checklist items about the warehouse build (reliability-and-performance.md §9):
#10 a full refresh whose create fails must not lose the table, #11 an incremental run must not
silently rebuild it (dbt-labs/dbt-core#15953), #8 schema drift in a raw table (a changed type is
refused whole, an extra column evolves and the marts still build), #14 the big join completes
under a low DuckDB memory limit by spilling. (#12 is in tests/e2e/test_full_job.py, #1 in
tests/integration/test_salesforce_crash.py: they need that module's run.)

They run dbt the way the pipeline does (`dbt_build_args`, `dbt_vars_args`, `dbt_target` from
orchestration/defs/transform/dbt.py, profiles from the project) on a writable copy of the
session's sandbox company (`built_company`: seed 7, 400 leads, already landed and built).

How "recreated" is detected. DuckDB's `duckdb_tables().table_oid` cannot tell: oids are handed
out again, in catalog order, each time the file is opened (measured with duckdb 2.0.1: a table
rebuilt by create-tmp/rename/drop got the very oid the old one had after a reopen, and an untouched
table's oid changed when an earlier table was dropped). So the test leaves a creation marker the
data cannot carry: `COMMENT ON TABLE`. It survives reopening, inserts and deletes, and is gone
from any newly created table (the project sets `persist_docs: relation: false`, so dbt never
writes table comments itself). `test_full_refresh_...` proves the marker does disappear when dbt
really recreates the table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from connectors.marts_file import connect_warehouse, copy_warehouse
from connectors.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

MARKER = "checklist-marker: created before the dbt run under test"


# -- running dbt as the pipeline does --------------------------------------------------------------


def _dbt_command(args: list[str], settings: Settings, work: Path, project_dir: Path | None = None,
                 **extra_env: str) -> tuple[list[str], dict[str, str], Path]:
    """`dbt <args> --target <the pipeline's>` with the run's --vars, as ltc_dbt_models invokes it:
    the command, its environment and its working directory."""
    from orchestration.defs.transform.dbt import DBT_PROJECT_DIR, dbt_target, dbt_vars_args
    from orchestration.prepare import dbt_executable

    project_dir = project_dir or DBT_PROJECT_DIR
    cmd = [dbt_executable(), *args, "--target", dbt_target(settings), *dbt_vars_args(settings)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LTC_", "DBT_"))}
    env.update(LTC_HOME=str(settings.home), LTC_DUCKDB_PATH=str(settings.duckdb_path),
               DBT_PROFILES_DIR=str(project_dir), DBT_TARGET_PATH=str(work / "target"),
               DBT_LOG_PATH=str(work / "logs"), DBT_SEND_ANONYMOUS_USAGE_STATS="false", **extra_env)
    return cmd, env, project_dir


def _dbt(args: list[str], settings: Settings, work: Path, project_dir: Path | None = None) -> subprocess.CompletedProcess:
    cmd, env, cwd = _dbt_command(args, settings, work, project_dir)
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=500)


def _pipeline_build(settings: Settings, work: Path) -> subprocess.CompletedProcess:
    from orchestration.defs.transform.dbt import dbt_build_args

    return _dbt(dbt_build_args(settings), settings, work)


@pytest.fixture
def company(built_company, tmp_path: Path) -> Settings:
    """A writable copy of the session's built sandbox company, with its as-of date."""
    home = tmp_path / "ltc_home"
    home.mkdir()
    copy_warehouse(built_company.warehouse, home / "warehouse.duckdb")
    return Settings(home=home, duckdb_path=home / "warehouse.duckdb",
                    as_of=dt.date.fromisoformat(built_company.as_of))


def _incremental_nodes() -> list[dict]:
    """Every enabled incremental model of the project's manifest."""
    from orchestration.prepare import prepare_dbt_manifest

    manifest = json.loads(prepare_dbt_manifest().read_text())
    return [n for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["config"].get("materialized") == "incremental"
            and n["config"].get("enabled", True)]


def incremental_models() -> list[tuple[str, str]]:
    """(schema, table) of every enabled incremental model in the project's manifest."""
    found = [(n["schema"], n["alias"] or n["name"]) for n in _incremental_nodes()]
    assert found, "the project has no incremental model: this test checks nothing"
    return sorted(found)


def key_scoped_models() -> dict[str, str | None]:
    """The incremental models that replace changed keys (strategy `replace_keys`, issue 8) rather
    than append days, each with its `as_of_column` (None for a model whose rows do not depend on
    the as-of date): an incremental run rewrites rows of theirs, and moves that column on every row."""
    return {n["alias"] or n["name"]: n["config"].get("as_of_column") for n in _incremental_nodes()
            if n["config"].get("incremental_strategy") == "replace_keys"}


def key_columns() -> dict[str, str]:
    """Each incremental model's unique key (the first column of a composite one)."""
    out = {}
    for n in _incremental_nodes():
        key = n["config"]["unique_key"]
        out[n["alias"] or n["name"]] = key if isinstance(key, str) else key[0]
    return out


# -- reading the tables ----------------------------------------------------------------------------


def mark(warehouse: Path, tables: list[tuple[str, str]]) -> None:
    with connect_warehouse(warehouse, read_only=False) as con:
        for schema, table in tables:
            con.execute(f"comment on table {schema}.{table} is '{MARKER}'")


def state(warehouse: Path, schema: str, table: str, where: str = "true") -> dict:
    """Row count, an order-independent content hash, the creation marker, leftover dbt relations."""
    with connect_warehouse(warehouse, read_only=True) as con:
        rows, digest = con.execute(
            f"select count(*), coalesce(sum(hash(t)::hugeint), 0) from {schema}.{table} as t where {where}").fetchone()
        comment = con.execute("select comment from duckdb_tables() where schema_name = ? and table_name = ?",
                              [schema, table]).fetchone()
        leftovers = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_name like ? escape '\\'", [table.replace("_", "\\_") + "\\_\\_dbt\\_%"]).fetchall()
    return {"rows": rows, "hash": digest, "marker": comment[0] if comment else None,
            "leftovers": [r[0] for r in leftovers]}


# -- #11 -------------------------------------------------------------------------------------------


def test_an_incremental_run_adds_to_every_incremental_model_without_recreating_it(company, tmp_path):
    """Checklist #11 (dbt-core#15953: a relation-cache miss makes dbt treat an incremental model as
    new and rebuild it, silently). The pipeline's own `dbt build` runs again on a built warehouse,
    one week later (as-of + 7 days, so fct_pipeline_snapshots has new snapshot days to add).
    Fails if any incremental model's table was recreated (its creation marker is gone), if it
    lost rows (expected deletes: none, as delete+insert only replaces the keys of the new days,
    which are all after the last captured day), if any earlier row changed (frozen days), or if
    the run added nothing (then it was not an incremental run at all). A key-scoped model
    (`key_scoped_models`) replaces the keys that changed instead: it must keep its table, and one
    whose rows carry the as-of date must carry the new one on every row (the run's last step)."""
    models = incremental_models()
    keyed = key_scoped_models()
    days = [m for m in models if m[1] not in keyed]
    mark(company.duckdb_path, models)
    old_as_of = company.as_of.isoformat()
    before = {m: state(company.duckdb_path, *m) for m in models}
    frozen = {m: state(company.duckdb_path, *m, where=f"snapshot_date <= date '{old_as_of}'") for m in days}

    later = dataclasses.replace(company, as_of=company.as_of + dt.timedelta(days=7))
    proc = _pipeline_build(later, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]

    for m in models:
        after = state(company.duckdb_path, *m)
        assert after["marker"] == MARKER, f"{m}: the incremental run recreated the table"
        assert not after["leftovers"], f"{m}: dbt left {after['leftovers']}"
        if m[1] in keyed:
            assert after["rows"] > 0, f"{m}: no rows after the incremental run"
            if column := keyed[m[1]]:
                stale = state(company.duckdb_path, *m, where=f"{column} <> date '{later.as_of.isoformat()}'")
                assert stale["rows"] == 0, f"{m}: {stale['rows']} rows kept the old as-of date"
            continue
        assert after["rows"] > before[m]["rows"], f"{m}: nothing added ({before[m]['rows']} → {after['rows']})"
        kept = state(company.duckdb_path, *m, where=f"snapshot_date <= date '{old_as_of}'")
        assert (kept["rows"], kept["hash"]) == (frozen[m]["rows"], frozen[m]["hash"]), f"{m}: captured days changed"


# -- #10 -------------------------------------------------------------------------------------------


def _project_with_failing_model(dest: Path, model: str, column: str) -> Path:
    """A copy of the dbt project whose `model` fails at run time, inside its create statement: a
    cast DuckDB can only reject while reading the rows (the value comes from the data: `column`,
    one the model's rows have)."""
    from orchestration.defs.transform.dbt import DBT_PROJECT_DIR

    shutil.copytree(DBT_PROJECT_DIR, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    path = next(dest.joinpath("models").rglob(f"{model}.sql"))
    sql = path.read_text()
    assert sql.rstrip().endswith("select * from final"), f"{path}: the injection point moved"
    path.write_text(sql.rstrip() + f"\nwhere cast('injected-failure-' || {column} as integer) is not null\n")
    return dest


def test_a_failing_full_refresh_keeps_the_incremental_table(company, tmp_path):
    """Checklist #10 (microsoft/dbt-fabric#397: full refresh drops the target, then the create
    fails, and the table is gone). `dbt run --full-refresh` of each incremental model with SQL
    that fails at run time: the run must fail, and the old table survive with the same rows
    (count and content hash), still the same table (marker), with no __dbt_tmp/__dbt_backup left.
    Fails if the materialization drops or renames the target before the create succeeds. Then
    the unpatched full refresh runs and the marker must be gone: the check sees a recreation.
    (It passes: dbt-duckdb 1.11.1 builds a full refresh into `<model>__dbt_tmp` inside the model's
    transaction and renames only after; it drops first only for tables with foreign keys, which
    no model here has.)"""
    keys = key_columns()
    for schema, model in incremental_models():
        mark(company.duckdb_path, [(schema, model)])
        before = state(company.duckdb_path, schema, model)
        assert before["rows"] > 0
        project = _project_with_failing_model(tmp_path / f"project_{model}", model, keys[model])

        failed = _dbt(["run", "--full-refresh", "--select", model], company, tmp_path / "failed", project_dir=project)
        assert failed.returncode != 0, f"the injected failure did not fail the run:\n{failed.stdout[-2000:]}"
        assert "injected-failure-" in failed.stdout, failed.stdout[-2000:]  # it failed where injected
        assert state(company.duckdb_path, schema, model) == before, f"{schema}.{model} changed by a failed full refresh"

        rebuilt = _dbt(["run", "--full-refresh", "--select", model], company, tmp_path / "rebuilt")
        assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
        after = state(company.duckdb_path, schema, model)
        assert after["marker"] is None, "a real full refresh kept the marker: the marker cannot see a rebuild"
        assert after["rows"] == before["rows"] and after["hash"] == before["hash"]  # same data rebuilt


# -- #8 --------------------------------------------------------------------------------------------
# The ad-spend parser already refuses a changed type row by row and lands an extra column as text
# (tests/reliability/bad_inputs.py: ad_changed_type, ad_extra_column), so no file can reach dlt
# with a changed type. These tests swap only the source for one yielding a v2 export and land it
# through `run_ingest` with ad_spend's own hints and contract, to prove the second line of
# defence: the table's schema contract (columns: evolve, data_type: freeze).


def _ad_spend_rows(settings: Settings, **changes) -> list[dict]:
    """Three landed ad_spend rows as the connector yields them, with `changes` applied."""
    from connectors.marketing.source import AD_SPEND_COLUMNS

    names = [c["name"] for c in AD_SPEND_COLUMNS]
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        rows = con.execute(f"select {', '.join(names)} from raw_marketing.ad_spend order by all limit 3").fetchall()
    assert len(rows) == 3, "the sandbox company landed no ad spend"
    return [{**dict(zip(names, row)), "file_name": "v2_export.csv", **changes} for row in rows]


def _ingest_ad_spend(settings: Settings, rows: list[dict], monkeypatch: pytest.MonkeyPatch):
    """`rows` into raw_marketing.ad_spend through `run_ingest("marketing")`, the CLI's and Dagster's
    entry point (pending packages, the pipeline, error handling), with ad_spend's own hints and
    contract; only the source is swapped for one yielding `rows`."""
    import dlt

    from connectors import ingest
    from connectors.marketing.source import AD_SPEND_COLUMNS, AD_SPEND_CONTRACT, AD_SPEND_KEY

    @dlt.source(name="marketing", max_table_nesting=1)
    def marketing():
        return dlt.resource(rows, name="ad_spend", write_disposition="merge", primary_key=list(AD_SPEND_KEY),
                            columns=AD_SPEND_COLUMNS, schema_contract=AD_SPEND_CONTRACT, max_table_nesting=0)

    monkeypatch.setitem(ingest._BUILDERS, "marketing", lambda *args: marketing())
    return ingest.run_ingest("marketing", settings)


def _ad_spend_table(settings: Settings) -> dict:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        columns = con.execute("select column_name, data_type from information_schema.columns where "
                              "table_schema = 'raw_marketing' and table_name = 'ad_spend' order by 1").fetchall()
        loads = con.execute("select count(*) from raw_marketing._dlt_loads").fetchone()[0]
    return {"columns": columns, "loads": loads, **state(settings.duckdb_path, "raw_marketing", "ad_spend")}


def test_a_changed_type_is_refused_loudly_and_nothing_lands(company, monkeypatch):
    """Checklist #8, `freeze`: a v2 export with an extra column (`reach`) AND `impressions` turned
    from a whole number into text ('12.5k', which dlt cannot coerce to bigint). The ingest must
    fail, naming the column and the contract, and leave raw_marketing.ad_spend as it was: same
    rows (count and content hash), same columns (no `reach`, no `impressions__v_text` variant),
    no new finished load. Then a conforming run must land: fails if the refused package stays
    pending and wedges every later run (it did: fixed in connectors/ingest.py)."""
    from connectors.ingest import IngestError

    before = _ad_spend_table(company)
    with pytest.raises(IngestError) as failure:
        _ingest_ad_spend(company, _ad_spend_rows(company, impressions="12.5k", reach=4000), monkeypatch)
    message = str(failure.value)
    assert "schema contract" in message and "impressions" in message and "freeze" in message, message
    assert _ad_spend_table(company) == before

    conforming = _ad_spend_rows(company, clicks=7)
    result = _ingest_ad_spend(company, conforming, monkeypatch)
    assert result.rows_loaded.get("ad_spend") == len(conforming), result
    with duckdb.connect(str(company.duckdb_path), read_only=True) as con:
        assert con.execute("select count(*) from raw_marketing.ad_spend where file_name = 'v2_export.csv' "
                           "and clicks = 7").fetchone()[0] == len(conforming)


def test_an_extra_column_evolves_and_the_marts_still_build(company, tmp_path, monkeypatch):
    """Checklist #8, `evolve`: the same v2 export with only the extra column (the types as
    before). The column is added, every value of the export lands as delivered (none NULL: not
    `reach`, not the existing columns), and the pipeline's `dbt build` of everything downstream
    of ad spend passes, the enforced contract of rpt_source_freshness included. Fails if dlt
    drops or nulls a value, or if staging's explicit column list lets the new column break a mart."""
    rows = _ad_spend_rows(company, reach=4000)
    _ingest_ad_spend(company, rows, monkeypatch)

    after = _ad_spend_table(company)
    assert ("reach", "BIGINT") in after["columns"]
    assert not [c for c, _ in after["columns"] if "__v_" in c], after["columns"]
    keys = " or ".join(f"(date = '{r['date']}' and platform = '{r['platform']}' and campaign_id = '{r['campaign_id']}')"
                       for r in rows)
    with duckdb.connect(str(company.duckdb_path), read_only=True) as con:
        landed = con.execute(f"select campaign_id, impressions, clicks, spend, reach, file_name "
                             f"from raw_marketing.ad_spend where {keys} order by all").fetchall()
    assert landed == sorted((r["campaign_id"], r["impressions"], r["clicks"], r["spend"], 4000, "v2_export.csv")
                            for r in rows)

    proc = _dbt(["build", "--select", "source:raw_marketing.ad_spend+", "--exclude-resource-type", "unit_test"],
                company, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "rpt_source_freshness" in proc.stdout


# -- #14 -------------------------------------------------------------------------------------------
# rpt_funnel_conversion is the project's big join (every journey x stage x dimension; the profile
# notes it spilling under 3GB at 1M leads). Measured on the 400-lead sandbox company (the session's
# `built_company`, so no extra landing), 2 cores under load (load average ~5):
#   LTC_DBT_MEMORY_LIMIT   spill (temp dir peak)   peak RSS of dbt   wall
#   all marts, 3GB         0 B                     ~247 MB           33 s
#   all marts, 128MB       1.3 MB                  ~242 MB           43 s
#   fct_* only, 128MB/96MB 0 B                     ~210 MB           36 s
#   rpt_funnel_conv, 128MB 0 B                     ~212 MB           53 s (load)
#   rpt_funnel_conv, 64MB  3.7-4.4 MB, 3 files     203-215 MB        21-49 s
#   48MB / 32MB            fct_lead_to_cash and others fail: "Out of Memory Error: could not
#                          allocate block" (what DuckDB cannot spill), so 64MB is the floor.
# A bigger sandbox would spill at a saner limit, but landing it alone costs more than the 2 min
# budget. The RSS is mostly dbt itself (Python, dbt-core, the manifest: ~200 MB at any limit).
SPILL_LIMIT_MB = 64
DBT_OVERHEAD_MB = 320  # dbt's own peak RSS (measured 203-247 MB) plus headroom


def _dir_bytes(folder: Path) -> int:
    size = 0
    for path in folder.glob("*") if folder.is_dir() else []:
        try:
            size += path.stat().st_size
        except OSError:  # deleted between listing and stat
            pass
    return size


def _peak_rss_kib(pid: int) -> int | None:
    """VmHWM of a live process: the peak RSS of its own address space since exec. (Not
    `ru_maxrss` from wait4: a child's counts the pytest process it was forked from, ~430 MB
    measured, against ~200 MB of VmHWM for the same dbt run.)"""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _run_sampling(cmd, env, cwd, folder: Path, out: Path) -> tuple[int, int, int]:
    """Run `cmd`, sampling every 10 ms the bytes in `folder` (DuckDB deletes its spill files when
    a query ends) and the process's peak RSS. Returns (exit code, peak bytes, peak RSS in KiB)."""
    import threading

    peak = {"bytes": 0, "rss": 0}
    stop = threading.Event()
    with out.open("w") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)

        def sample():
            while not stop.is_set():
                peak["bytes"] = max(peak["bytes"], _dir_bytes(folder))
                peak["rss"] = max(peak["rss"], _peak_rss_kib(proc.pid) or 0)
                stop.wait(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            proc.wait(timeout=500)
        finally:
            stop.set()
            sampler.join()
    return proc.returncode, peak["bytes"], peak["rss"]


def test_the_big_join_completes_under_a_low_memory_limit_by_spilling(company, tmp_path):
    """Checklist #14 (duckdb#6733, OOM on a big join): rpt_funnel_conversion rebuilt with the
    profile's memory limit (LTC_DBT_MEMORY_LIMIT) at 64MB, the lowest at which the marts still
    build. The build must complete, DuckDB must have spilled (bytes appeared in its temp_directory,
    `<warehouse>.tmp` by default: the limit really was exceeded), and the dbt process's peak RSS
    must stay under dbt's own overhead plus twice the limit. Fails if the limit is not applied
    (no spill), if DuckDB fails instead of spilling, or if memory grows past the limit anyway."""
    with duckdb.connect(str(company.duckdb_path)) as con:  # where DuckDB will spill: ask it
        temp_dir = Path(con.execute("select current_setting('temp_directory')").fetchone()[0])
    cmd, env, cwd = _dbt_command(["run", "--full-refresh", "--select", "rpt_funnel_conversion"], company, tmp_path,
                                 LTC_DBT_MEMORY_LIMIT=f"{SPILL_LIMIT_MB}MB")
    status, spilled, rss_kib = _run_sampling(cmd, env, cwd, temp_dir, tmp_path / "dbt.out")
    output = (tmp_path / "dbt.out").read_text()
    print(f"memory_limit {SPILL_LIMIT_MB}MB: spilled {spilled} bytes, peak RSS {rss_kib // 1024} MB")
    assert status == 0, output[-3000:]
    assert spilled > 0, f"no spill into {temp_dir}: the {SPILL_LIMIT_MB}MB limit was never exceeded"
    assert rss_kib // 1024 < DBT_OVERHEAD_MB + 2 * SPILL_LIMIT_MB, f"peak RSS {rss_kib // 1024} MB"
