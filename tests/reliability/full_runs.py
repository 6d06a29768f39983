"""Shared harness of the crash and concurrency tests: real `ltc run` processes on one sandbox company.

Why a harness: tests/reliability/test_crash_anywhere.py and test_concurrency_reliability.py both
need the whole refresh exactly as a user runs it (`ltc run`, a separate process that can be
SIGKILLed with everything it started), against one sandbox company whose fake sources are served
once by the test process, into as many LTC_HOMEs as they like. And both judge what a run left
behind the same way: the marts by the order-independent hash of benchmarks/incremental.py, the
raw tables by their keys, the published `latest` edition by its manifest.

Nothing here decides a verdict; the tests do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import duckdb

from connectors.marts_file import connect_warehouse

REPO_ROOT = Path(__file__).resolve().parents[2]
SANDBOX_SEED = 7
# What the child `ltc run` must not inherit from the test process: it gets the sandbox's sources
# and its own LTC_HOME, nothing else of ours.
_OWN_PREFIXES = ("LTC_", "SALESFORCE_", "DAGSTER_", "DBT_")


def ltc_command() -> list[str]:
    script = Path(sys.executable).with_name("ltc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestration.cli"]


# --------------------------------------------------------------------------- sources


@contextlib.contextmanager
def served_sandbox(root: Path, scale: int) -> Iterator[dict[str, str]]:
    """Generate the sandbox company once under `root` and serve its fake APIs for the block;
    yield the source environment (SALESFORCE_*, LTC_ERP_URL, LTC_AS_OF, ...) every run gets."""
    from connectors.sandbox import generate
    from connectors.settings import Settings
    from orchestration.cli import serving_sandbox

    home = root / "sources"
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.startswith(_OWN_PREFIXES)]:
            os.environ.pop(name)
        os.environ["LTC_HOME"] = str(home)
        settings = Settings.from_env()
        generate(settings.sandbox_dir, seed=SANDBOX_SEED, scale=scale)
        with serving_sandbox(settings) as env:
            yield dict(env)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_env(home: Path, sources: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env.update(sources)
    env["LTC_HOME"] = str(home)
    return env


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One `ltc run` child, the leader of its own process group (dbt, Chromium... are in it)."""

    proc: subprocess.Popen
    home: Path
    log: Path
    started: float = field(default_factory=time.monotonic)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_run(home: Path, sources: dict[str, str], log: Path, args: tuple[str, ...] = ("run",)) -> Run:
    home.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([*ltc_command(), *args], env=run_env(home, sources), cwd=REPO_ROOT,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Run(proc, home, log)


def finish(run: Run, timeout: float = 600) -> int:
    try:
        return run.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(run)
        raise AssertionError(f"`ltc run` in {run.home} did not finish in {timeout:.0f} s:\n{run.output()[-3000:]}")


def run_to_completion(home: Path, sources: dict[str, str], log: Path) -> float:
    """`ltc run` to the end; fail with its output unless it succeeds. Returns its wall time."""
    run = start_run(home, sources, log)
    code = finish(run)
    assert code == 0, f"`ltc run` in {home} failed (exit {code}):\n{run.output()[-4000:]}"
    return time.monotonic() - run.started


def kill_group(run: Run, timeout: float = 30) -> None:
    """SIGKILL the run and every process it started (its session's process group), and wait until
    none of them is left: a surviving dbt or Chromium would still hold files of the home."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(run.proc.pid, signal.SIGKILL)
    run.proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(run.proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {run.proc.pid} survived SIGKILL")


# --------------------------------------------------------------------------- where a run is


def run_dbs(home: Path) -> set[str]:
    """The names of the run event logs (one SQLite file per run) of the home's Dagster instance."""
    runs = home / "dagster" / "history" / "runs"
    return {p.name for p in runs.glob("*.db") if p.name != "index.db"} if runs.is_dir() else set()


def _run_db(home: Path, not_in: set[str] | None = None) -> Path | None:
    """The newest run's event log; with `not_in`, only a run that started after those (by file, not
    mtime: a later run writes into an earlier killed run's log when it marks that run failed)."""
    runs = home / "dagster" / "history" / "runs"
    dbs = [runs / name for name in run_dbs(home) - (not_in or set())]
    return max(dbs, key=lambda p: p.stat().st_mtime, default=None)


def step_events(home: Path, not_in: set[str] | None = None) -> list[tuple[str, str, float]]:
    """(event type, step key, unix time) of the step starts and ends of the newest run, read from
    Dagster's event log while the run writes it (read-only; a busy moment reads as no events)."""
    db = _run_db(home, not_in)
    if db is None:
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
        try:
            rows = con.execute(
                "select dagster_event_type, step_key, timestamp from event_logs where dagster_event_type in "
                "('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') order by id").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []
    return [(kind, step, dt.datetime.fromisoformat(ts).replace(tzinfo=dt.timezone.utc).timestamp())
            for kind, step, ts in rows]


def running_steps(home: Path, not_in: set[str] | None = None) -> list[str]:
    """Steps of the newest run that started and have not ended."""
    open_steps: list[str] = []
    for kind, step, _ in step_events(home, not_in):
        if kind == "STEP_START":
            open_steps.append(step)
        elif step in open_steps:
            open_steps.remove(step)
    return open_steps


def phase_of(steps: list[str]) -> str:
    """The pipeline phase a set of running steps is in, as the crash table names it."""
    if not steps:
        return "outside a step (start-up, between steps or wrap-up)"
    step = steps[-1]
    if step.startswith("ingest_"):
        return f"ingest {step.removeprefix('ingest_')}"
    if step == "ltc_dbt_models":
        return "dbt build"
    if step.startswith("reports__"):
        return f"reports {step.removeprefix('reports__')}"
    return step


# --------------------------------------------------------------------------- what a run left


def mart_hashes(warehouse: Path) -> dict[str, tuple]:
    """{mart: (rows, hash, columns)} by benchmarks/incremental.py's order-independent hash; the marts
    it excludes as run-specific (rpt_source_freshness: the wall clock of each load) are left out."""
    from benchmarks.incremental import EXCLUDED
    from benchmarks.incremental import mart_hashes as hashes

    return {name: (h["rows"], h["hash"], tuple(h["columns"]))
            for name, h in hashes(warehouse).items() if name not in EXCLUDED}


def raw_tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """{"raw_<system>.<table>": key columns} for every landed table, keys from dlt's stored schema
    (its primary key; all columns but dlt's per-load ones for a table that has none)."""
    out = {}
    schemas = [s for (s,) in con.execute(
        "select distinct table_schema from information_schema.tables where table_schema like 'raw\\_%' escape '\\' "
        "and table_schema not like '%\\_staging' escape '\\' order by 1").fetchall()]
    for schema in schemas:
        stored = con.execute(f'select schema from "{schema}"._dlt_version order by inserted_at desc limit 1').fetchone()
        tables = json.loads(stored[0])["tables"] if stored else {}
        for (table,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ? "
                "and table_name not like '\\_dlt\\_%' escape '\\' order by 1", [schema]).fetchall():
            columns = tables.get(table, {}).get("columns", {})
            key = [c for c, spec in columns.items() if spec.get("primary_key")]
            if not key:
                key = [c for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                    "and column_name not in ('_dlt_load_id', '_dlt_id', '_loaded_at') order by ordinal_position",
                    [schema, table]).fetchall()]
            out[f"{schema}.{table}"] = key
    return out


