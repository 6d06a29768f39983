"""How fast is it on my data? `python -m benchmarks.scale --scales 10000 100000 [--repeat 3]`.

Issue 8's harness: for each scale (leads; the generator scales every other object with it), each
repeat in a fresh LTC_HOME, the phases run one after another, each in a FRESH child process so
that its wall time and its own peak RSS are measured alone:

  generate                 the sandbox company (not part of the total)
  ingest:<system>          extract and land one connector (salesforce, erp, finance, marketing)
  checks                   every raw GE suite, in the warehouse
  dbt                      one `dbt build` (models, seeds, tests)
  reports                  the whole edition: HTML, workbook, PDF, published

total = every phase but generate (ingest through reports). The children are those of
benchmarks/orchestration.py (the same code `make bench-orchestration` measures) plus `generate`
here. Medians over the repeats land in `benchmarks/results/scale_<N>.json`; `python -m
benchmarks.markdown` turns every results file into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import child_env, machine

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = ("salesforce", "erp", "finance", "marketing")
PHASES = ("generate", *(f"ingest:{s}" for s in SYSTEMS), "checks", "dbt", "reports")
SEED = 42


def _child_generate(home: Path, scale: int) -> dict:
    from connectors.sandbox import generate

    started = time.perf_counter()
    truth = generate(home / "sandbox", seed=SEED, scale=scale)
    return {"seconds": time.perf_counter() - started, "as_of": truth["as_of"]}


def _env(tmp: Path, home: Path, as_of: str | None) -> dict[str, str]:
    env = child_env(tmp, LTC_HOME=str(home), LTC_FINANCE_SETTLE_S="0")
    for name in list(env):
        if name.startswith(("LTC_", "SALESFORCE_")) and name not in (
                "LTC_HOME", "LTC_FINANCE_SETTLE_S", "LTC_REQUIRE_SERVICES"):
            env.pop(name)
    if as_of:
        env["LTC_AS_OF"] = as_of
    return env


def _run(cmd: list[str], env: dict[str, str], phase: str) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{phase} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    line = next(l for l in reversed(proc.stdout.splitlines()) if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def _phase(phase: str, tmp: Path, home: Path, scale: int, as_of: str | None) -> dict:
    env = _env(tmp, home, as_of)
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


def one_repeat(tmp: Path, scale: int) -> dict[str, dict]:
    """Every phase once, in order, in a fresh LTC_HOME; the home is deleted afterwards."""
    home = Path(tempfile.mkdtemp(dir=tmp, prefix=f"home-{scale}-"))
    runs: dict[str, dict] = {}
    as_of = None
    try:
        for phase in PHASES:
            runs[phase] = _phase(phase, tmp, home, scale, as_of)
            as_of = as_of or runs[phase].get("as_of")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    runs["total"] = {
        "seconds": sum(r["seconds"] for p, r in runs.items() if p != "generate"),
        "peak_rss_mb": max(r["peak_rss_mb"] for p, r in runs.items() if p != "generate"),
    }
    return runs


def summarise(scale: int, runs: list[dict[str, dict]]) -> dict:
    phases = [*PHASES, "total"]
    return {
        "benchmark": "scale",
        "scale": scale,
        "repeats": len(runs),
        "median_seconds": {p: round(statistics.median(r[p]["seconds"] for r in runs), 2) for p in phases},
        "median_peak_rss_mb": {p: round(statistics.median(r[p]["peak_rss_mb"] for r in runs), 1)
                               for p in phases},
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--child", choices=("generate",), help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        out = _child_generate(Path(args.home), args.scales[0])
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print("RESULT " + json.dumps(out, default=str))
        return 0

    from orchestration.prepare import prepare_dbt_manifest

    prepare_dbt_manifest()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ltc-bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        for scale in args.scales:
            runs = []
            for i in range(args.repeat):
                runs.append(one_repeat(tmp, scale))
                print(f"scale {scale} repeat {i + 1}: " + ", ".join(
                    f"{p} {r['seconds']:.2f} s" for p, r in runs[-1].items()), flush=True)
            result = summarise(scale, runs)
            result["command"] = f"python -m benchmarks.scale --scales {scale} --repeat {args.repeat}"
            result["when"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            result["machine"] = machine("dagster", "dagster-dbt", "dbt-core", "dlt", "duckdb")
            path = out_dir / f"scale_{scale}.json"
            path.write_text(json.dumps(result, indent=2) + "\n")
            print(f"written {path}: total {result['median_seconds']['total']} s, "
                  f"peak RSS {result['median_peak_rss_mb']['total']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
