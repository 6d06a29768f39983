"""The floor: `python -m benchmarks.floor --home <LTC_HOME> | --scale N [--repeat 3]`.

Issue 8 asks how far the pipeline's transform is from what the engine can do on this machine. The
floor is benchmarks/floor.sql: ONE hand-tuned DuckDB script computing the five core marts
(fct_lead_to_cash, fct_cash_applications, fct_ar_aging, rpt_funnel_conversion, rpt_cash_collection)
straight from the landed raw tables and the seeds' CSV files, no dbt, no Dagster. This module runs
it, proves its marts equal the pipeline's, and measures, alternately in one run, each in a FRESH
process on a fresh copy of the same raw-only (post-ingest) warehouse:

  floor      the script (schema `floor`), timed in its process from connect to close (checkpoint
             included); `floor_process` is the whole child process, Python start included
  dbt_core   ONE dbt invocation building the same five marts: `build --select +<each mart>
             --resource-type seed --resource-type model` (`dbt run` cannot load the seeds, which the
             floor reads within its time), with the pipeline's --vars and --target
  dbt_build  the full `dbt build` exactly as the pipeline runs it
             (orchestration.defs.transform.dbt.dbt_build_args + --target)

in the order floor, dbt_core, dbt_build, floor, ... Both dbt modes run at one warehouse path and one
target folder, after one untimed `dbt parse`, so dbt reuses its partial parse as the pipeline does
from its second run on (orchestration.prepare.keep_partial_parse). After each round the floor's
marts are compared with each dbt run's `marts.<mart>`: same columns and types, same row count, and
EXCEPT ALL empty both ways (DECIMALs compare exactly). Medians, ratio_core = dbt_core / floor and
ratio_build = dbt_build / floor, and the runs land in benchmarks/results/floor_<scale>.json. Each
run also records its CPU seconds (every thread; the process's own rusage) and the *_cpu ratios: on a
machine other work shares, wall time measures the scheduler too, CPU time the work.

The raw-only warehouse: `--home` copies <home>/warehouse.duckdb and drops every schema but raw_*
(a built home, as `benchmarks.scale --keep-home` leaves it, holds the raw tables as landed);
`--scale N` generates the sandbox company (seed 42, as benchmarks.scale) and lands it with the
benchmarks' own ingest children. Everything stays in DuckDB: no table is read into Python, so any
scale works; `--memory-limit` and the temp directory under the work folder let DuckDB spill.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import child_env, machine
from connectors.marts_file import companion_files, marts_database, marts_path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SCRIPT = Path(__file__).resolve().parent / "floor.sql"
DBT_PROJECT = ROOT / "dbt_project"
SEEDS = DBT_PROJECT / "seeds"
MARTS = ("fct_lead_to_cash", "fct_cash_applications", "fct_ar_aging", "rpt_funnel_conversion",
         "rpt_cash_collection")
PIPELINE_SCHEMA = "marts"  # generate_schema_name: the marts' custom schema, verbatim
FLOOR_SCHEMA = "floor"
MODES = ("floor", "dbt_core", "dbt_build")
# the dbt_project.yml vars the script reads (its SET VARIABLE names are the same)
SCRIPT_VARS = ("reporting_currency", "invoice_reference_pattern", "cash_application_reference_pattern",
               "cash_application_write_off_max_amount", "cash_application_write_off_max_percent",
               "ar_aging_history_months")


# ---- the floor script ------------------------------------------------------------------------------

def _literal(value) -> str:
    """A dbt var as the SQL literal dbt renders: `{{ var(...) }}` prints str(value)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def floor_parameters(as_of: str | None = None, seeds_dir: Path = SEEDS) -> dict[str, str]:
    """The script's variables as SQL literals: dbt_project.yml's vars (what the pipeline runs with,
    but for the as-of date it passes with --vars), the as-of date and the seeds folder."""
    import yaml

    project_vars = yaml.safe_load((DBT_PROJECT / "dbt_project.yml").read_text())["vars"]
    params = {name: _literal(project_vars.get(name)) for name in SCRIPT_VARS}
    params["as_of"] = _literal(dt.date.fromisoformat(str(as_of or project_vars["as_of"])))
    params["seeds_dir"] = _literal(str(seeds_dir))
    return params


