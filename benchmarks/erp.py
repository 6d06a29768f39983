"""ERP landing throughput from Postgres: `python -m benchmarks.erp [--rows 1000000] [--repeat 3]`.

Why this shape: the ERP read is dlt `sql_table` → our Arrow coercion (connectors/erp/source.py) →
DuckDB, and its cost grows with invoice lines, the biggest ERP table. The lines are generated
straight into Postgres with `generate_series` (seconds for 1M rows, no Python per row), then each
backend (pyarrow, and connectorx when installed) lands them into a fresh DuckDB warehouse in a
child process, so peak RSS is that run's own (`ru_maxrss`). We report the median of `--repeat`
runs. Target: ≥ 100,000 rows/s.

"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

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


def _child(dsn: str, backend: str) -> None:
    """One landing run in this (child) process; prints JSON with seconds, rows and peak RSS."""
    import resource

    home = tempfile.mkdtemp(prefix="ltc_bench_erp_")
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="pyarrow,connectorx")
    parser.add_argument("--child", nargs=2, metavar=("DSN", "BACKEND"), help=argparse.SUPPRESS)
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
    report: dict = {"rows": args.rows, "repeat": args.repeat, "backends": {}}
    with pg_database(f"ltc_bench_erp_{uuid.uuid4().hex[:8]}") as dsn:
        report["generate_seconds"] = round(generate_invoice_lines(dsn, args.rows), 2)
        print(f"generated {args.rows:,} invoice lines in Postgres in {report['generate_seconds']} s")
        for backend in backends:
            runs = []
            for _ in range(args.repeat):
                out = subprocess.run([sys.executable, "-m", "benchmarks.erp", "--child", dsn, backend],
                                     capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(f"{backend} run failed:\n{out.stderr[-3000:]}")
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                assert runs[-1]["rows"] == args.rows, runs[-1]
            seconds = statistics.median(r["seconds"] for r in runs)
            summary = {"median_seconds": round(seconds, 2), "rows_per_s": round(args.rows / seconds),
                       "median_peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in runs)),
                       "sum_total": runs[0]["sum_total"], "runs_seconds": [round(r["seconds"], 2) for r in runs],
                       "steps_of_median_run": sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]["steps"]}
            report["backends"][backend] = summary
            print(f"{backend:>10}: {summary['rows_per_s']:>9,} rows/s  median {summary['median_seconds']} s  "
                  f"peak RSS {summary['median_peak_rss_mb']} MB  runs {summary['runs_seconds']}  "
                  f"steps {summary['steps_of_median_run']}")
    results = Path(__file__).with_name("results")
    results.mkdir(exist_ok=True)
    (results / "erp.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
