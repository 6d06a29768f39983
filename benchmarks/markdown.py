"""BENCHMARKS.md from the results files: `python -m benchmarks.markdown`.

The scale benchmark (benchmarks/scale.py) gets a table per scale: each phase's median wall time
and peak RSS, one pair of columns per warehouse measured at that scale (DuckDB, then Postgres:
`scale_<N>.json`, `scale_<N>_postgres.json`), with the machine and the versions each ran on. With
two DuckDB scales or more, the fixed cost (what a run costs whatever the data: process starts,
imports, dbt's parse and per-model overhead) is estimated as the intercept of the line through the
two smallest scales' DuckDB totals, and shown as a share of each DuckDB total. Every other results
file is listed with its command and date.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
OUT = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
WAREHOUSE_LABELS = {"duckdb": "DuckDB", "postgres": "Postgres"}


def _load(results: Path) -> tuple[list[dict], list[tuple[str, dict]]]:
    scales, others = [], []
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("benchmark") == "scale":
            scales.append(data)
        else:
            others.append((path.name, data))
    return sorted(scales, key=lambda d: d["scale"]), others


def warehouse_of(data: dict) -> str:
    """The warehouse a scale result ran on (results from before the Postgres option: DuckDB)."""
    return data.get("warehouse", "duckdb")


def by_scale(scales: list[dict]) -> dict[int, dict[str, dict]]:
    """{scale: {warehouse: result}}, scales ascending, DuckDB first then the others by name."""
    out: dict[int, dict[str, dict]] = {}
    for data in sorted(scales, key=lambda d: (d["scale"], warehouse_of(d) != "duckdb", warehouse_of(d))):
        out.setdefault(data["scale"], {})[warehouse_of(data)] = data
    return out


def _label(warehouse: str) -> str:
    return WAREHOUSE_LABELS.get(warehouse, warehouse)


def fixed_cost(scales: list[dict]) -> float | None:
    """Seconds a full refresh costs at zero leads: the intercept of the line through the totals of
    the two smallest scales (None with fewer than two)."""
    if len(scales) < 2:
        return None
    (a, b) = scales[:2]
    ta, tb = a["median_seconds"]["total"], b["median_seconds"]["total"]
    slope = (tb - ta) / (b["scale"] - a["scale"])
    return max(0.0, ta - slope * a["scale"])


# Two results measured on machines whose CPU calibrations differ by more than this are not divided:
# the ratio would measure the machines (a 40 % slower machine was seen between two sessions).
CALIBRATION_TOLERANCE = 0.25


def _calibration(data: dict) -> float | None:
    return (data.get("machine") or {}).get("cpu_calibration_s")


def comparable_machines(a: dict, b: dict) -> bool:
    """Both results name their CPU calibration and the two agree within CALIBRATION_TOLERANCE."""
    ca, cb = _calibration(a), _calibration(b)
    if not ca or not cb:
        return False
    return abs(ca - cb) / min(ca, cb) <= CALIBRATION_TOLERANCE


def _machine(m: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in m.items()
                         if k not in ("cores", "memory_gib", "load_average_1m", "cpu_calibration_s", "python"))
    return (f"{m.get('cores')} cores, {m.get('memory_gib')} GiB, Python {m.get('python')}, "
            f"cpu_calibration_s {m.get('cpu_calibration_s')}, load {m.get('load_average_1m')}; {versions}")


def _cell(values: dict, phase: str, fmt: str) -> str:
    return format(values[phase], fmt) if phase in values else "–"


def _scale_section(scale: int, results: dict[str, dict], fixed: float | None) -> list[str]:
    """One scale: who ran it where, then one table with a seconds and a peak RSS column per warehouse."""
    lines = [f"### {scale:,} leads", ""]
    for warehouse, data in results.items():
        lines += [f"{_label(warehouse)}: `{data.get('command', '')}`, {data.get('when', '')}, "
                  f"medians of {data['repeats']}.",
                  f"Machine: {_machine(data.get('machine', {}))}.", ""]
    header = " | ".join(f"{_label(w)} seconds | {_label(w)} peak RSS (MB)" for w in results)
    lines += [f"| phase | {header} |", "|---|" + "---:|---:|" * len(results)]
    phases = list(dict.fromkeys(p for data in results.values() for p in data["median_seconds"]))
    phases.sort(key=lambda p: p == "total")  # total last, the phases in the order they ran
    for phase in phases:
        label = "**total** (ingest through reports)" if phase == "total" else phase
        cells = " | ".join(f"{_cell(d['median_seconds'], phase, '.2f')} | {_cell(d['median_peak_rss_mb'], phase, '.1f')}"
                           for d in results.values())
        lines.append(f"| {label} | {cells} |")
    duck = results.get("duckdb")
    if fixed is not None and duck and duck["median_seconds"].get("total"):
        lines += ["", f"Fixed cost (estimated, see the top): {fixed:.1f} s, "
                      f"{100 * fixed / duck['median_seconds']['total']:.0f} % of the DuckDB total."]
    for warehouse, data in results.items():
        if warehouse != "duckdb" and duck and duck["median_seconds"].get("total"):
            if comparable_machines(data, duck):
                ratio = data["median_seconds"]["total"] / duck["median_seconds"]["total"]
                lines += ["", f"{_label(warehouse)} total / DuckDB total: {ratio:.2f}x."]
            else:
                lines += ["", f"{_label(warehouse)} total / DuckDB total: not compared, the two were measured "
                              f"on machines of different speed (cpu_calibration_s "
                              f"{_calibration(data)} against {_calibration(duck)}); rerun both."]
        if data.get("notes"):
            lines += ["", f"{_label(warehouse)} notes:", *(f"- {note}" for note in data["notes"])]
    return lines + [""]


def _floor_section(floors: list[dict]) -> list[str]:
    """The transform against the floor (benchmarks/floor.py): per scale, the medians of the floor,
    the dbt build of the five core marts' lineage and the pipeline's whole build, their ratios
    (measured alternately in one run) and whether the floor's marts equal dbt's."""
    if not floors:
        return []
    lines = ["## Transform against the floor (`make bench-floor`)", "",
             "| scale | floor s | dbt core s | dbt build s | core / floor | build / floor | CPU core / floor "
             "| marts equal | load | repeats |", "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for d in sorted(floors, key=lambda d: d["scale"]):
        m = d["median_seconds"]
        lines.append(f"| {d['scale']:,} | {m['floor']:.2f} | {m['dbt_core']:.2f} | {m['dbt_build']:.2f} "
                     f"| {d['ratio_core']:.2f} | {d['ratio_build']:.2f} | {d.get('ratio_core_cpu', '–')} "
                     f"| {'yes' if d.get('all_equal') else 'NO'} | {d['machine'].get('load_average_1m')} "
                     f"| {d['repeats']} |")
    return lines + ["", "dbt core: `dbt build` of the five core marts' lineage (seeds and models); dbt build: "
                        "the pipeline's whole build with its data tests.", ""]


def _incremental_section(runs: list[dict]) -> list[str]:
    """The incremental refresh (benchmarks/incremental.py): per scale, the full and the incremental
    refresh by phase, the fraction, and whether every mart equals a full rebuild."""
    if not runs:
        return []
    lines = ["## Incremental refresh after 1 % changes (`ltc bench incremental`)", ""]
    for d in sorted(runs, key=lambda d: d["scale"]):
        full, inc = d["median_seconds"]["full"], d["median_seconds"]["incremental"]
        lines += [f"### {d['scale']:,} leads", "",
                  f"`{d.get('command', '')}`, {d.get('when', '')}, medians of {d['repeats']}; load "
                  f"{d.get('machine', {}).get('load_average_1m')}, cpu_calibration_s "
                  f"{d.get('machine', {}).get('cpu_calibration_s')}.", "",
                  "| phase | full s | incremental s |", "|---|---:|---:|"]
        for phase in [p for p in full if p != "total"] + ["total"]:
            lines.append(f"| {'**total**' if phase == 'total' else phase} | {_cell(full, phase, '.2f')} "
                         f"| {_cell(inc, phase, '.2f')} |")
        lines += ["", f"Incremental / full: {d['incremental_fraction_of_full']:.2f} (target "
                      f"{d.get('target_fraction', 0.2):.2f}); every mart equal to a full rebuild: "
                      f"{'yes' if d.get('marts_equal') else 'NO: ' + ', '.join(d.get('marts_not_equal') or [])}.", ""]
    return lines


def render(results: Path = RESULTS) -> str:
    scales, others = _load(results)
    duckdb_scales = [d for d in scales if warehouse_of(d) == "duckdb"]
    fixed = fixed_cost(duckdb_scales)
    lines = ["# Benchmarks", "",
             "Generated by `python -m benchmarks.markdown` from `benchmarks/results/*.json`; do not edit.",
             "Every figure is a median of repeated runs, each phase in a fresh process. Machines",
             "differ (compare them through `cpu_calibration_s`).", ""]
    lines += ["## Full refresh by scale (`make bench-scale`)", ""]
    if not scales:
        lines += ["No scale results yet.", ""]
    if fixed is not None:
        lines += [f"Fixed cost: {fixed:.1f} s, the intercept of the line through the DuckDB totals at "
                  f"{duckdb_scales[0]['scale']:,} and {duckdb_scales[1]['scale']:,} leads.", ""]
    for scale, results_at_scale in by_scale(scales).items():
        lines += _scale_section(scale, results_at_scale, fixed)
    lines += _floor_section([d for _, d in others if d.get("benchmark") == "floor"])
    lines += _incremental_section([d for _, d in others if d.get("benchmark") == "incremental"])
    lines += ["## Other benchmarks", "", "| results file | command | when |", "|---|---|---|"]
    for name, data in others:
        lines.append(f"| `{name}` | `{data.get('command', '')}` | {data.get('when', '')} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    OUT.write_text(render())
    print(f"written {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
