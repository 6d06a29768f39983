"""How fast is it on my data? `python -m benchmarks.scale --scales 10000 100000 [--repeat 3] [--warehouse postgres]`.

Issue 8's harness: for each scale (leads; the generator scales every other object with it), each
repeat in a fresh LTC_HOME, the phases run one after another, each in a FRESH child process so
that its wall time and its own peak RSS are measured alone:

  generate                 the sandbox company (not part of the total)
  ingest:<system>          extract and land one connector (salesforce, erp, finance, marketing)
  checks                   every raw GE suite, in the warehouse
  dbt                      one `dbt build` (models, seeds, tests)
  reports                  the whole edition: HTML, workbook, PDF, published

total = every phase but generate (ingest through reports). The sandbox's fake Salesforce and
HubSpot are served by a process of their own, started after generate and not timed: they stand for
remote systems, and loading them (18 s at 100k leads) belongs with generating the company. The
ingest children only talk to them (benchmarks.orchestration.SERVED). The children are those of
benchmarks/orchestration.py (the same code `make bench-orchestration` measures) plus `generate`
here. Medians over the repeats land in `benchmarks/results/scale_<N>.json`; `python -m
benchmarks.markdown` turns every results file into BENCHMARKS.md.

`--warehouse postgres` runs the same phases with the warehouse on Postgres: dlt's `postgres`
destination and dbt's `pg` target, in a FRESH database per repeat (`ltc_bench_<random>` on the
server of LTC_BENCH_PG_ADMIN, default postgresql://postgres@127.0.0.1:5432/postgres), dropped
afterwards whatever happened. Results: `scale_<N>_postgres.json`. Two phases read Postgres through
DuckDB (see POSTGRES_NOTES), and peak RSS is the client's alone: the server's memory is not in it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

from benchmarks.common import child_env, machine
from benchmarks.orchestration import SERVED

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = ("salesforce", "erp", "finance", "marketing")
PHASES = ("generate", *(f"ingest:{s}" for s in SYSTEMS), "checks", "dbt", "reports")
SEED = 42
WAREHOUSES = ("duckdb", "postgres")
PLACEHOLDER_PASSWORD = "trust"  # see postgres_env
# What a Postgres result means, printed beside it in BENCHMARKS.md.
POSTGRES_NOTES = (
    "checks: each raw table's checked columns are copied into an in-memory DuckDB and validated by "
    "the same in-database engine (expectations/sql_engine.py speaks DuckDB only); the copy is timed",
    "reports: the marts are copied into a DuckDB file first (reports/warehouse.py), as every "
    "edition on a Postgres warehouse does; the copy is timed",
    "peak RSS is the benchmark's client process; the Postgres server's memory is not counted",
)


def _child_generate(home: Path, scale: int) -> dict:
    from connectors.sandbox import generate

    started = time.perf_counter()
    truth = generate(home / "sandbox", seed=SEED, scale=scale)
    return {"seconds": time.perf_counter() - started, "as_of": truth["as_of"]}


def _child_serve(home: Path, ready: Path) -> None:
    """Serve the sandbox's fake Salesforce and HubSpot until killed, like the remote systems they
    stand for; their environment (a token included) goes to `ready`, readable by the owner only."""
    from connectors.settings import Settings
    from orchestration.cli import serving_sandbox

    with serving_sandbox(Settings.from_env()) as env:
        tmp = ready.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(env))
        tmp.replace(ready)
        while True:
            time.sleep(3600)


@contextmanager
def _sources(tmp: Path, home: Path, as_of: str) -> Iterator[dict[str, str]]:
    """Start the sources' server (not timed: loading them is part of the company, like generate)
    and yield the environment that points the phases at it."""
    ready = home / "sources.json"
    ready.unlink(missing_ok=True)  # a previous server's ports (benchmarks/incremental.py serves thrice)
    cmd = [sys.executable, "-m", "benchmarks.scale", "--child", "serve", "--home", str(home)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(tmp, home, as_of), stdout=subprocess.DEVNULL)
    try:
        while not ready.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"the sandbox sources' server exited with {proc.returncode}")
            time.sleep(0.2)
        yield {**json.loads(ready.read_text()), SERVED: "1"}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _env(tmp: Path, home: Path, as_of: str | None) -> dict[str, str]:
    env = child_env(tmp, LTC_HOME=str(home), LTC_FINANCE_SETTLE_S="0")
    for name in list(env):
        if name.startswith(("LTC_", "SALESFORCE_", "DBT_ENV_SECRET_PG")) and name not in (
                "LTC_HOME", "LTC_FINANCE_SETTLE_S", "LTC_REQUIRE_SERVICES"):
            env.pop(name)
    if as_of:
        env["LTC_AS_OF"] = as_of
    return env


def postgres_env(dsn: str) -> dict[str, str]:
    """What the pipeline needs to use the Postgres database `dsn` as its warehouse: dlt reads
    LTC_PG_DSN (connectors/landing.py), dbt's `pg` target LTC_PG_HOST/PORT/USER/DBNAME and
    DBT_ENV_SECRET_PG_PASSWORD (dbt_project/profiles.yml).

    dlt's Postgres credentials require a password ("Missing 1 field(s) ... `credentials`" without
    one), so a DSN without one (the local server's trust auth, which ignores passwords) gets the
    placeholder PLACEHOLDER_PASSWORD."""
    url = urlsplit(dsn)
    if not url.password:
        user, _, host = url.netloc.rpartition("@")
        url = url._replace(netloc=f"{user.rstrip(':') or 'postgres'}:{PLACEHOLDER_PASSWORD}@{host}")
    return {"LTC_WAREHOUSE": "postgres", "LTC_PG_DSN": url.geturl(),
            "LTC_PG_HOST": url.hostname or "127.0.0.1", "LTC_PG_PORT": str(url.port or 5432),
            "LTC_PG_USER": unquote(url.username or "postgres"), "LTC_PG_DBNAME": url.path.lstrip("/"),
            "DBT_ENV_SECRET_PG_PASSWORD": unquote(url.password)}


@contextmanager
def warehouse_env(warehouse: str) -> Iterator[dict[str, str]]:
    """The phases' environment for one repeat's warehouse: nothing for DuckDB (the file under the
    fresh LTC_HOME); for Postgres a new database, dropped on exit even when a phase failed
    (connectors/erp/postgres_copy.pg_database ends its sessions first)."""
    if warehouse == "duckdb":
        yield {}
        return
    import uuid

    from connectors.erp.postgres_copy import pg_database

    with pg_database(f"ltc_bench_{uuid.uuid4().hex[:8]}") as dsn:
        yield postgres_env(dsn)


def _run(cmd: list[str], env: dict[str, str], phase: str) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{phase} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    line = next(l for l in reversed(proc.stdout.splitlines()) if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def _phase(phase: str, tmp: Path, home: Path, scale: int, as_of: str | None,
           sources: dict[str, str] | None = None) -> dict:
    env = {**_env(tmp, home, as_of), **(sources or {})}
    if phase == "generate":
        cmd = [sys.executable, "-m", "benchmarks.scale", "--child", "generate", "--home", str(home),
               "--scales", str(scale)]
    else:
        mode, _, system = phase.partition(":")
        mode = {"reports": "report"}.get(mode, mode)
        cmd = [sys.executable, "-m", "benchmarks.orchestration", "--child", mode, "--home", str(home)]
        if system:
            cmd += ["--system", system]
    return _run(cmd, env, phase)


def one_repeat(tmp: Path, scale: int, keep: Path | None = None, warehouse: str = "duckdb") -> dict[str, dict]:
    """Every phase once, in order, in a fresh LTC_HOME (and, on Postgres, a fresh database, always
    dropped); the home is deleted afterwards unless `keep` names a folder to move it to (to profile
    one phase again on the same data; a Postgres database is not kept)."""
    home = Path(tempfile.mkdtemp(dir=tmp, prefix=f"home-{scale}-"))
    runs: dict[str, dict] = {}
    as_of = None
    try:
        runs["generate"] = _phase("generate", tmp, home, scale, None)
        as_of = runs["generate"]["as_of"]
        with warehouse_env(warehouse) as wh_env, _sources(tmp, home, as_of) as sources:
            for phase in PHASES[1:]:
                runs[phase] = _phase(phase, tmp, home, scale, as_of, {**sources, **wh_env})
    finally:
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.move(str(home), keep)
        else:
            shutil.rmtree(home, ignore_errors=True)
    runs["total"] = {
        "seconds": sum(r["seconds"] for p, r in runs.items() if p != "generate"),
        "peak_rss_mb": max(r["peak_rss_mb"] for p, r in runs.items() if p != "generate"),
    }
    return runs


def summarise(scale: int, runs: list[dict[str, dict]], warehouse: str = "duckdb") -> dict:
    phases = [*PHASES, "total"]
    return {
        "benchmark": "scale",
        "scale": scale,
        "warehouse": warehouse,
        "repeats": len(runs),
        "median_seconds": {p: round(statistics.median(r[p]["seconds"] for r in runs), 2) for p in phases},
        "median_peak_rss_mb": {p: round(statistics.median(r[p]["peak_rss_mb"] for r in runs), 1)
                               for p in phases},
        "runs": runs,
    }


def results_path(out_dir: Path, scale: int, warehouse: str) -> Path:
    """scale_<N>.json for DuckDB (the default warehouse, as before), scale_<N>_<warehouse>.json else."""
    return out_dir / (f"scale_{scale}.json" if warehouse == "duckdb" else f"scale_{scale}_{warehouse}.json")


def command(scale: int, repeat: int, warehouse: str) -> str:
    cmd = f"python -m benchmarks.scale --scales {scale} --repeat {repeat}"
    return cmd if warehouse == "duckdb" else f"{cmd} --warehouse {warehouse}"


def _postgres_server() -> str:
    """The version of the benchmark's Postgres server (for the results file); raises when it is
    not there, before anything is generated."""
    import psycopg2

    from connectors.erp.postgres_copy import PG_ADMIN

    con = psycopg2.connect(PG_ADMIN, connect_timeout=5)
    try:
        with con.cursor() as cur:
            cur.execute("show server_version")
            return cur.fetchone()[0]
    finally:
        con.close()


def _machine(warehouse: str, server: str | None) -> dict:
    if warehouse == "duckdb":
        return machine("dagster", "dagster-dbt", "dbt-core", "dlt", "duckdb")
    return {**machine("dagster", "dagster-dbt", "dbt-core", "dbt-postgres", "dlt", "duckdb", "connectorx"),
            "postgres": server}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warehouse", choices=WAREHOUSES, default="duckdb",
                        help="postgres: a fresh database per repeat on LTC_BENCH_PG_ADMIN's server, dropped after")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--keep-home", help="move the last repeat's LTC_HOME here instead of deleting it")
    parser.add_argument("--child", choices=("generate", "serve"), help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child == "serve":
        _child_serve(Path(args.home), Path(args.home) / "sources.json")
    if args.child:
        out = _child_generate(Path(args.home), args.scales[0])
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print("RESULT " + json.dumps(out, default=str))
        return 0

    from orchestration.prepare import prepare_dbt_manifest

    server = _postgres_server() if args.warehouse == "postgres" else None
    # a `kill` (SIGTERM) unwinds like Ctrl-C: the running child is killed and the repeat's
    # Postgres database dropped by the `finally` blocks
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    prepare_dbt_manifest()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ltc-bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        for scale in args.scales:
            runs = []
            for i in range(args.repeat):
                keep = Path(args.keep_home) / str(scale) if args.keep_home and i == args.repeat - 1 else None
                runs.append(one_repeat(tmp, scale, keep, args.warehouse))
                print(f"scale {scale} ({args.warehouse}) repeat {i + 1}: " + ", ".join(
                    f"{p} {r['seconds']:.2f} s" for p, r in runs[-1].items()), flush=True)
            result = summarise(scale, runs, args.warehouse)
            result["command"] = command(scale, args.repeat, args.warehouse)
            result["when"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            result["machine"] = _machine(args.warehouse, server)
            if args.warehouse == "postgres":
                result["notes"] = list(POSTGRES_NOTES)
            path = results_path(out_dir, scale, args.warehouse)
            path.write_text(json.dumps(result, indent=2) + "\n")
            print(f"written {path}: total {result['median_seconds']['total']} s, "
                  f"peak RSS {result['median_peak_rss_mb']['total']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