def floor_script(con) -> str:
    """floor.sql, reading Salesforce's tombstones when raw_salesforce.deleted_records has landed."""
    sql = SCRIPT.read_text()
    landed = con.execute("select count(*) from information_schema.tables "
                         "where table_schema = 'raw_salesforce' and table_name = 'deleted_records'").fetchone()[0]
    if landed:
        sql = sql.replace("-- @tombstones", "INSERT INTO sf_tombstones SELECT sobject, id "
                                            "FROM raw_salesforce.deleted_records;")
    return sql


def run_floor(db_path: Path, as_of: str | None = None, *, seeds_dir: Path = SEEDS,
              memory_limit: str | None = None, temp_directory: Path | None = None) -> dict[str, float]:
    """Run the floor script on `db_path` (writes schema `floor`): wall and CPU seconds (this
    process, every DuckDB thread) from connect to close."""
    import duckdb

    config = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if temp_directory is not None:
        config["temp_directory"] = str(temp_directory)
    params = floor_parameters(as_of, seeds_dir)
    started, cpu_started = time.perf_counter(), time.process_time()
    con = duckdb.connect(str(db_path), config=config)
    try:
        for name, literal in params.items():
            con.execute(f"SET VARIABLE {name} = {literal}")
        con.execute(floor_script(con))
    finally:
        con.close()
    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu_started}


# ---- equality --------------------------------------------------------------------------------------

def _columns(con, relation: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"describe {relation}").fetchall()]


def compare_marts(con, floor: str = FLOOR_SCHEMA, pipeline: str = PIPELINE_SCHEMA) -> dict[str, dict]:
    """Per mart: the floor's relation `<floor>.<mart>` against the pipeline's `<pipeline>.<mart>` (both
    reachable from `con`; a schema may be qualified by an attached database, `pipe.marts`)."""
    out = {}
    for mart in MARTS:
        left, right = f"{floor}.{mart}", f"{pipeline}.{mart}"
        columns_equal = _columns(con, left) == _columns(con, right)
        rows = con.execute(f"select (select count(*) from {left}), (select count(*) from {right})").fetchone()
        only_floor = only_pipeline = None
        if columns_equal:
            only_floor = con.execute(
                f"select count(*) from (select * from {left} except all select * from {right})").fetchone()[0]
            only_pipeline = con.execute(
                f"select count(*) from (select * from {right} except all select * from {left})").fetchone()[0]
        out[mart] = {
            "equal": columns_equal and rows[0] == rows[1] and only_floor == 0 and only_pipeline == 0,
            "columns_equal": columns_equal, "floor_rows": rows[0], "pipeline_rows": rows[1],
            "only_in_floor": only_floor, "only_in_pipeline": only_pipeline,
        }
    return out


def compare_files(floor_db: Path, pipeline_db: Path) -> dict[str, dict]:
    import duckdb

    con = duckdb.connect(str(floor_db), read_only=True)
    try:
        con.execute(f"attach '{marts_database(pipeline_db)}' as pipe (read_only)")
        return compare_marts(con, FLOOR_SCHEMA, f"pipe.{PIPELINE_SCHEMA}")
    finally:
        con.close()


# ---- the raw-only warehouse ------------------------------------------------------------------------

