"""Raw-table validation, in DuckDB vs through pandas: `python -m benchmarks.expectations [--rows 1000000] [--repeat 3]`.

Why: `validate_table` can compute a GX suite's outcome inside DuckDB (expectations/sql_engine.py)
or pull the checked columns into pandas for GX (expectations/runner.py). The default engine is
chosen on these numbers. The table is `raw_erp.invoices` shaped like the contract (DECIMAL money,
DATE dates, timestamptz audit columns), generated in DuckDB from `range()` (seconds, no Python
per row), with planted failures so the failing-key path is measured too: 10 duplicated invoice
ids, 1,000 unknown currencies, 500 due dates before the issue date, 100 issue dates in the
future. The suite is the production one (`SUITES_BY_SYSTEM["erp"]["invoices"]`).

Side by side in each repeat, each engine runs in a fresh child process (peak RSS is that run's
own, `ru_maxrss`) sharing a warmed bytecode cache (benchmarks/common.py). We report medians of
`--repeat`: `validate_seconds` (the `validate_table` call), `process_seconds` (the whole child:
interpreter, GX import, validation), peak RSS and the RSS after imports (the part of the peak
that is not the validation's). The run fails if the two engines' summaries
differ. The results file holds counts and expectation labels only — no values, no keys.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import child_env, machine

ENGINES = ("sql", "pandas")
RUN_DATE = "2026-01-01"  # fixed: the planted future dates are future whatever day this runs

GENERATE_SQL = """
create table raw_erp.invoices as
select
    -- planted: rows 1-10 repeat the ids of rows 11-20 (20 rows in duplicated groups)
    'INV-' || lpad((case when g between 1 and 10 then g + 10 else g end)::varchar, 9, '0') as invoice_id,
    'INV-2025-' || lpad(g::varchar, 9, '0') as invoice_number,
    'CUST-' || (g % 5000) as customer_id,
    'SO-' || g as order_id,
    -- planted: 100 issue dates in the future (g % 10000 = 5)
    case when g % 10000 = 5 then date '2030-01-01' else date '2025-01-01' + (g % 300)::int end as issue_date,
    -- planted: 500 due dates before the issue date (g % 2000 = 3)
    case when g % 10000 = 5 then date '2030-02-01'
         when g % 2000 = 3 then date '2024-12-31' + (g % 300)::int
         else date '2025-01-31' + (g % 300)::int end as due_date,
    -- planted: 1,000 unknown currencies (g % 1000 = 7)
    case when g % 1000 = 7 then 'ZZZ' else (['USD', 'EUR', 'GBP'])[1 + g % 3] end as currency,
    (g % 100000 / 10.0)::decimal(18, 2) as net_amount,
    (g % 100000 / 50.0)::decimal(18, 2) as tax_amount,
    (g % 100000 / 10.0 + g % 100000 / 50.0)::decimal(18, 2) as total_amount,
    (['open', 'paid', 'cancelled'])[1 + g % 3] as status,
    (g % 50 = 0)::int as is_deleted,
    timestamptz '2025-01-01 00:00:00+00' + to_seconds(g) as created_at,
    timestamptz '2025-01-01 00:00:00+00' + to_seconds(g) as updated_at,
    'payer' || g || '@example.com' as contact_email,  -- personal data the suite never reads
    'load-1' as _dlt_load_id, md5(g::varchar) as _dlt_id
