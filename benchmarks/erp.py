"""ERP landing throughput from Postgres: `python -m benchmarks.erp [--rows 1000000] [--repeat 3]`.

Why this shape: the ERP read is dlt `sql_table` → our Arrow coercion (connectors/erp/source.py) →
DuckDB, and its cost grows with invoice lines, the biggest ERP table. The lines are generated
straight into Postgres with `generate_series` (seconds for 1M rows, no Python per row). Then, side
by side in each repeat, each backend (pyarrow, connectorx when installed) runs in a fresh child
process (peak RSS is that run's own, `ru_maxrss`), sharing a warmed bytecode cache
(benchmarks/common.py):

  first load:  `run_ingest("erp")` of every line into an empty DuckDB warehouse (the backfill);
  incremental: a second run on the same warehouse, nothing changed: the lookback re-read, the merge
               and the key reconciliation of all 1M keys (reconcile_every: 1).

We report medians of `--repeat`. Target: ≥ 100,000 rows/s for the first load.
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
import uuid
from pathlib import Path

from benchmarks.common import child_env, machine
from connectors.erp.postgres_copy import pg_database


def generate_invoice_lines(dsn: str, rows: int) -> float:
    """1M canonical `invoice_lines` rows in Postgres via generate_series; returns seconds."""
    import psycopg2

    started = time.perf_counter()
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        cur.execute("""
            create table invoice_lines (invoice_line_id text primary key, invoice_id text not null,
              line_number integer not null, order_line_id text, description text not null,
              net_amount numeric(18,2) not null, tax_amount numeric(18,2) not null, total_amount numeric(18,2) not null,
              created_at timestamp not null, updated_at timestamp not null)""")
        cur.execute("""
            insert into invoice_lines
            select 'IL' || lpad(g::text, 9, '0'), 'I' || lpad((g / 3)::text, 9, '0'), g %% 3 + 1,
                   'OL' || lpad(g::text, 9, '0'), 'Invoice line ' || g, n, round(n * 0.19, 2), n + round(n * 0.19, 2),
                   ts, ts
            from (select g, round((1 + (g::bigint * 7919 %% 100000) / 10.0)::numeric, 2) as n,
                         timestamp '2025-01-01' + (g %% 31536000) * interval '1 second' as ts
                  from generate_series(1, %s) as g) s""", (rows,))
        cur.execute("analyze invoice_lines")
    return time.perf_counter() - started


def _child(dsn: str, backend: str, home: str) -> None:
    """One landing run in this (child) process; prints JSON with seconds, rows and peak RSS."""
    import resource

    os.environ.update({"LTC_HOME": home, "LTC_ERP_URL": dsn, "LTC_ERP_BACKEND": backend})
    from connectors.ingest import run_ingest

    started = time.perf_counter()
    result = run_ingest("erp", objects=["invoice_lines"])
    seconds = time.perf_counter() - started
    import duckdb

    from connectors.landing import make_pipeline
    from connectors.settings import Settings

    trace = make_pipeline("erp", Settings.from_env()).last_trace
    steps = {s.step: round((s.finished_at - s.started_at).total_seconds(), 2) for s in (trace.steps if trace else [])}

    with duckdb.connect(str(Path(home) / "warehouse.duckdb"), read_only=True) as con:
        landed, total = con.sql("select count(*), sum(total_amount) from raw_erp.invoice_lines").fetchall()[0]
    print(json.dumps({"backend": backend, "seconds": seconds, "rows": landed, "sum_total": str(total),
                      "rows_loaded": result.rows_loaded.get("invoice_lines", 0),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "steps": steps}))


def _run(dsn: str, backend: str, home: Path, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.erp", "--child", dsn, backend, str(home)],
                         capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1])
    if out.returncode:
        raise SystemExit(f"{backend} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summary(runs: list[dict], rows: int, rate: str = "rows_per_s") -> dict:
    seconds = statistics.median(r["seconds"] for r in runs)
    return {"median_seconds": round(seconds, 2), rate: round(rows / seconds),
            "median_peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in runs)),
            "runs_seconds": [round(r["seconds"], 2) for r in runs],
            "steps_of_median_run": sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]["steps"]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="pyarrow,connectorx")
    parser.add_argument("--out", default=None, help="results file (default benchmarks/results/erp.json)")
    parser.add_argument("--child", nargs=3, metavar=("DSN", "BACKEND", "HOME"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return {}
    backends = [b for b in args.backends.split(",") if b]
    try:
        import connectorx  # noqa: F401
    except ImportError:
        if "connectorx" in backends:
            print("connectorx is not installed: pyarrow only")
            backends.remove("connectorx")
    report: dict = {"command": "python -m benchmarks.erp", "rows": args.rows, "repeat": args.repeat,
                    "when": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
                    "target_rows_per_s": 100_000, "backends": {}}
    runs: dict[str, dict[str, list]] = {b: {"first_load": [], "incremental": []} for b in backends}
    with pg_database(f"ltc_bench_erp_{uuid.uuid4().hex[:8]}") as dsn, \
            tempfile.TemporaryDirectory(prefix="ltc_bench_erp_") as tmp:
        report["generate_seconds"] = round(generate_invoice_lines(dsn, args.rows), 2)
        print(f"generated {args.rows:,} invoice lines in Postgres in {report['generate_seconds']} s", flush=True)
        env = child_env(Path(tmp))
        for backend in backends:  # untimed: fills the bytecode cache, warms Postgres' buffers
            _run(dsn, backend, Path(tmp) / f"warmup_{backend}", env)
        for i in range(args.repeat):
            for backend in backends:  # side by side
                home = Path(tmp) / f"{backend}_{i}"
                for phase in ("first_load", "incremental"):
                    r = _run(dsn, backend, home, env)
                    assert r["rows"] == args.rows, r
                    runs[backend][phase].append(r)
                    print(f"run {i + 1} {backend:>10} {phase:>11}: {r['seconds']:6.2f} s "
                          f"({args.rows / r['seconds']:,.0f} rows/s) peak RSS {r['peak_rss_mb']:.0f} MB "
                          f"steps {r['steps']}", flush=True)
                shutil.rmtree(home)
        report["machine"] = machine("dlt", "duckdb", "pyarrow", "connectorx", "sqlalchemy")
    for backend in backends:
        first = runs[backend]["first_load"]
        report["backends"][backend] = {"first_load": _summary(first, args.rows),
                                       # nothing changed: the rate is of keys reconciled, not rows landed
                                       "incremental": _summary(runs[backend]["incremental"], args.rows,
                                                               "keys_reconciled_per_s"),
                                       "sum_total": first[0]["sum_total"]}
    if {"pyarrow", "connectorx"} <= set(backends):
        report["connectorx_speedup_first_load"] = round(
            report["backends"]["pyarrow"]["first_load"]["median_seconds"]
            / report["backends"]["connectorx"]["first_load"]["median_seconds"], 2)
    best = max(b["first_load"]["rows_per_s"] for b in report["backends"].values())
    report["meets_target"] = best >= 100_000
    out = Path(args.out) if args.out else Path(__file__).with_name("results") / "erp.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({b: {"first_load_rows_per_s": v["first_load"]["rows_per_s"],
                          "incremental_seconds": v["incremental"]["median_seconds"]}
                      for b, v in report["backends"].items()}, indent=2))
    return report


if __name__ == "__main__":
    main()