def raw_only_copy(source: Path, target: Path) -> None:
    """`source` copied to `target` with every schema but raw_* dropped: the warehouse as ingest left
    it (dbt writes nothing into raw_*)."""
    import duckdb

    shutil.copy(source, target)
    wal = Path(f"{source}.wal")
    if wal.exists():
        shutil.copy(wal, Path(f"{target}.wal"))
    con = duckdb.connect(str(target))
    try:
        schemas = [r[0] for r in con.execute(
            "select schema_name from information_schema.schemata "
            "where catalog_name = current_database() and schema_name not like 'raw\\_%' escape '\\' "
            "and schema_name not in ('information_schema', 'pg_catalog')").fetchall()]
        for schema in schemas:
            if schema == "main":
                for name, kind in con.execute(
                        "select table_name, table_type from information_schema.tables "
                        "where table_catalog = current_database() and table_schema = 'main'").fetchall():
                    con.execute(f'drop {"view" if kind == "VIEW" else "table"} main."{name}" cascade')
            else:
                con.execute(f'drop schema "{schema}" cascade')
        con.execute("checkpoint")
    finally:
        con.close()


def _landed_home(work: Path, scale: int) -> tuple[Path, str]:
    """Generate and land the sandbox company at `scale` (benchmarks.scale's children); the
    warehouse path and the as-of date."""
    from benchmarks.scale import SYSTEMS, _phase

    home = work / "home"
    home.mkdir()
    as_of = _phase("generate", work, home, scale, None)["as_of"]
    for system in SYSTEMS:
        _phase(f"ingest:{system}", work, home, scale, as_of)
    return home / "warehouse.duckdb", as_of


def _home_as_of(home: Path) -> str | None:
    truth = home / "sandbox" / "ground_truth.json"
    return json.loads(truth.read_text()).get("as_of") if truth.exists() else None


# ---- the measured runs -----------------------------------------------------------------------------

def _clean_env(work: Path, **extra: str) -> dict[str, str]:
    """The children's environment without the caller's LTC_* / SALESFORCE_* / DBT_* settings (as
    benchmarks.scale does; the Makefile exports LTC_HOME), plus `extra`; telemetry off, as in the
    pipeline (no network here), whatever the caller's environment says."""
    from connectors.settings import OFFLINE_DEFAULTS

    env = child_env(work)
    for name in list(env):
        if name.startswith(("LTC_", "SALESFORCE_", "DBT_")) and name != "LTC_REQUIRE_SERVICES":
            env.pop(name)
    return {**env, **OFFLINE_DEFAULTS, **extra}


