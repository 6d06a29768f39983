"""`kill -9` of `ltc ingest salesforce` mid-run, then a normal re-run, lands exactly what a clean run lands.

Why this test exists: a scheduled ingest can die at any instant (OOM killer, a drained node, a
laptop lid). Nothing then gets to clean up: dlt's half-written load package stays in the pipeline
folder, the DuckDB file was closed mid-transaction, and the incremental cursors may or may not have
been committed. dlt keeps its state and load ids in the warehouse next to the data
(`connectors/landing.py`), so the next ordinary run has to repair all of that by itself: no stale
lock, no duplicate ids, no lost rows, no cursor ahead of the data, and it must still read the org
rather than only finish the old package.

How: the org is the sandbox company (`generate(seed=7)`) served by a `FakeSalesforce` with 200-row
REST pages, so a run needs dozens of requests. The ingest runs as a real subprocess (the `ltc` CLI)
with its own LTC_HOME and is SIGKILLed at a point chosen deterministically:

* extract: the fake *holds* the N-th request (the run's 3rd follow-up REST page, mid-way through
  the leads; N taken from the clean run's request log) until the process is dead, so exactly N-1 responses were served;
* normalize / load: no more requests are made, so the test polls the pipeline folder (with a
  deadline) for dlt's package directory (`load/new/<id>` while normalizing, three `*.sql` merge
  jobs in `load/normalized/<id>/completed_jobs` while loading) and kills as soon as it appears,
  then checks that the package really was left unfinished.

After the crash the ingest runs again to completion in the same LTC_HOME (in this process, through
`run_ingest`, the function the CLI calls, with the same environment) and every `raw_salesforce`
table is compared, row for row over all business columns (not dlt's `_dlt_load_id`/`_dlt_id` nor
the per-run `_loaded_at` stamp), with a clean uncrashed run into another LTC_HOME against the same
org; ids are unique, each Id set equals the org's, and the incremental cursors committed in the
warehouse equal the clean run's.

Checklist #1 (reliability-and-performance.md §9): right after each kill, before the re-run, the
warehouse is reopened and every raw table must be as before the run or as a complete run leaves
it, never in between, with no staging leftovers (`torn_tables`). That check is proven able to
fail by a test-local writer that reloads a table in autocommit and is killed half-way (the
reference's scenario B), next to the same writer inside a transaction (scenario A), which passes.

Checklist #1/#2, the marts side: a kill in dlt's load step leaves some raw tables with rows of a
load `_dlt_loads` does not list as finished (`half_applied_loads`) until the next salesforce ingest
finishes the package. In that window `pending_loads` (connectors/ingest.py) must name the package
and the dbt asset must fail before dbt starts, with that message (`_assert_dbt_refuses`); after the
re-run ingest nothing is pending. After a kill before the load step the check must stay quiet.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from connectors.ingest import HalfAppliedLoad, IngestResult, pending_loads, refuse_half_applied_loads, run_ingest
from connectors.marts_file import copy_warehouse
from connectors.salesforce.source import DEFAULT_OBJECTS, table_name
from connectors.sandbox.fake_salesforce import FakeSalesforce
from connectors.sandbox.generator import generate
from connectors.settings import Settings

pytestmark = pytest.mark.timeout(240)

SCALE = 1000  # leads; with the rest of the sandbox company a few thousand records
BATCH = 200  # REST page size: a few dozen query pages
PIPELINE = "ltc_salesforce"
RUN_COLUMNS = {"_dlt_load_id", "_dlt_id", "_loaded_at"}  # differ per run by design (load id, run stamp)
DEADLINE_S = 90.0


class GatedFake(FakeSalesforce):
    """A FakeSalesforce that can hold one request (by its index from `arm()`) until `release()`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._hold_at: int | None = None
        self.holding = threading.Event()
        self._release = threading.Event()

    def arm(self, nth: int) -> None:
        """Hold the `nth` request from now on (1 = the next one) without answering it."""
        with self._lock:
            self._hold_at = len(self.requests) + nth
            self.holding.clear()
            self._release.clear()

    def release(self) -> None:
        with self._lock:
            self._hold_at = None
        self._release.set()

    def handle(self, method, raw_path, headers, body):
        with self._lock:
            hold = self._hold_at is not None and len(self.requests) + 1 == self._hold_at
        if hold:
            self.holding.set()
            self._release.wait(timeout=DEADLINE_S)
        return super().handle(method, raw_path, headers, body)


