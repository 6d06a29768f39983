"""Incremental refresh: `python -m benchmarks.incremental --scale N [--repeat R] [--fraction 0.01]`.

Issue 8: after a full refresh, change ~1 % of the records of every source (new leads, stage moves,
new invoices and receipts, some deletes: `connectors.sandbox.mutate`), run the incremental refresh,
report its time as a fraction of the full refresh, and prove that the marts it leaves equal a full
rebuild from the changed sources. Each repeat:

  1. a fresh LTC_HOME; generate the company (seed 42, `--scale` leads);
  2. full refresh: every phase of benchmarks/scale.py but generate (ingest per system, checks,
     one dbt build, reports), each in a fresh child process (scale.py's `_phase`), timed;
  3. mutate the sandbox (the next day; ground_truth.json's as_of moves to it); Salesforce deletes
     are stamped now, so that getDeleted reports them;
  4. incremental refresh: the same phases again on the same home. Nothing is forced: the
     connectors' saved cursors and file hashes make them read only what changed, and `dbt build`
     is the pipeline's (incremental models add to what they hold);
  5. full rebuild: a second fresh home with a copy of the mutated sandbox (not generated again),
     the same phases;
  6. every mart (each model in dbt_project/models/marts, a table) hashed in both warehouses: the
     row count and the sum over rows of DuckDB's `hash()` of the whole row, as a HUGEINT, so the
     hash does not depend on row order and counts duplicate rows; DECIMAL, DATE, text and integer
     values hash exactly, DOUBLEs are rounded to `DOUBLE_PLACES` decimals first (a parallel sum
     need not give the same last bit twice). A mart whose hashes differ is diffed row by row
     (EXCEPT ALL both ways) and the differing rows are shown.

`rpt_source_freshness` is left out of the comparison: it reports when each source last landed
(the wall clock of the load), which differs between any two runs; so is fct_pipeline_snapshots'
`built_as_of_date`, the as-of date of the run that wrote each row (`EXCLUDED_COLUMNS`).
fraction = incremental total /
full total (both ingest through reports, as scale.py's total). dbt writes its target and logs
under the run's temporary folder, never dbt_project/target. Results:
`benchmarks/results/incremental_<scale>.json` (medians over the repeats, every run, the hashes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks.common import machine
from benchmarks.scale import PHASES as SCALE_PHASES
from benchmarks.scale import ROOT, SEED, _phase, _sources
from connectors.marts_file import marts_database

RESULTS = Path(__file__).resolve().parent / "results"
MARTS_DIR = ROOT / "dbt_project" / "models" / "marts"
PHASES = tuple(p for p in SCALE_PHASES if p != "generate")
# Marts that cannot be equal between two runs whatever the data, and why.
EXCLUDED = {
    "rpt_source_freshness": "reports when each source last landed: the wall clock of each load",
}
# Columns that record the run rather than the data, left out of a mart's hash, and why.
EXCLUDED_COLUMNS = {
    "fct_pipeline_snapshots": {
        "built_as_of_date": "the as-of date of the run that wrote the row: the incremental run keeps the "
                            "rows of earlier runs (frozen snapshots), a rebuild writes every row at once",
    },
}
DOUBLE_PLACES = 9
_FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


# ---- phases ------------------------------------------------------------------------------------

def refresh(tmp: Path, home: Path, scale: int, as_of: str, phases: tuple[str, ...] = PHASES) -> dict[str, dict]:
    """The phases, in order, each in a fresh child process on `home`; plus their total.

    The sandbox's fake Salesforce and HubSpot are served by a process of their own, started anew
    for each refresh (the mutated company must be served as it now is) and not timed, as in
    benchmarks/scale.py: they stand for remote systems. Before stop 21 each ingest child served
    them itself: its timer started after they were loaded, but its peak RSS was theirs (12.4 GB at
    1M leads, against 1.1 GB for the ingest alone in scale.py) and the benchmark paid the loading
    once per ingest child."""
    with _sources(tmp, home, as_of) as sources:
        runs = {phase: _phase(phase, tmp, home, scale, as_of, sources) for phase in phases}
    runs["total"] = {"seconds": sum(r["seconds"] for r in runs.values()),
                     "peak_rss_mb": max(r.get("peak_rss_mb", 0.0) for r in runs.values())}
    return runs


def generate(tmp: Path, home: Path, scale: int) -> dict:
    return _phase("generate", tmp, home, scale, None)


def mutate_sandbox(sandbox: Path, fraction: float, seed: int) -> dict:
    """`connectors.sandbox.mutate` with the Salesforce deletes stamped a second ago (see its docstring)."""
    from connectors.sandbox.mutate import mutate

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=1)
    return mutate(sandbox, fraction, seed, deleted_at=now)


# ---- mart hashes -------------------------------------------------------------------------------

def mart_names() -> list[str]:
    return sorted(p.stem for p in MARTS_DIR.glob("*.sql"))


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    """The mart's columns and types, in order, without those in `EXCLUDED_COLUMNS`."""
    skip = EXCLUDED_COLUMNS.get(table, {})
    return [(c, t) for c, t in con.execute(
        "select column_name, data_type from information_schema.columns where table_catalog = current_database() "
        "and table_schema = ? and table_name = ? order by ordinal_position", [schema, table]).fetchall()
        if c not in skip]


