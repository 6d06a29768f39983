"""Salesforce landing benchmark: Opportunity at 1M rows through Bulk 2.0 and through REST.

Why: issue 3's target is ≥ 50,000 records/s end to end through Bulk, with the connector's peak
RSS ≤ 1 GB at 1M rows (streaming: never the whole object in memory). To know how much of the time
is the connector's, the fake Salesforce's own serving rate is measured alone too.

Layout (each in its own process so neither's memory or CPU is billed to the other):
- the fake org (`python -m connectors.sandbox.fake_salesforce --opportunities N`), filled once;
- "fake alone": this process drives a Bulk 2.0 query job with plain `requests` (create, poll,
  every results page by `Sforce-Locator`) and only counts rows: the server's serving rate;
- "bulk" / "rest": a fresh child (`benchmarks.salesforce_ingest`) lands Opportunity into a fresh
  DuckDB, and reports its wall time, landed rows and peak RSS.
Runs alternate (fake, bulk, rest, fake, bulk, rest, ...) so the machine's noise hits all alike,
and the medians are reported. The machine has 2 cores: fake and connector share them.

    python -m benchmarks.salesforce --rows 1000000 --repeats 3
    make bench-salesforce
"""

from __future__ import annotations

import argparse
import importlib.metadata
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TOKEN = "bench-token"
API = "59.0"


def start_fake(rows: int, port: int = 0) -> tuple[subprocess.Popen, str, float]:
    """The fake org in its own process; returns (process, URL, seconds it took to fill)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectors.sandbox.fake_salesforce", "--opportunities", str(rows),
         "--port", str(port), "--token", TOKEN],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("http://"):
            return proc, line.strip(), time.perf_counter() - started
    raise RuntimeError("the fake Salesforce exited before printing its URL")


def connector_soql(session: requests.Session, url: str, headers: dict) -> str:
    """The query the connector sends on a first run (describe's fields, the window up to now,
    ORDER BY SystemModstamp, Id), so the fake is measured serving exactly that."""
    from connectors.salesforce.extract import build_soql, select_fields

    describe = session.get(f"{url}/services/data/v{API}/sobjects/Opportunity/describe", headers=headers).json()
    names = [f.name for f in select_fields(describe)]
    return build_soql("Opportunity", names, "SystemModstamp", None, dt.datetime.now(dt.timezone.utc))


def fake_alone(url: str, page: int = 50_000) -> dict:
    """Serve one Bulk 2.0 queryAll of every Opportunity, read with plain requests (no parsing)."""
    session = requests.Session()
    session.trust_env = False
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    base = f"{url}/services/data/v{API}/jobs/query"
    soql = connector_soql(session, url, headers)
    started = time.perf_counter()
    job = session.post(base, headers=headers, json={"operation": "queryAll", "query": soql}).json()
    while session.get(f"{base}/{job['id']}", headers=headers).json()["state"] not in ("JobComplete", "Failed"):
        time.sleep(0.01)
    rows, size, locator = 0, 0, None
    while True:
        params = {"maxRecords": page, **({"locator": locator} if locator else {})}
        resp = session.get(f"{base}/{job['id']}/results", headers=headers, params=params)
        resp.raise_for_status()
        rows += int(resp.headers["Sforce-NumberOfRecords"])
        size += len(resp.content)
        locator = resp.headers.get("Sforce-Locator")
        if not locator or locator == "null":
            break
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "rows": rows, "mb": round(size / 2**20, 1),
            "rows_per_s": round(rows / seconds)}


def land(url: str, mode: str) -> dict:
    """One landing in a fresh child process and a fresh LTC_HOME."""
    with tempfile.TemporaryDirectory(prefix=f"ltc-bench-{mode}-") as home:
        env = {**os.environ, "LTC_HOME": home, "SALESFORCE_INSTANCE_URL": url, "SALESFORCE_ACCESS_TOKEN": TOKEN}
        env.pop("LTC_DUCKDB_PATH", None)
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "benchmarks.salesforce_ingest", "--mode", mode],
                             env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if out.returncode != 0:
            raise RuntimeError(f"{mode} landing failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(wall, 3)  # including interpreter start and imports
    result["rows_per_s"] = round(result["rows"] / result["seconds"])
    return result


def _median(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def machine() -> dict:
    import dlt
    import duckdb
    import pyarrow

    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {"cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1), "python": platform.python_version(),
            "dlt": dlt.__version__, "duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__,
            "simple_salesforce": importlib.metadata.version("simple-salesforce")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="bulk,rest", help="comma-separated: bulk, rest")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]

    proc, url, fill_s = start_fake(args.rows)
    print(f"fake org with {args.rows:,} Opportunity rows at {url} (filled in {fill_s:.1f} s)", flush=True)
    runs: dict[str, list[dict]] = {"fake_alone": [], **{m: [] for m in modes}}
    try:
        # one untimed pass of the connector's own query warms the fake's sorted index and CSV line
        # cache, as a real org's storage would be warm; the cold figure is reported apart
        warmup = fake_alone(url)
        print(f"warm-up (cold cache) fake alone: {warmup}", flush=True)
        for i in range(args.repeats):
            for name in ("fake_alone", *modes):
                result = fake_alone(url) if name == "fake_alone" else land(url, name)
                runs[name].append(result)
                print(f"run {i + 1} {name}: {result}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    summary = {name: {"median_seconds": _median(r, "seconds"), "median_rows_per_s": _median(r, "rows_per_s"),
                      **({"median_peak_rss_mb": _median(r, "peak_rss_mb"),
                          "max_peak_rss_mb": max(x["peak_rss_mb"] for x in r)} if name != "fake_alone" else {})}
               for name, r in runs.items()}
    if "bulk" in summary:
        summary["bulk"]["connector_share_of_bulk_time"] = round(
            1 - summary["fake_alone"]["median_seconds"] / summary["bulk"]["median_seconds"], 3)
    report = {"benchmark": "salesforce_opportunity_landing", "rows": args.rows, "repeats": args.repeats,
              "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "fake_fill_seconds": round(fill_s, 1), "cold_fake_alone": warmup, "summary": summary, "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"salesforce_{args.rows}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