from range(?) as t(g)
"""


def generate(path: Path, rows: int) -> float:
    """The 1M-row table with planted failures; returns seconds."""
    import duckdb

    started = time.perf_counter()
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw_erp")
        con.execute(GENERATE_SQL, [rows])
        con.execute("checkpoint")
    return time.perf_counter() - started


def _child(path: str, engine: str) -> None:
    """One validation in this (child) process; prints JSON with seconds, peak RSS and the summary's
    shape (labels and counts only)."""
    import resource

    from expectations.runner import validate_table
    from expectations.suites import SUITES_BY_SYSTEM

    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    suite = spec.suite()
    imports_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # GX, pandas, DuckDB loaded
    started = time.perf_counter()
    summary = validate_table(path, "raw_erp.invoices", suite, spec.key, engine=engine,
                             run_date=dt.date.fromisoformat(RUN_DATE))
    seconds = time.perf_counter() - started
    print(json.dumps({
        "engine": engine, "validate_seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "imports_rss_mb": imports_rss_mb,
        "summary": {"success": summary.success, "severity": summary.severity, "evaluated": summary.evaluated,
                    "row_count": summary.row_count, "failed": list(summary.failed),
                    "unexpected_counts": dict(summary.unexpected_counts),
                    "failing_key_counts": {k: len(v) for k, v in summary.failing_keys.items()},
                    "keys_digest": hash_keys(summary.failing_keys)},
    }))


def hash_keys(failing_keys) -> str:
    """A digest of the failing keys: the engines must agree on them, the file need not hold them."""
    import hashlib

    return hashlib.sha256(json.dumps({k: list(v) for k, v in sorted(failing_keys.items())}).encode()).hexdigest()[:16]


def _run(path: Path, engine: str, env: dict) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "benchmarks.expectations", "--child", str(path), engine],
                         capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1])
    process_seconds = time.perf_counter() - started
    if out.returncode:
        raise SystemExit(f"{engine} run failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = process_seconds
    return result


def _summary(runs: list[dict], rows: int) -> dict:
    seconds = statistics.median(r["validate_seconds"] for r in runs)
    return {"median_validate_seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
            "median_process_seconds": round(statistics.median(r["process_seconds"] for r in runs), 2),
            "median_peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in runs)),
            # what the child held before validating (interpreter, GX, pandas, DuckDB): the same for both
            "median_rss_after_imports_mb": round(statistics.median(r["imports_rss_mb"] for r in runs)),
            "runs_validate_seconds": [round(r["validate_seconds"], 2) for r in runs],
            "runs_peak_rss_mb": [round(r["peak_rss_mb"]) for r in runs]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=None, help="results file (default benchmarks/results/expectations.json)")
    parser.add_argument("--child", nargs=2, metavar=("DUCKDB", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return {}
    report: dict = {"command": "python -m benchmarks.expectations", "rows": args.rows, "repeat": args.repeat,
                    "table": "raw_erp.invoices", "suite": "raw_erp__invoices", "run_date": RUN_DATE,
                    "when": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(), "engines": {}}
    runs: dict[str, list[dict]] = {e: [] for e in ENGINES}
    with tempfile.TemporaryDirectory(prefix="ltc_bench_gx_") as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        report["generate_seconds"] = round(generate(path, args.rows), 2)
        report["duckdb_file_mb"] = round(path.stat().st_size / 2**20, 1)
        print(f"generated {args.rows:,} invoices in {report['generate_seconds']} s", flush=True)
        env = child_env(Path(tmp))
        for engine in ENGINES:  # untimed: fills the bytecode cache and the page cache
            _run(path, engine, env)
        for i in range(args.repeat):
            for engine in ENGINES:  # side by side
                r = _run(path, engine, env)
                runs[engine].append(r)
                print(f"run {i + 1} {engine:>6}: validate {r['validate_seconds']:6.2f} s, process "
                      f"{r['process_seconds']:6.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
        report["machine"] = machine("duckdb", "great_expectations", "pandas", "pyarrow")
    shapes = {e: runs[e][0]["summary"] for e in ENGINES}
    if shapes["sql"] != shapes["pandas"]:
        raise SystemExit(f"the engines disagree:\n{json.dumps(shapes, indent=2)}")
    report["summary"] = {k: v for k, v in shapes["sql"].items() if k != "keys_digest"}
    report["summaries_equal"] = True
    for engine in ENGINES:
        report["engines"][engine] = _summary(runs[engine], args.rows)
    sql, pandas = report["engines"]["sql"], report["engines"]["pandas"]
    report["sql_speedup"] = round(pandas["median_validate_seconds"] / sql["median_validate_seconds"], 1)
    report["sql_memory_ratio"] = round(pandas["median_peak_rss_mb"] / sql["median_peak_rss_mb"], 1)
    out = Path(args.out) if args.out else Path(__file__).with_name("results") / "expectations.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({e: report["engines"][e] for e in ENGINES}, indent=2))
    return report


if __name__ == "__main__":
    main()