def _projection(columns: list[tuple[str, str]]) -> str:
    """The columns as hashed and compared: DOUBLEs rounded (see the module docstring)."""
    out = []
    for name, kind in columns:
        quoted = '"' + name.replace('"', '""') + '"'
        out.append(f"round({quoted}, {DOUBLE_PLACES}) as {quoted}" if kind.upper() in _FLOAT_TYPES else quoted)
    return ", ".join(out)


def _locate(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    rows = con.execute("select table_schema from information_schema.tables where table_catalog = current_database() "
                       "and table_name = ? and table_type = 'BASE TABLE' order by table_schema", [table]).fetchall()
    return rows[0][0] if rows else None


def mart_hashes(warehouse: Path, names: list[str] | None = None) -> dict[str, dict]:
    """{mart: {"schema", "rows", "hash", "columns"}} for every mart table of `warehouse` (read-only:
    its marts file, connectors/marts_file.py, or a file holding the marts itself)."""
    out = {}
    con = duckdb.connect(str(marts_database(warehouse)), read_only=True)
    try:
        for name in names or mart_names():
            schema = _locate(con, name)
            if schema is None:
                out[name] = {"schema": None, "rows": None, "hash": None, "columns": []}
                continue
            columns = _columns(con, schema, name)
            rows, digest = con.execute(
                f"select count(*), coalesce(sum(hash(t)::hugeint), 0) "
                f"from (select {_projection(columns)} from \"{schema}\".\"{name}\") as t").fetchone()
            out[name] = {"schema": schema, "rows": rows, "hash": str(digest),
                         "columns": [f"{c} {t}" for c, t in columns]}
    finally:
        con.close()
    return out


def diff_rows(a: Path, b: Path, name: str, schema: str, columns: list[tuple[str, str]], limit: int = 5) -> dict:
    """Rows of mart `name` only in warehouse `a`, only in `b` (EXCEPT ALL), with a few of each."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        proj = _projection(columns)
        out = {}
        for label, left, right in (("only_incremental", "a", "b"), ("only_rebuild", "b", "a")):
            query = (f"select {proj} from {left}.\"{schema}\".\"{name}\" except all "
                     f"select {proj} from {right}.\"{schema}\".\"{name}\"")
            out[label] = con.execute(f"select count(*) from ({query})").fetchone()[0]
            cur = con.execute(f"select * from ({query}) limit {limit}")
            header = [d[0] for d in cur.description]
            out[f"{label}_sample"] = [dict(zip(header, map(_plain, row))) for row in cur.fetchall()]
        return out
    finally:
        con.close()


def _plain(value):
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)


def compare(incremental: Path, rebuild: Path) -> dict[str, dict]:
    """Per mart: equal or not (excluded marts say why), with row counts, hashes and, when they
    differ, the differing rows; `incremental` and `rebuild` are the two warehouses."""
    incremental, rebuild = marts_database(incremental), marts_database(rebuild)
    a, b = mart_hashes(incremental), mart_hashes(rebuild)
    out = {}
    for name in mart_names():
        x, y = a[name], b[name]
        entry = {"rows_incremental": x["rows"], "rows_rebuild": y["rows"],
                 "hash_incremental": x["hash"], "hash_rebuild": y["hash"]}
        if name in EXCLUDED_COLUMNS:
            entry["excluded_columns"] = EXCLUDED_COLUMNS[name]
        if name in EXCLUDED:
            entry.update(equal=None, excluded=EXCLUDED[name])
        else:
            entry["equal"] = x["hash"] is not None and (x["rows"], x["hash"], x["columns"]) == (y["rows"], y["hash"],
                                                                                               y["columns"])
            if not entry["equal"] and x["schema"] and x["columns"] == y["columns"]:
                con = duckdb.connect(str(incremental), read_only=True)
                try:
                    columns = _columns(con, x["schema"], name)
                finally:
                    con.close()
                entry["diff"] = diff_rows(incremental, rebuild, name, x["schema"], columns)
        out[name] = entry
    return out


# ---- one repeat --------------------------------------------------------------------------------

def _dbt_paths(tmp: Path) -> None:
    """dbt's target and logs under this run's temporary folder (inherited by the children)."""
    os.environ["DBT_TARGET_PATH"] = str(tmp / "dbt_target")
    os.environ["DBT_LOG_PATH"] = str(tmp / "dbt_logs")


def one_repeat(tmp: Path, scale: int, fraction: float, seed: int, phases: tuple[str, ...] = PHASES,
               keep: Path | None = None) -> dict:
    """Generate, full refresh, mutate, incremental refresh, full rebuild, compare (see the module
    docstring). `keep`: move both homes there instead of deleting them."""
    _dbt_paths(tmp)
    home = Path(tempfile.mkdtemp(dir=tmp, prefix=f"incremental-{scale}-"))
    rebuild_home = Path(tempfile.mkdtemp(dir=tmp, prefix=f"rebuild-{scale}-"))
    try:
        gen = generate(tmp, home, scale)
        full = refresh(tmp, home, scale, gen["as_of"], phases)
        started = time.perf_counter()
        changes = mutate_sandbox(home / "sandbox", fraction, seed)
        mutate_seconds = time.perf_counter() - started
        shutil.copytree(home / "sandbox", rebuild_home / "sandbox")
        incremental = refresh(tmp, home, scale, changes["as_of"], phases)
        rebuild = refresh(tmp, rebuild_home, scale, changes["as_of"], phases)
        marts = compare(home / "warehouse.duckdb", rebuild_home / "warehouse.duckdb")
    finally:
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
            keep.mkdir(parents=True)
            shutil.move(str(home), keep / "incremental")
            shutil.move(str(rebuild_home), keep / "rebuild")
        else:
            shutil.rmtree(home, ignore_errors=True)
            shutil.rmtree(rebuild_home, ignore_errors=True)
    return {
        "generate": gen, "full": full, "mutate": {"seconds": mutate_seconds, "changes": changes},
        "incremental": incremental, "rebuild": rebuild,
        "fraction": incremental["total"]["seconds"] / full["total"]["seconds"],
        "marts": marts,
        "marts_equal": all(m["equal"] for m in marts.values() if m["equal"] is not None),
    }


def summarise(scale: int, fraction: float, seed: int, runs: list[dict]) -> dict:
    def median(kind: str, phase: str, key: str = "seconds") -> float:
        return round(statistics.median(r[kind][phase][key] for r in runs), 2)

    phases = [p for p in runs[0]["full"]]
    last = runs[-1]
    return {
        "benchmark": "incremental",
        "scale": scale, "fraction_changed": fraction, "mutate_seed": seed, "repeats": len(runs),
        "median_seconds": {kind: {p: median(kind, p) for p in phases} for kind in ("full", "incremental", "rebuild")},
        "median_peak_rss_mb": {kind: {p: median(kind, p, "peak_rss_mb") for p in phases}
                               for kind in ("full", "incremental", "rebuild")},
        "median_mutate_seconds": round(statistics.median(r["mutate"]["seconds"] for r in runs), 2),
        "incremental_fraction_of_full": round(statistics.median(r["fraction"] for r in runs), 3),
        "incremental_dbt_fraction_of_full_dbt": round(statistics.median(
            r["incremental"]["dbt"]["seconds"] / r["full"]["dbt"]["seconds"] for r in runs), 3)
        if "dbt" in phases else None,
        "target_fraction": 0.20,
        "marts_equal": all(r["marts_equal"] for r in runs),
        "marts_not_equal": sorted({n for r in runs for n, m in r["marts"].items() if m["equal"] is False}),
        "excluded_from_comparison": EXCLUDED,
        "columns_excluded_from_comparison": EXCLUDED_COLUMNS,
        "marts": last["marts"],
        "changes": last["mutate"]["changes"],
        "runs": [{k: v for k, v in r.items() if k != "marts"} for r in runs],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--fraction", type=float, default=0.01, help="share of every source changed")
    parser.add_argument("--seed", type=int, default=SEED, help="the mutation's seed")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--keep-home", help="move the last repeat's two LTC_HOMEs here instead of deleting them")
    args = parser.parse_args(argv)

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ltc-bench-incremental-") as tmp_name:
        tmp = Path(tmp_name)
        runs = []
        for i in range(args.repeat):
            keep = Path(args.keep_home) if args.keep_home and i == args.repeat - 1 else None
            runs.append(one_repeat(tmp, args.scale, args.fraction, args.seed, keep=keep))
            r = runs[-1]
            print(f"repeat {i + 1}: full {r['full']['total']['seconds']:.1f} s, incremental "
                  f"{r['incremental']['total']['seconds']:.1f} s ({r['fraction']:.1%}), rebuild "
                  f"{r['rebuild']['total']['seconds']:.1f} s, marts equal: {r['marts_equal']}", flush=True)
    result = summarise(args.scale, args.fraction, args.seed, runs)
    result["command"] = (f"python -m benchmarks.incremental --scale {args.scale} --repeat {args.repeat} "
                         f"--fraction {args.fraction} --seed {args.seed}")
    result["when"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    result["machine"] = machine("dagster", "dagster-dbt", "dbt-core", "dlt", "duckdb")
    path = out_dir / f"incremental_{args.scale}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written {path}: incremental {result['incremental_fraction_of_full']:.1%} of the full refresh, "
          f"marts equal: {result['marts_equal']}"
          + (f" (not: {', '.join(result['marts_not_equal'])})" if result["marts_not_equal"] else ""))
    return 0 if result["marts_equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
