"""BENCHMARKS.md is generated from the results files: the scale tables (one column pair per
warehouse), the fixed-cost estimate (DuckDB's) and the list of every other benchmark come out of
the JSON, whatever its numbers."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.markdown import fixed_cost, render
from benchmarks.scale import PHASES, POSTGRES_NOTES, results_path, summarise


def _runs(total_by_phase: dict[str, float], rss: float) -> dict[str, dict]:
    runs = {p: {"seconds": s, "peak_rss_mb": rss} for p, s in total_by_phase.items()}
    runs["total"] = {"seconds": sum(s for p, s in total_by_phase.items() if p != "generate"), "peak_rss_mb": rss}
    return runs


def _result(scale: int, per_phase: float, repeats: int = 3, warehouse: str = "duckdb", rss: float = 300.0) -> dict:
    # phase times grow with scale plus a fixed 2 s per phase; repeats differ so the median matters
    runs = [_runs({p: 2.0 + per_phase * scale / 1000 + r for p in PHASES}, rss + r) for r in range(repeats)]
    result = summarise(scale, runs, warehouse)
    result.update(command=f"python -m benchmarks.scale --scales {scale}", when="2026-11-27T00:00:00+00:00",
                  machine={"cores": 2, "memory_gib": 23.5, "python": "3.11.7", "duckdb": "2.0.1",
                           "cpu_calibration_s": 0.075, "load_average_1m": 1.0})
    if warehouse == "postgres":
        result["machine"]["postgres"] = "15.20"
        result["notes"] = list(POSTGRES_NOTES)
    return result


def _write(folder: Path, *results: dict) -> None:
    for data in results:
        if data.get("benchmark") == "scale":
            path = results_path(folder, data["scale"], data["warehouse"])
        else:
            path = folder / f"{data['benchmark']}.json"
        path.write_text(json.dumps(data))


def test_the_median_of_the_repeats_and_the_total_exclude_generation():
    result = _result(10_000, per_phase=0.1)
    # repeat r adds r seconds to every phase: the median repeat is r = 1
    assert result["median_seconds"]["generate"] == 2.0 + 1.0 + 1.0
    assert result["median_seconds"]["total"] == (len(PHASES) - 1) * 4.0
    assert result["median_peak_rss_mb"]["total"] == 301.0
    assert result["warehouse"] == "duckdb"


def test_a_postgres_result_has_its_own_file_beside_duckdbs(tmp_path: Path):
    assert results_path(tmp_path, 100_000, "duckdb") == tmp_path / "scale_100000.json"
    assert results_path(tmp_path, 100_000, "postgres") == tmp_path / "scale_100000_postgres.json"


def test_the_fixed_cost_is_the_intercept_through_the_two_smallest_scales(tmp_path: Path):
    small, large = _result(10_000, 0.1), _result(100_000, 0.1)
    # total = phases × (2 + 1 + 0.1 × scale/1000): intercept phases × 3 s
    assert abs(fixed_cost([small, large]) - (len(PHASES) - 1) * 3.0) < 1e-9
    assert fixed_cost([small]) is None

    _write(tmp_path, small, large, {"benchmark": "event_log", "command": "python -m benchmarks.event_log",
                                    "when": "2026-11-26"})
    text = render(tmp_path)
    assert "### 10,000 leads" in text and "### 100,000 leads" in text
    assert text.index("### 10,000 leads") < text.index("### 100,000 leads")
    assert "| phase | DuckDB seconds | DuckDB peak RSS (MB) |" in text
    assert f"| **total** (ingest through reports) | {small['median_seconds']['total']:.2f} | 301.0 |" in text
    assert "2 cores, 23.5 GiB" in text and "duckdb 2.0.1" in text
    assert "`event_log.json` | `python -m benchmarks.event_log`" in text
    assert f"Fixed cost: {(len(PHASES) - 1) * 3.0:.1f} s" in text
    assert "Postgres" not in text


def test_postgres_is_shown_beside_duckdb_and_leaves_the_fixed_cost_to_duckdb(tmp_path: Path):
    small, large = _result(10_000, 0.1), _result(100_000, 0.1)
    # Postgres: 3x the per-lead cost, and at 100k leads only; more memory per phase
    pg = _result(100_000, 0.3, repeats=1, warehouse="postgres", rss=500.0)
    _write(tmp_path, small, large, pg)
    text = render(tmp_path)

    # one table for 100k: DuckDB's pair of columns, then Postgres's, on the same rows
    section = text[text.index("### 100,000 leads"):]
    assert "| phase | DuckDB seconds | DuckDB peak RSS (MB) | Postgres seconds | Postgres peak RSS (MB) |" in section
    assert section.count("| phase |") == 1
    duck_total, pg_total = large["median_seconds"]["total"], pg["median_seconds"]["total"]
    assert f"| **total** (ingest through reports) | {duck_total:.2f} | 301.0 | {pg_total:.2f} | 500.0 |" in section
    dbt = f"| dbt | {large['median_seconds']['dbt']:.2f} | 301.0 | {pg['median_seconds']['dbt']:.2f} | 500.0 |"
    assert dbt in section
    assert f"Postgres total / DuckDB total: {pg_total / duck_total:.2f}x." in section
    assert "Postgres: `python -m benchmarks.scale --scales 100000`" in section and "postgres 15.20" in section
    assert all(f"- {note}" in section for note in POSTGRES_NOTES)

    # 10k has no Postgres result: DuckDB's columns only
    ten_k = text[text.index("### 10,000 leads"):text.index("### 100,000 leads")]
    assert "Postgres" not in ten_k

    # the fixed cost is DuckDB's: the Postgres result changes neither the estimate nor its share
    fixed = (len(PHASES) - 1) * 3.0
    assert f"Fixed cost: {fixed:.1f} s, the intercept of the line through the DuckDB totals" in text
    assert f"{fixed:.1f} s, {100 * fixed / duck_total:.0f} % of the DuckDB total." in section


def test_warehouses_measured_on_machines_of_different_speed_are_not_divided(tmp_path: Path):
    small, large = _result(10_000, 0.1), _result(100_000, 0.1)
    pg = _result(100_000, 0.3, repeats=1, warehouse="postgres", rss=500.0)
    pg["machine"]["cpu_calibration_s"] = 0.05  # DuckDB's: 0.075, half again slower
    _write(tmp_path, small, large, pg)
    text = render(tmp_path)
    section = text[text.index("### 100,000 leads"):]
    assert "Postgres total / DuckDB total: not compared" in section and "0.05 against 0.075" in section
    assert "x." not in section.split("Postgres total / DuckDB total:")[1].splitlines()[0]


def test_a_results_file_from_before_the_warehouse_option_counts_as_duckdb(tmp_path: Path):
    old = _result(10_000, 0.1)
    del old["warehouse"]
    (tmp_path / "scale_10000.json").write_text(json.dumps(old))
    text = render(tmp_path)
    assert "| phase | DuckDB seconds | DuckDB peak RSS (MB) |" in text
    assert f"| **total** (ingest through reports) | {old['median_seconds']['total']:.2f} | 301.0 |" in text


def test_floor_and_incremental_results_get_their_tables(tmp_path):
    """The floor's ratios and the incremental fraction are the issue's targets: BENCHMARKS.md shows
    them from the results files, not only their names."""
    machine = {"cores": 2, "load_average_1m": 1.5}
    floor = {"benchmark": "floor", "scale": 1000000, "repeats": 3, "machine": machine, "all_equal": True,
             "median_seconds": {"floor": 6.25, "dbt_core": 16.5, "dbt_build": 35.0},
             "ratio_core": 2.64, "ratio_build": 5.6, "ratio_core_cpu": 2.5}
    full = {"ingest:salesforce": 60.0, "dbt": 40.0, "total": 100.0}
    incremental = {"benchmark": "incremental", "scale": 1000000, "repeats": 1, "machine": machine,
                   "median_seconds": {"full": full, "incremental": {"ingest:salesforce": 5.0, "dbt": 38.0, "total": 43.0}},
                   "incremental_fraction_of_full": 0.43, "target_fraction": 0.2, "marts_equal": False,
                   "marts_not_equal": ["fct_example"]}
    _write(tmp_path, floor, incremental)
    text = render(tmp_path)
    assert "| 1,000,000 | 6.25 | 16.50 | 35.00 | 2.64 | 5.60 | 2.5 | yes | 1.5 | 3 |" in text
    assert "| ingest:salesforce | 60.00 | 5.00 |" in text and "| **total** | 100.00 | 43.00 |" in text
    assert "Incremental / full: 0.43 (target 0.20)" in text and "NO: fct_example" in text
