"""BENCHMARKS.md is generated from the results files: the scale tables, the fixed-cost estimate
and the list of every other benchmark come out of the JSON, whatever its numbers."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.markdown import fixed_cost, render
from benchmarks.scale import PHASES, summarise


def _runs(total_by_phase: dict[str, float], rss: float) -> dict[str, dict]:
    runs = {p: {"seconds": s, "peak_rss_mb": rss} for p, s in total_by_phase.items()}
    runs["total"] = {"seconds": sum(s for p, s in total_by_phase.items() if p != "generate"), "peak_rss_mb": rss}
    return runs


def _result(scale: int, per_phase: float, repeats: int = 3) -> dict:
    # phase times grow with scale plus a fixed 2 s per phase; repeats differ so the median matters
    runs = [_runs({p: 2.0 + per_phase * scale / 1000 + r for p in PHASES}, 300.0 + r) for r in range(repeats)]
    result = summarise(scale, runs)
    result.update(command=f"python -m benchmarks.scale --scales {scale}", when="2026-11-27T00:00:00+00:00",
                  machine={"cores": 2, "memory_gib": 23.5, "python": "3.11.7", "duckdb": "2.0.1",
                           "cpu_calibration_s": 0.075, "load_average_1m": 1.0})
    return result


def test_the_median_of_the_repeats_and_the_total_exclude_generation():
    result = _result(10_000, per_phase=0.1)
    # repeat r adds r seconds to every phase: the median repeat is r = 1
    assert result["median_seconds"]["generate"] == 2.0 + 1.0 + 1.0
    assert result["median_seconds"]["total"] == (len(PHASES) - 1) * 4.0
    assert result["median_peak_rss_mb"]["total"] == 301.0


def test_the_fixed_cost_is_the_intercept_through_the_two_smallest_scales(tmp_path: Path):
    small, large = _result(10_000, 0.1), _result(100_000, 0.1)
    # total = phases × (2 + 1 + 0.1 × scale/1000): intercept phases × 3 s
    assert abs(fixed_cost([small, large]) - (len(PHASES) - 1) * 3.0) < 1e-9
    assert fixed_cost([small]) is None

    for data in (small, large, {"benchmark": "event_log", "command": "python -m benchmarks.event_log",
                                "when": "2026-11-26"}):
        name = f"scale_{data['scale']}.json" if "scale" in data else "event_log.json"
        (tmp_path / name).write_text(json.dumps(data))
    text = render(tmp_path)
    assert "### 10,000 leads" in text and "### 100,000 leads" in text
    assert text.index("### 10,000 leads") < text.index("### 100,000 leads")
    assert f"| **total** (ingest through reports) | {small['median_seconds']['total']:.2f} | 301.0 |" in text
    assert "2 cores, 23.5 GiB" in text and "duckdb 2.0.1" in text
    assert "`event_log.json` | `python -m benchmarks.event_log`" in text
    assert f"Fixed cost: {(len(PHASES) - 1) * 3.0:.1f} s" in text