# ---- helpers -----------------------------------------------------------------------------------


def _ltc_command() -> list[str]:
    script = Path(sys.executable).with_name("ltc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestration.cli"]


def _env(home: Path, fake: FakeSalesforce) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LTC_", "SALESFORCE_", "DAGSTER_"))}
    env.update(
        LTC_HOME=str(home),
        SALESFORCE_INSTANCE_URL=fake.url,
        SALESFORCE_ACCESS_TOKEN=fake.access_token,
    )
    return env


def _start_ingest(home: Path, fake: FakeSalesforce) -> subprocess.Popen:
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [*_ltc_command(), "ingest", "salesforce"],
        env=_env(home, fake),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _settings(home: Path, fake: FakeSalesforce) -> Settings:
    """What `ltc ingest salesforce` would read from `_env(home, fake)`."""
    with pytest.MonkeyPatch.context() as env:
        for name in os.environ:
            if name.startswith(("LTC_", "SALESFORCE_")):
                env.delenv(name)
        for name, value in _env(home, fake).items():
            env.setenv(name, value)
        return Settings.from_env()


def _run_ingest(home: Path, fake: FakeSalesforce) -> IngestResult:
    """A normal run to completion, in this process through the CLI's entry point (`run_ingest`)."""
    home.mkdir(parents=True, exist_ok=True)
    try:
        return run_ingest("salesforce", _settings(home, fake))
    except Exception as exc:  # the re-run after a crash must just work: show why it did not
        pytest.fail(f"ingest in {home} failed: {type(exc).__name__}: {exc}")


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"expected death by SIGKILL, got exit {proc.returncode}"