@dataclass(frozen=True)
class RawTable:
    rows: int
    distinct_keys: int
    keys: frozenset


def raw_landing(warehouse: Path) -> dict[str, RawTable]:
    """Per raw table: count(*), count(distinct key) and the key set."""
    out = {}
    with connect_warehouse(warehouse, read_only=True) as con:
        for name, key in raw_tables(con).items():
            schema, table = name.split(".", 1)
            cols = ", ".join(f'"{c}"' for c in key)
            rows, distinct = con.execute(
                f'select count(*), count(distinct ({cols})) from "{schema}"."{table}"').fetchone()
            keys = frozenset(con.execute(f'select distinct {cols} from "{schema}"."{table}"').fetchall())
            out[name] = RawTable(rows, distinct, keys)
    return out


# --------------------------------------------------------------------------- published editions


@dataclass(frozen=True)
class Seen:
    """One look at `reports/latest`: which edition folder it resolved to, and what was wrong."""

    folder: str | None
    problems: tuple[str, ...]


def _parseable(path: Path) -> str | None:
    """None when the file is whole for its kind, else why not."""
    data = path.read_bytes()
    if path.suffix == ".html":
        return None if data.rstrip().endswith(b"</html>") else "HTML does not end with </html>"
    if path.suffix == ".pdf":
        return None if _parseable_pdf(data) else "PDF without header or %%EOF"
    if path.suffix == ".xlsx":
        try:
            with zipfile.ZipFile(path) as book:
                bad = book.testzip()
                return None if bad is None and "xl/workbook.xml" in book.namelist() else f"xlsx damaged ({bad})"
        except zipfile.BadZipFile as exc:
            return f"xlsx is not a zip: {exc}"
    return None