def _wait(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[dict, int]:
    """Run `cmd`: its wall seconds, CPU seconds (user + system, every thread) and peak RSS (MB),
    of this child alone (os.wait4), and its exit code. CPU time is the figure that holds when other
    work shares the machine: wall time then measures the scheduler as much as the work."""
    with open(log, "w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": round(seconds, 3), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}, proc.returncode


class Runner:
    """The three modes, each on a fresh copy of the raw-only warehouse, in fresh processes."""

    def __init__(self, work: Path, raw: Path, as_of: str, memory_limit: str | None):
        from connectors.settings import Settings
        from orchestration.defs.transform.dbt import dbt_build_args, dbt_target
        from orchestration.prepare import dbt_executable

        self.work, self.raw, self.as_of, self.memory_limit = work, raw, as_of, memory_limit
        self.dbt_db = work / "dbt" / "warehouse.duckdb"
        self.dbt_db.parent.mkdir()
        settings = Settings(home=self.dbt_db.parent, duckdb_path=self.dbt_db,
                            as_of=dt.date.fromisoformat(as_of))
        build = dbt_build_args(settings)
        target = ["--target", dbt_target(settings)]
        select = ["--select", *(f"+{m}" for m in MARTS), "--resource-type", "seed", "--resource-type", "model"]
        if build[0] != "build":
            raise RuntimeError(f"unexpected dbt_build_args: {build}")
        self.dbt = dbt_executable()
        self.args = {"dbt_build": [*build, *target], "dbt_core": [*build, *select, *target]}
        self.parse_args = ["parse", *build[build.index("--vars"):build.index("--vars") + 2], *target] \
            if "--vars" in build else ["parse", *target]
        self.env = _clean_env(work, LTC_HOME=str(self.dbt_db.parent), LTC_DUCKDB_PATH=str(self.dbt_db),
                              LTC_AS_OF=as_of, DBT_PROFILES_DIR=str(DBT_PROJECT),
                              DBT_TARGET_PATH=str(work / "dbt_target"), DBT_LOG_PATH=str(work / "dbt_logs"))

    def warm_up(self) -> None:
        """Untimed: dbt's partial parse and the children's bytecode cache, and one floor run."""
        shutil.copy(self.raw, self.dbt_db)
        _, code = _wait([self.dbt, *self.parse_args], self.env, DBT_PROJECT, self.work / "dbt_parse.log")
        if code != 0:
            raise RuntimeError(f"dbt parse failed, see {self.work / 'dbt_parse.log'}")
        self.floor(self.work / "warm_floor.duckdb")
        (self.work / "warm_floor.duckdb").unlink()

    def floor(self, db: Path) -> dict:
        shutil.copy(self.raw, db)
        cmd = [sys.executable, "-m", "benchmarks.floor", "--child", "--db", str(db), "--as-of", self.as_of]
        if self.memory_limit:
            cmd += ["--memory-limit", self.memory_limit]
        log = db.with_suffix(".log")
        process, code = _wait(cmd, _clean_env(self.work), ROOT, log)
        lines = log.read_text().splitlines()
        if code != 0:
            raise RuntimeError("floor failed:\n" + "\n".join(lines[-30:]))
        inner = json.loads(next(l for l in reversed(lines) if l.startswith("RESULT "))[len("RESULT "):])
        return {"seconds": round(inner["seconds"], 3), "cpu_seconds": round(inner["cpu_seconds"], 3),
                "process_seconds": process["seconds"], "process_cpu_seconds": process["cpu_seconds"],
                "peak_rss_mb": process["peak_rss_mb"]}

    def dbt_run(self, mode: str, keep: Path) -> dict:
        """A full build: the raw-only warehouse and no marts file (connectors/marts_file.py), else
        the incremental marts would build on the last run's."""
        shutil.copy(self.raw, self.dbt_db)
        for leftover in companion_files(self.dbt_db):
            leftover.unlink(missing_ok=True)
        log = keep.with_suffix(".log")
        measured, code = _wait([self.dbt, *self.args[mode]], self.env, DBT_PROJECT, log)
        if code != 0:
            raise RuntimeError(f"{mode} failed:\n" + "\n".join(log.read_text().splitlines()[-30:]))
        shutil.move(self.dbt_db, keep)
        shutil.move(marts_path(self.dbt_db), marts_path(keep))
        return measured

    def round(self, i: int) -> dict:
        folder = self.work / f"round{i}"
        folder.mkdir()
        # run_floor.duckdb, not floor.duckdb: catalog "floor" would make schema "floor" ambiguous
        dbs = {mode: folder / f"run_{mode}.duckdb" for mode in MODES}
        runs = {"floor": self.floor(dbs["floor"])}
        for mode in ("dbt_core", "dbt_build"):
            runs[mode] = self.dbt_run(mode, dbs[mode])
        for mode in ("dbt_core", "dbt_build"):
            runs[mode]["marts"] = compare_files(dbs["floor"], dbs[mode])
        for path in folder.glob("*.duckdb*"):  # the logs stay for --keep-work
            path.unlink()
        return runs


def summarise(runs: list[dict]) -> dict:
    median = {mode: round(statistics.median(r[mode]["seconds"] for r in runs), 3) for mode in MODES}
    median["floor_process"] = round(statistics.median(r["floor"]["process_seconds"] for r in runs), 3)
    cpu = {mode: round(statistics.median(r[mode]["cpu_seconds"] for r in runs), 3) for mode in MODES}
    equal = {mode: {m: all(r[mode]["marts"][m]["equal"] for r in runs) for m in MARTS}
             for mode in ("dbt_core", "dbt_build")}
    return {
        "median_seconds": median,
        "median_peak_rss_mb": {mode: statistics.median(r[mode]["peak_rss_mb"] for r in runs) for mode in MODES},
        "ratio_core": round(median["dbt_core"] / median["floor"], 2),
        "ratio_build": round(median["dbt_build"] / median["floor"], 2),
        "median_cpu_seconds": cpu,
        "ratio_core_cpu": round(cpu["dbt_core"] / cpu["floor"], 2),
        "ratio_build_cpu": round(cpu["dbt_build"] / cpu["floor"], 2),
        "equal": equal,
        "all_equal": all(all(v.values()) for v in equal.values()),
        "rows": {m: runs[-1]["dbt_core"]["marts"][m]["pipeline_rows"] for m in MARTS},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--home", help="an LTC_HOME with a landed (or landed and built) warehouse.duckdb")
    source.add_argument("--scale", type=int, help="generate and land a sandbox company of this many leads")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--as-of", help="default: the home's sandbox ground truth, else dbt_project.yml")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit of the floor (default: DuckDB's, as dbt's)")
    parser.add_argument("--work-dir", help="parent of the work folder (default: the system temp folder)")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--keep-work", action="store_true", help="keep the work folder (dbt logs, last round)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        db = Path(args.db)
        measured = run_floor(db, args.as_of, memory_limit=args.memory_limit,
                             temp_directory=db.parent / f"{db.stem}_tmp")
        print("RESULT " + json.dumps(measured))
        return 0
    if not (args.home or args.scale):
        parser.error("give --home or --scale")

    work = Path(tempfile.mkdtemp(prefix="ltc-bench-floor-", dir=args.work_dir))
    try:
        raw = work / "raw.duckdb"
        if args.home:
            home = Path(args.home)
            raw_only_copy(home / "warehouse.duckdb", raw)
            as_of = args.as_of or _home_as_of(home) or "2025-12-31"
            scale = args.scale
            if scale is None:
                truth = home / "sandbox" / "ground_truth.json"
                scale = json.loads(truth.read_text()).get("scale") if truth.exists() else None
        else:
            landed, as_of = _landed_home(work, args.scale)
            raw_only_copy(landed, raw)
            as_of, scale = args.as_of or as_of, args.scale
            shutil.rmtree(work / "home")
        runner = Runner(work, raw, as_of, args.memory_limit)
        runner.warm_up()
        runs = []
        for i in range(args.repeat):
            runs.append(runner.round(i))
            r = runs[-1]
            print(f"round {i + 1}: floor {r['floor']['seconds']:.2f} s, dbt_core {r['dbt_core']['seconds']:.2f} s, "
                  f"dbt_build {r['dbt_build']['seconds']:.2f} s, equal "
                  f"{all(r[m]['marts'][x]['equal'] for m in ('dbt_core', 'dbt_build') for x in MARTS)}",
                  flush=True)
    finally:
        if args.keep_work:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    source_arg = f"--home {args.home}" if args.home else f"--scale {args.scale}"
    result = {
        "benchmark": "floor",
        "scale": scale,
        "command": f"python -m benchmarks.floor {source_arg} --repeat {args.repeat}"
                   + (f" --memory-limit {args.memory_limit}" if args.memory_limit else ""),
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine("dbt-core", "dbt-duckdb", "duckdb"),
        "as_of": as_of,
        "repeats": args.repeat,
        "dbt_args": runner.args,
        **summarise(runs),
        "runs": runs,
    }
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"floor_{scale if scale is not None else 'home'}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_seconds", "ratio_core", "ratio_build", "median_cpu_seconds",
                                              "ratio_core_cpu", "ratio_build_cpu", "all_equal")}, indent=2))
    print(f"written {path}")
    return 0 if result["all_equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