def _wait_for(condition, proc: subprocess.Popen, what: str) -> object:
    """Poll `condition()` (tight loop, deadline) until it returns something truthy."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the ingest ended (exit {proc.returncode}) before {what}; the kill point was "
                        f"missed\n{err.strip()}\n{out.strip()}")
        time.sleep(0.001)
    proc.kill()
    pytest.fail(f"timed out after {DEADLINE_S} s waiting for {what}")


def _pipeline_dir(home: Path) -> Path:
    return home / "dlt" / PIPELINE  # Settings.dlt_dir / pipeline name (connectors/landing.py)


def _data_tables(con) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = 'raw_salesforce' "
        "and table_name not like '\\_dlt\\_%' escape '\\' order by 1"
    ).fetchall()
    return [r[0] for r in rows]


def _landed(home: Path) -> dict[str, dict]:
    """Per raw table: its business columns and the set of rows over them, plus the id list."""
    out = {}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        for table in _data_tables(con):
            cols = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = 'raw_salesforce' "
                "and table_name = ? order by ordinal_position", [table]).fetchall() if c not in RUN_COLUMNS]
            select = ", ".join(f'"{c}"' for c in cols)
            rows = con.execute(f'select {select} from raw_salesforce."{table}"').fetchall()
            ids = [r[0] for r in con.execute(f'select id from raw_salesforce."{table}"').fetchall()]
            out[table] = {"columns": sorted(cols), "rows": set(rows), "count": len(rows), "ids": ids}
    return out


def _cursors(home: Path) -> dict[str, object]:
    """The incremental cursors in the newest pipeline state committed to the warehouse."""
    from dlt.common.versioned_state import decompress_state

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        blob = con.execute(
            "select state from raw_salesforce._dlt_pipeline_state where pipeline_name = ? "
            "order by version desc, created_at desc limit 1", [PIPELINE]).fetchone()[0]
    resources = decompress_state(blob)["sources"]["salesforce"]["resources"]
    return {name: {cursor: inc.get("last_value") for cursor, inc in res.get("incremental", {}).items()}
            for name, res in sorted(resources.items())}


def _digests(warehouse: Path) -> dict[str, tuple[int, int]]:
    """Per `raw_salesforce` data table: (row count, order-independent hash of its business rows)."""
    if not warehouse.exists():
        return {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        out = {}
        for table in _data_tables(con):
            cols = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = 'raw_salesforce' "
                "and table_name = ? order by ordinal_position", [table]).fetchall() if c not in RUN_COLUMNS]
            row = ", ".join(f'"{c}"' for c in cols)
            out[table] = con.execute(
                f'select count(*), coalesce(sum(hash(({row}))::hugeint), 0) from raw_salesforce."{table}"').fetchone()
    return out


def torn_tables(warehouse: Path, before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """Checklist #1's check, right after a kill and before anything reruns: every raw table is
    either exactly as it was before the killed run (`before`; absent = empty) or exactly as a
    complete run leaves it (`after`), never in between; and no dataset or table the run only
    stages in is left (dlt's `raw_salesforce_staging`, dbt-style `__tmp`/`__backup` names)
    beyond what a complete run leaves. Returns what is wrong; empty when intact."""
    problems = []
    now = _digests(warehouse)
    empty = (0, 0)
    for table in sorted(set(now) | set(before)):
        if table not in after:
            problems.append(f"raw_salesforce.{table}: a table a complete run does not have")
            continue
        state = now.get(table, empty)
        if state not in (before.get(table, empty), after[table]):
            problems.append(f"raw_salesforce.{table}: {state[0]} rows, neither the {before.get(table, empty)[0]} "
                            f"before the run nor the {after[table][0]} of a complete run")
    if warehouse.exists():
        with duckdb.connect(str(warehouse), read_only=True) as con:
            stray = con.execute(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where table_schema like 'raw\\_salesforce%' escape '\\' and table_schema <> 'raw_salesforce' "
                "and table_schema <> 'raw_salesforce_staging' or table_name similar to '.*__(tmp|backup|dbt_tmp).*'"
            ).fetchall()
        problems += [f"{name}: a staging leftover" for (name,) in stray]
    return problems


def half_applied_loads(warehouse: Path) -> dict[str, list[str]]:
    """Per `raw_salesforce` table, the `_dlt_load_id`s of its rows that `_dlt_loads` does not list
    as finished (status 0): rows of a load package that was only partly applied."""
    if not warehouse.exists():
        return {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = _data_tables(con)
        if not tables:
            return {}
        found = {}
        for table in tables:
            ids = con.execute(
                f'select distinct _dlt_load_id from raw_salesforce."{table}" where _dlt_load_id not in '
                "(select load_id from raw_salesforce._dlt_loads where status = 0)").fetchall()
            if ids:
                found[table] = sorted(i for (i,) in ids)
    return found


def _assert_dbt_refuses(home: Path, fake: FakeSalesforce, load_ids: list[str], monkeypatch) -> None:
    """The dbt asset, materialized in process (as tests/reliability/test_checklist_runtime.py's #13
    test does) in `home`'s environment, fails its step with the half-applied-load message naming
    `load_ids`, without starting dbt: no dbt call, no materialization."""
    import dagster as dg

    from orchestration.defs.transform.dbt import LtcDbtCliResource, dbt_resource, ltc_dbt_models
    from orchestration.prepare import prepare_dbt_manifest

    prepare_dbt_manifest()
    for name in os.environ:
        if name.startswith(("LTC_", "SALESFORCE_")):
            monkeypatch.delenv(name)
    for name, value in _env(home, fake).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DBT_TARGET_PATH", str(home / "dbt_target"))  # not the shared project target
    monkeypatch.setenv("DBT_LOG_PATH", str(home / "dbt_logs"))
    dbt_calls = []

    def no_dbt(self, args, **kwargs):
        dbt_calls.append(args)
        raise AssertionError(f"dbt was started: {args}")

    monkeypatch.setattr(LtcDbtCliResource, "cli", no_dbt)
    seed = next(key for key in ltc_dbt_models.keys if key.path[-1] == "ltc_stage_mapping")
    result = dg.materialize([ltc_dbt_models], selection=[seed], resources={"dbt": dbt_resource()},
                            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    assert dbt_calls == []
    assert result.get_asset_materialization_events() == []
    failures = [str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure]
    assert failures, "the dbt step did not fail"
    assert "dbt was not run" in failures[0] and "`ltc ingest salesforce`" in failures[0], failures[0]
    assert all(load_id in failures[0] for load_id in load_ids), failures[0]


def assert_same_landing(home: Path, reference: dict[str, dict], reference_cursors: dict, org: FakeSalesforce) -> None:
    landed = _landed(home)
    expected_tables = sorted(table_name(o) for o in DEFAULT_OBJECTS)
    assert sorted(landed) == expected_tables
    assert sorted(reference) == expected_tables
    for obj in DEFAULT_OBJECTS:
        table = table_name(obj)
        got, want = landed[table], reference[table]
        assert len(got["ids"]) == len(set(got["ids"])), f"duplicate ids in raw_salesforce.{table}"
        assert set(got["ids"]) == set(org.store[obj]), f"raw_salesforce.{table}: landed Id set != org's"
        assert got["columns"] == want["columns"], f"raw_salesforce.{table}: columns differ from the clean run"
        assert got["count"] == want["count"], f"raw_salesforce.{table}: {got['count']} rows, clean run {want['count']}"
        missing, extra = want["rows"] - got["rows"], got["rows"] - want["rows"]
        assert not missing and not extra, (
            f"raw_salesforce.{table}: {len(missing)} rows of the clean run missing, {len(extra)} rows differ; "
            f"e.g. missing {sorted(missing, key=repr)[:1]}, extra {sorted(extra, key=repr)[:1]}"
        )
    assert _cursors(home) == reference_cursors, "incremental cursors differ from the clean run's"


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    data = tmp_path_factory.mktemp("org")
    generate(data, seed=7, scale=SCALE)
    fake = GatedFake(data, batch_size=BATCH)
    fake.start()
    yield fake
    fake.release()
    fake.stop()


@pytest.fixture(scope="module")
def clean(org, tmp_path_factory):
    """One uncrashed run: the reference landing, its cursors, and the requests such a run makes."""
    home = tmp_path_factory.mktemp("clean") / "ltc_home"
    since = len(org.requests)
    _run_ingest(home, org)
    requests = org.requests[since:]
    assert sum("/query/" in r for r in requests) >= 15, "the org should need many REST pages"
    landed = _landed(home)
    return landed, _cursors(home), requests, home


# ---- the crash points ----------------------------------------------------------------------------
# Each is (which request to hold, or None; what to wait for and kill). `requests` is the request
# log of the clean run, which the crashed run repeats (same org, same code).


def _nth_query_page(n: int):
    """The n-th follow-up REST page of the run (paging the first big object, the leads)."""
    return lambda requests: [i for i, r in enumerate(requests, start=1) if "/query/" in r][n - 1]


def _kill_at_held_request(proc, org, home) -> str:
    if not org.holding.wait(DEADLINE_S):
        pytest.fail("the request to hold never arrived")
    _kill(proc)
    return f"request {org._hold_at} held, {len(org.requests)} served before it"


def _kill_in_normalize(proc, org, home) -> str:
    folder = _pipeline_dir(home) / "load" / "new"
    found = _wait_for(lambda: folder.is_dir() and [p for p in folder.iterdir() if p.is_dir()], proc,
                      "dlt started normalizing (load/new/<load_id>)")
    _kill(proc)
    load_id = found[0].name
    normalized = _pipeline_dir(home) / "load" / "normalized" / load_id
    assert not normalized.exists(), "normalize had finished when the process died: the kill point was missed"
    return f"normalize of package {load_id}"


def _kill_in_load(proc, org, home) -> str:
    normalized = _pipeline_dir(home) / "load" / "normalized"

    def merged():
        return sorted(normalized.glob("*/completed_jobs/*.sql")) if normalized.is_dir() else []

    _wait_for(lambda: len(merged()) >= 3, proc, "three tables merged in the load step")
    _kill(proc)
    unfinished = [p for p in normalized.iterdir() if p.is_dir()]
    assert unfinished, "the load had finished when the process died: the kill point was missed"
    done = len(list(unfinished[0].glob("completed_jobs/*")))
    total = len(list(unfinished[0].glob("*_jobs/*")))
    return f"load of package {unfinished[0].name}, {done} of {total} jobs done ({len(merged())} merges)"


CRASH_POINTS = {
    "extract": (_nth_query_page(3), _kill_at_held_request),
    "normalize": (None, _kill_in_normalize),
    "load": (None, _kill_in_load),
}


def _crash(point: str, home: Path, org: GatedFake, requests: list[str]) -> str:
    hold, kill = CRASH_POINTS[point]
    if hold is not None:
        org.arm(hold(requests))
    proc = _start_ingest(home, org)
    try:
        return kill(proc, org, home)
    finally:
        org.release()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.timeout(420)  # the load point also materializes the dbt asset in process
@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_rerun_after_kill_9_lands_what_a_clean_run_lands(point, org, clean, tmp_path, monkeypatch):
    reference, reference_cursors, requests, clean_home = clean
    home = tmp_path / "ltc_home"
    where = _crash(point, home, org, requests)
    print(f"{point}: SIGKILL during {where}")
    # checklist #1, before anything reruns: the first run of this home died, so every raw table
    # must be absent/empty (as before it) or whole (as a complete run leaves it)
    problems = torn_tables(home / "warehouse.duckdb", before={}, after=_digests(clean_home / "warehouse.duckdb"))
    assert not problems, f"right after the kill ({where}): {problems}"
    half_applied = half_applied_loads(home / "warehouse.duckdb")
    reported = pending_loads(_settings(home, org))
    if point != "load":
        assert not half_applied, f"killed before the load step, yet rows of an unfinished load landed: {half_applied}"
        assert reported == {}, f"killed before the load step, yet a half-applied load is reported: {reported}"
    else:
        # dlt commits each table's load job on its own: the tables whose jobs finished (5 to 14 of
        # 16 in our runs) hold rows of a load `_dlt_loads` does not list. dbt reads raw tables
        # without filtering on finished loads, so the dbt asset must refuse until the next ingest
        assert half_applied, f"killed in the load step ({where}), yet no table holds rows of the unfinished load"
        unfinished = sorted({load_id for ids in half_applied.values() for load_id in ids})
        assert reported == {"salesforce": unfinished}, (reported, half_applied)
        with pytest.raises(HalfAppliedLoad, match="dbt was not run"):
            refuse_half_applied_loads(_settings(home, org))
        with monkeypatch.context() as env:
            _assert_dbt_refuses(home, org, unfinished, env)

    since = len(org.requests)
    _run_ingest(home, org)
    assert_same_landing(home, reference, reference_cursors, org)

    # the re-run repaired *and* read the org: one queryAll per object, as a clean run does (dlt's
    # `Pipeline.run` alone would only finish a pending package and return without extracting)
    queried = [r for r in org.requests[since:] if "/queryAll" in r]
    assert len(queried) == sum("/queryAll" in r for r in requests), "the re-run did not read every object"

    # and the pipeline folder is steady again: nothing left pending for the next run
    pipeline = _pipeline_dir(home)
    for stage in ("load/new", "load/normalized", "normalize/extracted"):
        pending = [p.name for p in (pipeline / stage).iterdir() if p.is_dir()]
        assert not pending, f"load package(s) {pending} still pending in {stage}"
    assert not half_applied_loads(home / "warehouse.duckdb")
    assert pending_loads(_settings(home, org)) == {}, "the re-run ingest left a half-applied load"
    refuse_half_applied_loads(_settings(home, org))  # dbt may build again


# ---- the checker can fail: a writer without the wrapping transaction (reference §4, scenario B) ---

_WRITER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
if sys.argv[2] == "transaction":
    con.execute("begin")
# a reload of raw_salesforce.lead: delete, then insert the rows again; killed in between
con.execute("create temp table reload as select * from raw_salesforce.lead")
con.execute("delete from raw_salesforce.lead where id in (select id from reload order by id limit 300)")
print("deleted", flush=True)
time.sleep(120)  # the insert that never comes
con.execute("insert into raw_salesforce.lead select * from reload anti join raw_salesforce.lead using (id)")
"""


@pytest.mark.parametrize("mode", ["transaction", "autocommit"])
def test_the_torn_table_check_catches_a_writer_without_a_transaction(mode, clean, tmp_path):
    """Checklist #1's negative control: the check above (`torn_tables`) must be able to fail. A
    test-local reload of `raw_salesforce.lead` (delete 300 rows, then insert them again) is
    SIGKILLed between the two. Inside one transaction (scenario A) the table is intact on reopen;
    in autocommit (scenario B) the delete is committed and 300 rows are gone, which the check must
    report. Fails if the check passes a torn table, or flags an intact one."""
    *_, clean_home = clean
    warehouse = tmp_path / "warehouse.duckdb"
    copy_warehouse(clean_home / "warehouse.duckdb", warehouse)
    before = _digests(warehouse)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(warehouse), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "deleted", proc.stderr.read()
    finally:
        _kill(proc)
    problems = torn_tables(warehouse, before=before, after=before)  # a complete reload changes nothing
    if mode == "transaction":
        assert not problems, problems
    else:
        assert problems == [f"raw_salesforce.lead: {before['lead'][0] - 300} rows, neither the "
                            f"{before['lead'][0]} before the run nor the {before['lead'][0]} of a complete run"]
