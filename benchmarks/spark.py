"""Does the dbt project give the same marts on Spark? `python -m benchmarks.spark --scale 10000`.

Issue 8's "beyond one machine": the same sandbox company (one generation, copied) lands twice,
into DuckDB (LTC_WAREHOUSE=duckdb) and as Parquet files through dlt's filesystem destination
(LTC_WAREHOUSE=spark); dbt builds the DuckDB warehouse (target `dev`) and, over the Parquet files,
Spark in local mode (target `spark`: dbt-spark's session method, pyspark in the dbt process).
Then every mart is compared: the same marts, the same columns, every row equal as a multiset
(order-independent), Decimals compared exactly and with the same scale on both sides. Only the
wall-clock landing times of `rpt_source_freshness` differ by design (two landings) and are left out.

The Spark side runs in a child process (`--child spark`), so its JVM lives and dies with it: the
child registers the Parquet raw tables (`dbt run-operation spark_register_raw`), builds the seeds
and models (`--dbt-command run`, the default; `build` adds every data and unit test, run on Spark),
and writes each mart to Arrow IPC for the parent to compare. Results (timings per phase) land in
`benchmarks/results/spark_<scale>.json`; tests/spark/test_spark_marts.py runs the same check at a
smaller scale. Needs the `spark` extra (`pip install -e ".[spark]"`) and Java 17.

Measured (10k leads, 2 cores shared with other benchmarks, load average ~10): equal; DuckDB's dbt
build 246 s, Spark 750 s of which 213 s dbt parse + JVM start + registering 31 raw tables, 480 s
building 66 seeds and models. Spark's cost is mostly per statement: the same build at 400 leads
took 364 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = ROOT / "dbt_project"
RESULTS = Path(__file__).resolve().parent / "results"
SYSTEMS = ("salesforce", "erp", "finance", "marketing")
SEED = 42
# Columns that hold the wall-clock time of a landing, which differs between the two landings of
# the same company by construction; every other column of every mart must be equal.
WALL_CLOCK_COLUMNS = {"rpt_source_freshness": {"last_loaded_at", "stalest_table_loaded_at"}}


def spark_available() -> tuple[bool, str]:
    """(True, '') when pyspark, dbt-spark and a Java runtime are installed, else (False, why)."""
    import importlib.util

    missing = [name for name, module in (("pyspark", "pyspark"), ("dbt-spark", "dbt.adapters.spark"))
               if importlib.util.find_spec(module) is None]
    if missing:
        return False, f"{', '.join(missing)} not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return False, "no Java runtime (Spark needs Java 17: apt-get install openjdk-17-jre-headless)"
    return True, ""


# ---- the two landings ---------------------------------------------------------------------------

def _clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LTC_", "SALESFORCE_", "DBT_")) or k == "LTC_REQUIRE_SERVICES"}
    env.update(values)
    return env


def generate_company(sandbox: Path, scale: int, seed: int = SEED) -> str:
    """The sandbox company under `sandbox`; returns its as-of date."""
    from connectors.sandbox import generate

    return str(generate(sandbox, seed=seed, scale=scale)["as_of"])


def land(home: Path, warehouse: str) -> dict[str, float]:
    """Land the sandbox under `home`/sandbox into `warehouse` (duckdb | spark) in a child process
    (the connectors read the environment); seconds per system."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.spark", "--child", "land", "--home", str(home)],
                          cwd=ROOT, capture_output=True, text=True,
                          env=_clean_env(LTC_HOME=str(home), LTC_WAREHOUSE=warehouse, LTC_FINANCE_SETTLE_S="0"))
    if proc.returncode != 0:
        raise RuntimeError(f"landing into {warehouse} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child_land(home: Path) -> dict[str, float]:
    from connectors.ingest import run_ingest
    from connectors.settings import Settings
    from orchestration.cli import serving_sandbox

    seconds = {}
    with serving_sandbox(Settings.from_env()):
        settings = Settings.from_env()  # now with the sandbox's sources and as-of date
        settings.export_paths()
        for system in SYSTEMS:
            started = time.perf_counter()
            run_ingest(system, settings)
            seconds[system] = round(time.perf_counter() - started, 2)
    return seconds


def landed_tables(raw_path: Path) -> list[str]:
    """The "<schema>.<table>" folders under `raw_path` that hold Parquet files (dlt's own
    `_dlt_*` tables left out): what `spark_register_raw` registers."""
    return sorted(f"{folder.parent.name}.{folder.name}"
                  for folder in raw_path.glob("raw_*/*")
                  if folder.is_dir() and not folder.name.startswith("_dlt") and any(folder.glob("*.parquet")))


# ---- the two dbt builds -------------------------------------------------------------------------

def _dbt_args(target: str, work: Path) -> list[str]:
    return ["--target", target, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(work / f"dbt_target_{target}"), "--log-path", str(work / f"dbt_logs_{target}")]


def build_duckdb(home: Path, as_of: str) -> float:
    """`dbt build --target dev` over `home`'s warehouse.duckdb; seconds."""
    from orchestration.prepare import dbt_executable

    started = time.perf_counter()
    proc = subprocess.run([dbt_executable(), "build", "--vars", json.dumps({"as_of": as_of}),
                           *_dbt_args("dev", home)],
                          cwd=DBT_PROJECT_DIR, capture_output=True, text=True,
                          env=_clean_env(LTC_HOME=str(home), LTC_DUCKDB_PATH=str(home / "warehouse.duckdb")))
    if proc.returncode != 0:
        raise RuntimeError("dbt build on DuckDB failed:\n" + _dbt_failures(proc.stdout))
    return round(time.perf_counter() - started, 2)


def build_spark(home: Path, as_of: str, marts_out: Path, command: str = "run") -> dict:
    """In a child process: register `home`/raw in Spark, `dbt <command> --target spark`, and write
    every mart to `marts_out`/<name>.arrow. Returns the child's timings."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.spark", "--child", "spark", "--home", str(home), "--as-of", as_of,
         "--marts-out", str(marts_out), "--dbt-command", command],
        cwd=ROOT, capture_output=True, text=True,
        # one process registers, builds and reads: Spark's in-memory catalog, no Derby metastore
        env=_clean_env(LTC_HOME=str(home), LTC_SPARK_HOME=str(home / "spark"), LTC_SPARK_CATALOG="in-memory",
                       SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable))
    (home / "spark_child.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"dbt on Spark failed (log: {home / 'spark_child.log'}):\n"
                           + _dbt_failures(proc.stdout) + "\n" + proc.stderr[-1500:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _dbt_failures(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if "ERROR" in line or "FAIL " in line or "Error" in line]
    return "\n".join(lines[:60]) + f"\n...\n{stdout[-3000:]}"


# `run`: the seeds and models only, all the marts need, in one invocation; `build`: also every data
# and unit test, on Spark (hundreds more Spark jobs: much slower). Not clean yet: on pyspark 4.3 the
# unit test fct_orders::test_fct_orders_delivered_and_invoiced_rollups failed inside Spark
# (ClassCastException deserialising a UnionExec of its fixture rows) and dbt then hung.
DBT_STEPS = {"run": ["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"],
             "build": ["build"]}


def _child_spark(home: Path, as_of: str, marts_out: Path, command: str, select: list[str] = ()) -> dict:
    from dbt.cli.main import dbtRunner

    timings: dict[str, float] = {}
    runner = dbtRunner()
    tables = landed_tables(home / "raw")
    # the same --vars on both invocations: the second then reuses the first's parse (partial parsing)
    common = ["--vars", json.dumps({"as_of": as_of}), *_dbt_args("spark", home)]
    started = time.perf_counter()
    # the first query starts the JVM with the profile's Spark settings
    result = runner.invoke(["run-operation", "spark_register_raw", "--args",
                            json.dumps({"raw_path": str(home / "raw"), "tables": tables}), *common])
    if not result.success:
        raise SystemExit(f"spark_register_raw failed: {result.exception}")
    timings["dbt_parse_spark_start_and_register"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    result = runner.invoke([*DBT_STEPS[command], *select, *common])
    timings[f"dbt_{command}"] = round(time.perf_counter() - started, 2)
    if not result.success:
        raise SystemExit(f"dbt {command} on Spark failed")
    started = time.perf_counter()
    timings["marts"] = export_spark_marts(marts_out)
    timings["export"] = round(time.perf_counter() - started, 2)
    return timings


def export_spark_marts(out: Path) -> int:
    """Every table of Spark's `marts` database as `out`/<name>.arrow (Arrow IPC); how many."""
    import pyarrow as pa
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()  # the session dbt started in this process
    out.mkdir(parents=True, exist_ok=True)
    names = [row.tableName for row in spark.sql("show tables in marts").collect() if not row.isTemporary]
    for name in names:
        table = spark.table(f"marts.{name}").toArrow()
        with pa.OSFile(str(out / f"{name}.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    return len(names)


# ---- the comparison -----------------------------------------------------------------------------

def duckdb_marts(warehouse: Path) -> dict:
    """Every table of the DuckDB warehouse's `marts` schema, as Arrow tables."""
    import duckdb

    from connectors.marts_file import marts_database

    con = duckdb.connect(str(marts_database(warehouse)), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "and table_type = 'BASE TABLE'").fetchall()]
        return {name: con.sql(f'select * from marts."{name}"').to_arrow_table() for name in names}
    finally:
        con.close()


def spark_marts(folder: Path) -> dict:
    import pyarrow as pa

    out = {}
    for path in sorted(folder.glob("*.arrow")):
        with pa.memory_map(str(path)) as source:
            out[path.stem] = pa.ipc.open_file(source).read_all()
    return out


def _normal(value):
    """A cell as comparable across the engines: timestamps as naive UTC (DuckDB's TIMESTAMP is
    naive, Spark's an instant in the UTC session), everything else as is (Decimals exact)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def compare_mart(name: str, left, right, examples: int = 5) -> list[str]:
    """What differs between the DuckDB (`left`) and Spark (`right`) versions of one mart: columns,
    decimal scales, and rows as a multiset. An empty list when they are equal."""
    import pyarrow as pa

    problems = []
    skip = WALL_CLOCK_COLUMNS.get(name, set())
    if left.column_names != right.column_names:
        problems.append(f"{name}: columns differ: duckdb {left.column_names} vs spark {right.column_names}")
        return problems
    columns = [c for c in left.column_names if c not in skip]
    for column in columns:
        lt, rt = left.schema.field(column).type, right.schema.field(column).type
        if pa.types.is_decimal(lt) != pa.types.is_decimal(rt) or (pa.types.is_decimal(lt) and lt.scale != rt.scale):
            problems.append(f"{name}.{column}: type duckdb {lt} vs spark {rt}")
        if pa.types.is_floating(lt) or pa.types.is_floating(rt):
            problems.append(f"{name}.{column}: a float column (duckdb {lt}, spark {rt}): money must be DECIMAL")

    def rows(table) -> Counter:
        data = [table.column(c).to_pylist() for c in columns]
        return Counter(tuple(_normal(v) for v in row) for row in zip(*data))

    lrows, rrows = rows(left), rows(right)
    if lrows != rrows:
        only_left, only_right = lrows - rrows, rrows - lrows
        problems.append(
            f"{name}: {left.num_rows} rows on DuckDB, {right.num_rows} on Spark; "
            f"{sum(only_left.values())} only on DuckDB, {sum(only_right.values())} only on Spark\n"
            f"  columns {columns}\n"
            + "".join(f"  duckdb only: {r}\n" for r in list(only_left)[:examples])
            + "".join(f"  spark only:  {r}\n" for r in list(only_right)[:examples]))
    return problems


def compare_marts(duckdb_side: dict, spark_side: dict) -> list[str]:
    problems = []
    if set(duckdb_side) != set(spark_side):
        problems.append(f"marts differ: only on DuckDB {sorted(set(duckdb_side) - set(spark_side))}, "
                        f"only on Spark {sorted(set(spark_side) - set(duckdb_side))}")
    for name in sorted(set(duckdb_side) & set(spark_side)):
        problems += compare_mart(name, duckdb_side[name], spark_side[name])
    return problems


# ---- the whole check ----------------------------------------------------------------------------

def run_equality_check(work: Path, scale: int, seed: int = SEED, command: str = "run") -> dict:
    """Generate, land twice, build twice, compare; the timings, row counts and problems found."""
    timings: dict[str, float] = {}
    duck_home, spark_home = work / "duckdb_home", work / "spark_home"
    duck_home.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    as_of = generate_company(duck_home / "sandbox", scale, seed)
    timings["generate"] = round(time.perf_counter() - started, 2)
    shutil.copytree(duck_home / "sandbox", spark_home / "sandbox")  # the same company, byte for byte

    for name, home, warehouse in (("duckdb", duck_home, "duckdb"), ("parquet", spark_home, "spark")):
        started = time.perf_counter()
        per_system = land(home, warehouse)
        timings[f"land_{name}"] = round(time.perf_counter() - started, 2)
        timings.update({f"land_{name}:{s}": v for s, v in per_system.items()})
    timings["dbt_duckdb"] = build_duckdb(duck_home, as_of)
    started = time.perf_counter()
    child = build_spark(spark_home, as_of, work / "spark_marts", command)
    timings["spark_total"] = round(time.perf_counter() - started, 2)
    timings.update({f"spark:{k}": v for k, v in child.items() if k != "marts"})

    started = time.perf_counter()
    left, right = duckdb_marts(duck_home / "warehouse.duckdb"), spark_marts(work / "spark_marts")
    problems = compare_marts(left, right)
    timings["compare"] = round(time.perf_counter() - started, 2)
    return {"as_of": as_of, "timings": timings, "problems": problems,
            "marts": {name: table.num_rows for name, table in sorted(left.items())},
            "raw_tables": landed_tables(spark_home / "raw")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--dbt-command", default="run", choices=tuple(DBT_STEPS))
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--child", choices=("land", "spark"), help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    parser.add_argument("--marts-out", help=argparse.SUPPRESS)
    parser.add_argument("--select", nargs="*", help=argparse.SUPPRESS)  # a developer's loop: dbt --select
    args = parser.parse_args(argv)

    if args.child == "land":
        print(json.dumps(_child_land(Path(args.home))))
        return 0
    if args.child == "spark":
        select = ["--select", *args.select] if args.select else []
        print(json.dumps(_child_spark(Path(args.home), args.as_of, Path(args.marts_out), args.dbt_command, select)))
        return 0

    from benchmarks.common import machine

    ok, why = spark_available()
    if not ok:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ltc-bench-spark-"))
    if args.keep and work.exists():
        shutil.rmtree(work)
    started = time.perf_counter()
    try:
        outcome = run_equality_check(work, args.scale, args.seed, args.dbt_command)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "benchmark": "spark",
        "scale": args.scale,
        "seed": args.seed,
        "dbt_command": args.dbt_command,
        "equal": not outcome["problems"],
        "wall_seconds": round(time.perf_counter() - started, 2),
        **outcome,
        "machine": machine("dbt-core", "dbt-duckdb", "dbt-spark", "pyspark", "duckdb", "dlt"),
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"spark_{args.scale}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: result[k] for k in ("equal", "wall_seconds", "timings")}, indent=2))
    for problem in outcome["problems"]:
        print(problem, file=sys.stderr)
    print(f"wrote {out}")
    return 0 if result["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