def look_at_latest(reports_dir: Path, check_hashes: bool = True) -> Seen:
    """Resolve `latest` once (as a reader opening its files would) and check the edition behind it
    is complete: a manifest, every file it lists present with its size (and SHA-256), parseable.
    `latest` missing reads as folder None (nothing published yet), which is not a problem."""
    from reports.publish import MANIFEST

    latest = reports_dir / "latest"
    try:
        folder = latest.resolve(strict=True)
    except (OSError, RuntimeError):
        return Seen(None, () if not latest.is_symlink() else ("latest is a dangling link",))
    problems = []
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        for entry in manifest["files"]:
            path = folder / entry["name"]
            if not path.is_file():
                problems.append(f"{entry['name']} missing")
                continue
            if path.stat().st_size != int(entry["bytes"]):
                problems.append(f"{entry['name']}: {path.stat().st_size} bytes, manifest {entry['bytes']}")
            elif check_hashes:
                import hashlib

                if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
                    problems.append(f"{entry['name']}: SHA-256 differs from the manifest")
            why = _parseable(path)
            if why:
                problems.append(f"{entry['name']}: {why}")
        listed = {e["name"] for e in manifest["files"]} | {MANIFEST}
        extra = sorted(p.name for p in folder.iterdir() if p.name not in listed)
        if extra:
            problems.append(f"files not in the manifest: {extra}")
    except (OSError, ValueError, KeyError) as exc:
        problems.append(f"manifest unreadable: {type(exc).__name__}: {exc}")
    return Seen(folder.name, tuple(problems))


# What differs between two clean runs of the same company into two homes, found by diffing them
# (test_crash_anywhere.py's module docstring says which and why); each is blanked before comparing.
_CLOCK = rb"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?( ?UTC|Z|[+-]\d{2}:?\d{2})?"  # a moment, not a date
_SHA256 = rb"\b[0-9a-f]{64}\b"  # the index's hashes of the files (the PDF's bytes follow the clock)
_RUN_ID = rb"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"


def _normalised_html(data: bytes) -> bytes:
    for pattern in (_CLOCK, _SHA256, _RUN_ID):
        data = re.sub(pattern, b"<run-specific>", data)
    return data


def _normalised_xlsx(path: Path) -> bytes:
    """Every cell of every sheet, a moment (a datetime with a time of day: the summary's
    'generated at') blanked; the zip's member dates and docProps' created/modified left out."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    out = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            cells = ["<run-specific>" if isinstance(v, dt.datetime) and v.time() != dt.time() else repr(v)
                     for v in row]
            out.append(f"{sheet.title}|" + "|".join(cells))
    book.close()
    return "\n".join(out).encode()


def _normalised_manifest(data: bytes) -> bytes:
    """What the manifest promises beyond the clock: the as-of and the file names, in order (sizes and
    hashes follow the files, compared themselves)."""
    manifest = json.loads(data)
    return json.dumps([manifest["format"], manifest["as_of"], [f["name"] for f in manifest["files"]]]).encode()


def _normalised_pdf(data: bytes) -> bytes:
    """The PDF is the executive page printed by Chromium; its compressed page streams carry the
    page's clock (the trust panel), so its bytes differ between any two runs. Its text is compared
    through the HTML it was printed from; here: that it is a whole PDF, and its page count."""
    return b"pages=%d whole=%d" % (len(re.findall(rb"/Type\s*/Page\b", data)), _parseable_pdf(data))


def _parseable_pdf(data: bytes) -> bool:
    return data.startswith(b"%PDF") and b"%%EOF" in data[-1024:]


def normalised(path: Path) -> bytes:
    """The file's content without what differs between two clean runs (the run's clock and id)."""
    data = path.read_bytes()
    if path.suffix == ".xlsx":
        return _normalised_xlsx(path)
    if path.suffix == ".pdf":
        return _normalised_pdf(data)
    if path.suffix == ".json":
        return _normalised_manifest(data)
    return _normalised_html(data)


def edition_content(reports_dir: Path) -> dict[str, bytes]:
    """The latest edition's files (and the as-of `latest` names), normalised."""
    folder = (reports_dir / "latest").resolve(strict=True)
    content = {"latest ->": os.readlink(reports_dir / "latest").encode(),
               "index.html": _normalised_html((reports_dir / "index.html").read_bytes())}
    content.update({p.name: normalised(p) for p in sorted(folder.iterdir())})
    return content
