"""Orchestration overhead: `python -m benchmarks.orchestration [--scale 2000] [--repeat 3]`.

What does Dagster cost on top of the work it orchestrates? Issue 6 defines the overhead as the wall
time of a full in-process run (`orchestration.pipeline.run_full_refresh`, what `make demo` runs)
minus the dbt build alone, minus the ingest alone. Targets: the definitions load in <= 5 s, the
overhead is <= 15 s. The sandbox company (seed 42, `--scale` leads, served locally) is generated
once; then, side by side in each repeat, each mode in a FRESH child process with a fresh LTC_HOME:

  defs_load: import `orchestration.definitions` and resolve the repository (the manifest is
             precomputed, as `make dbt-parse` leaves it), from the child's first line
  full:      run_full_refresh: ingest of every system + GE checks + one dbt build + the report
  ingest:    connectors.ingest.run_ingest for every system, in the job's order, no Dagster
  checks:    every raw GE suite (expectations.warehouse.validate_raw_table) on the ingested warehouse
  dbt:       `dbt build` with the job's arguments, on a copy of the ingested warehouse
  report:    reports.edition.publish_reports (every report, the workbook, the PDF) on a copy
             of the built warehouse
  docs:      the `reports/docs` asset's work (dbt docs + GE Data Docs) on a copy of the built
             warehouse, GX imported before the clock starts (the run's checks imported it)

`--dagster-storage postgres` runs `full` with the instance in a fresh Postgres database on
127.0.0.1 (LTC_DAGSTER_PG_*) instead of SQLite under LTC_HOME.

overhead = full - ingest - dbt (the issue's definition; it still holds the checks and the report),
and dagster_only = full - ingest - checks - dbt - report - docs, both from the medians. Results:
`benchmarks/results/orchestration.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

from benchmarks.common import child_env, machine
from connectors.marts_file import copy_warehouse

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
MODES = ("defs_load", "ingest", "checks", "dbt", "report", "docs", "full")
TARGETS = {"defs_load_seconds": 5.0, "overhead_seconds": 15.0}
# the dbt child's build writes the shared target/ (its manifest is the one the docs child documents)
# set (to "1") by a driver that serves the sandbox's sources itself, with their env
SERVED = "LTC_BENCH_SOURCES_SERVED"
DBT_MANIFEST = ROOT / "dbt_project" / "target" / "manifest.json"


# ---- the measured children -----------------------------------------------------------------------

def _child_defs_load() -> dict:
    started = time.perf_counter()
    from orchestration.definitions import defs

    repo = defs.get_repository_def()
    assets = len(repo.asset_graph.get_all_asset_keys())
    return {"seconds": time.perf_counter() - started, "assets": assets}


def _serving(home: Path):
    """The sandbox's fake APIs for this child, unless the driver already serves them from a
    process of their own (benchmarks/scale.py does: at 100k leads the two fakes take 18 s to load,
    which every ingest child paid again, and a real Salesforce is not part of the pipeline)."""
    from connectors.settings import Settings
    from orchestration.cli import serving_sandbox

    if os.environ.get(SERVED) == "1":
        return nullcontext()
    return serving_sandbox(Settings.from_env())


def _child_full(home: Path) -> dict:
    from connectors.settings import Settings
    from orchestration.pipeline import run_full_refresh

    with _serving(home):
        started = time.perf_counter()
        summary = run_full_refresh(Settings.from_env(), log_level="WARNING")
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "materialized": len(summary.materialized)}


def _child_ingest(home: Path, keep: Path | None, systems: list[str] | None = None) -> dict:
    from connectors.ingest import run_ingest
    from connectors.settings import SYSTEMS, Settings

    settings = Settings.from_env()
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with _serving(home):
        started = time.perf_counter()
        rows = 0
        for system in systems or SYSTEMS:
            rows += sum(run_ingest(system, Settings.from_env()).rows_loaded.values())
        seconds = time.perf_counter() - started
    if keep is not None and not keep.exists():
        copy_warehouse(settings.duckdb_path, keep)
    return {"seconds": seconds, "rows": rows}


def _child_checks(home: Path) -> dict:
    """Every raw suite, in the warehouse, as the pipeline's raw checks validate it
    (expectations/warehouse.py): on Postgres (LTC_WAREHOUSE=postgres) each table's checked columns
    (key + the suite's) are first copied into an in-memory DuckDB, table by table, and validated
    there by the same in-database engine. The copy is inside the measured time."""
    from connectors.settings import Settings
    from expectations.suites import SUITES_BY_SYSTEM
    from expectations.warehouse import validate_raw_table

    settings = Settings.from_env()
    started = time.perf_counter()
    failed = []
    for system, specs in SUITES_BY_SYSTEM.items():
        for table in specs:
            summary = validate_raw_table(settings, system, table)
            if not summary.success:
                failed.append(summary.suite_name)
    suites = sum(len(specs) for specs in SUITES_BY_SYSTEM.values())
    return {"seconds": time.perf_counter() - started, "suites": suites, "failed_suites": failed}


def _child_dbt(home: Path, keep: Path | None) -> dict:
    """The dbt build, as a daily run does it: with dbt's partial parse warm. Every bench home is a
    new warehouse path, and dbt-duckdb's profile hash holds the path, so the first dbt call on a
    home re-parses the whole project ("Unable to do partial parsing because profile has changed":
    3.5 s of a 7 s trivial build, measured). A pipeline on one warehouse pays that once, on its
    first run; the parse is therefore done first, untimed, and reported as `parse_seconds`."""
    from connectors.settings import Settings
    from orchestration.defs.transform.dbt import DBT_PROJECT_DIR, dbt_build_args, dbt_target, dbt_vars_args
    from orchestration.prepare import dbt_executable

    settings = Settings.from_env()
    settings.export_paths()
    env = {**os.environ, "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)}
    target = ["--target", dbt_target(settings)]
    parse_started = time.perf_counter()
    _dbt(["parse", *dbt_vars_args(settings), *target], env)
    parse_seconds = time.perf_counter() - parse_started
    started = time.perf_counter()
    _dbt([*dbt_build_args(settings), *target], env)
    seconds = time.perf_counter() - started
    if keep is not None and not keep.exists():
        copy_warehouse(settings.duckdb_path, keep)  # with the marts file dbt built beside it
    return {"seconds": seconds, "parse_seconds": parse_seconds}


def _dbt(args: list[str], env: dict[str, str]) -> None:
    from orchestration.defs.transform.dbt import DBT_PROJECT_DIR
    from orchestration.prepare import dbt_executable

    proc = subprocess.run([dbt_executable(), *args], cwd=DBT_PROJECT_DIR, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"dbt {args[0]} failed:\n{proc.stdout[-3000:]}")


def _child_report(home: Path) -> dict:
    from connectors.settings import Settings
    from reports.edition import publish_reports

    settings = Settings.from_env()
    started = time.perf_counter()
    edition = publish_reports(settings)
    return {"seconds": time.perf_counter() - started, "files": len(edition.files)}


def _child_docs(home: Path) -> dict:
    from connectors.settings import Settings
    from expectations import data_docs  # noqa: F401 - GX, imported by the run's checks already
    from reports.docs_site import publish_data_docs, publish_dbt_docs

    settings = Settings.from_env()
    settings.export_paths()
    started = time.perf_counter()
    publish_dbt_docs(settings, manifest_path=DBT_MANIFEST)
    publish_data_docs(settings)
    return {"seconds": time.perf_counter() - started}


def _child(args) -> None:
    home = Path(args.home) if args.home else None
    keep = Path(args.keep) if args.keep else None
    if args.child == "defs_load":
        out = _child_defs_load()
    elif args.child == "full":
        out = _child_full(home)
    elif args.child == "ingest":
        out = _child_ingest(home, keep, args.system)
    elif args.child == "checks":
        out = _child_checks(home)
    elif args.child == "dbt":
        out = _child_dbt(home, keep)
    elif args.child == "docs":
        out = _child_docs(home)
    else:
        out = _child_report(home)
    # the larger of this process and its largest child: the dbt phase runs dbt as a subprocess and
    # the report prints its PDF in Chromium (ru_maxrss of RUSAGE_CHILDREN is the largest one's)
    out["peak_rss_mb"] = round(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024, 1)
    print("RESULT " + json.dumps(out, default=str))


# ---- the driver ---------------------------------------------------------------------------------

def _fresh_home(tmp: Path, sandbox: Path, as_of: str, warehouse: Path | None = None) -> dict[str, str]:
    """A new LTC_HOME holding a copy of the sandbox (and of `warehouse`, when given)."""
    home = Path(tempfile.mkdtemp(dir=tmp, prefix="home-"))
    shutil.copytree(sandbox, home / "sandbox")
    if warehouse is not None:
        copy_warehouse(warehouse, home / "warehouse.duckdb")
    env = child_env(tmp, LTC_HOME=str(home), LTC_AS_OF=as_of, LTC_FINANCE_SETTLE_S="0")
    for name in list(env):
        if name.startswith(("LTC_", "SALESFORCE_")) and name not in (
                "LTC_HOME", "LTC_AS_OF", "LTC_FINANCE_SETTLE_S", "LTC_REQUIRE_SERVICES"):
            env.pop(name)
    return env


def _run_child(mode: str, env: dict, keep: Path | None = None) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.orchestration", "--child", mode, "--home", env["LTC_HOME"]]
    if keep is not None:
        cmd += ["--keep", str(keep)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    line = next(l for l in reversed(proc.stdout.splitlines()) if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


@contextmanager
def _postgres_instance_db(enabled: bool):
    """The LTC_DAGSTER_PG_* variables of a fresh Dagster database on 127.0.0.1 (dropped after), or
    nothing: `--dagster-storage postgres` measures the full run with Postgres instance storage."""
    if not enabled:
        yield {}
        return
    import uuid

    import psycopg2

    name = f"ltc_bench_dagster_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    try:
        admin.cursor().execute(f'create database "{name}"')
        yield {"LTC_DAGSTER_PG_HOST": "127.0.0.1", "LTC_DAGSTER_PG_DB": name}
    finally:
        admin.cursor().execute(f'drop database if exists "{name}" with (force)')
        admin.close()


def _one_repeat(tmp: Path, sandbox: Path, as_of: str, ingested: Path, built: Path, pg: bool) -> dict:
    runs = {"defs_load": _run_child("defs_load", _fresh_home(tmp, sandbox, as_of))}
    runs["ingest"] = _run_child("ingest", _fresh_home(tmp, sandbox, as_of), keep=ingested)
    runs["checks"] = _run_child("checks", _fresh_home(tmp, sandbox, as_of, ingested))
    runs["dbt"] = _run_child("dbt", _fresh_home(tmp, sandbox, as_of, ingested), keep=built)
    runs["report"] = _run_child("report", _fresh_home(tmp, sandbox, as_of, built))
    runs["docs"] = _run_child("docs", _fresh_home(tmp, sandbox, as_of, built))
    with _postgres_instance_db(pg) as storage_env:
        runs["full"] = _run_child("full", {**_fresh_home(tmp, sandbox, as_of), **storage_env})
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dagster-storage", choices=("sqlite", "postgres"), default="sqlite",
                        help="instance storage of the full run (postgres: a fresh database on 127.0.0.1)")
    parser.add_argument("--out", default=None,
                        help="results file (default benchmarks/results/orchestration[_postgres].json)")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--keep", help=argparse.SUPPRESS)
    parser.add_argument("--system", action="append", help=argparse.SUPPRESS)  # ingest child: only these
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0

    from connectors.sandbox import generate
    from orchestration.prepare import prepare_dbt_manifest

    prepare_dbt_manifest()  # precomputed, as `make dbt-parse` leaves it
    with tempfile.TemporaryDirectory(prefix="ltc-bench-orch-") as tmp_name:
        tmp = Path(tmp_name)
        sandbox = tmp / "sandbox"
        truth = generate(sandbox, seed=42, scale=args.scale)
        ingested, built = tmp / "ingested.duckdb", tmp / "built.duckdb"
        # one untimed warm-up fills the children's shared bytecode cache (benchmarks/common.py)
        _run_child("defs_load", _fresh_home(tmp, sandbox, truth["as_of"]))
        runs = []
        for i in range(args.repeat):
            runs.append(_one_repeat(tmp, sandbox, truth["as_of"], ingested, built,
                                    pg=args.dagster_storage == "postgres"))
            print(f"repeat {i + 1}: " + ", ".join(f"{m} {r['seconds']:.2f} s" for m, r in runs[-1].items()),
                  flush=True)

    median = {m: round(statistics.median(r[m]["seconds"] for r in runs), 2) for m in MODES}
    overhead = round(median["full"] - median["ingest"] - median["dbt"], 2)
    dagster_only = round(overhead - median["checks"] - median["report"] - median["docs"], 2)
    result = {
        "benchmark": "orchestration",
        "command": f"python -m benchmarks.orchestration --scale {args.scale} --repeat {args.repeat} "
                   f"--dagster-storage {args.dagster_storage}",
        "scale": args.scale, "repeats": args.repeat, "dagster_storage": args.dagster_storage,
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine("dagster", "dagster-dbt", "dbt-core", "dlt", "duckdb"),
        "median_seconds": median,
        "median_peak_rss_mb": {m: statistics.median(r[m]["peak_rss_mb"] for r in runs) for m in MODES},
        "overhead_seconds": overhead, "dagster_only_seconds": dagster_only,
        "targets": TARGETS,
        "meets_targets": median["defs_load"] <= TARGETS["defs_load_seconds"]
        and overhead <= TARGETS["overhead_seconds"],
        "runs": runs,
    }
    suffix = "" if args.dagster_storage == "sqlite" else "_postgres"
    out = Path(args.out) if args.out else RESULTS / f"orchestration{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_seconds", "overhead_seconds", "dagster_only_seconds",
                                              "meets_targets")}, indent=2))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
