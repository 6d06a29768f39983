"""Dagster's SQLite event log, stock vs kept-open connections: `python -m benchmarks.event_log [--events 300] [--repeat 5]`.

Why: a full refresh writes about 1,800 Dagster events, and the stock `SqliteEventLogStorage`
opens and disposes a SQLAlchemy engine for each write (orchestration/sqlite_event_log.py). This
measures the time per event of both classes on the same event mix, side by side in each repeat,
each into a fresh instance folder: a third asset materialisations (run shard + index shard +
asset tables), a third asset check evaluations (run shard + index shard + check table), a third
plain step events (run shard only), as in a real run. Results: `benchmarks/results/event_log.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine

RESULTS = Path(__file__).resolve().parent / "results"


def _events(count: int, run_id: str) -> list:
    import dagster as dg
    from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData, StepMaterializationData
    from dagster._core.events.log import EventLogEntry

    def entry(event_type, data):
        event = DagsterEvent(event_type_value=event_type.value, job_name="bench", event_specific_data=data)
        return EventLogEntry(error_info=None, level=20, user_message="", run_id=run_id,
                             timestamp=time.time(), dagster_event=event, job_name="bench")

    out = []
    for i in range(count):
        key = dg.AssetKey(["raw", "bench", f"table_{i % 50}"])
        if i % 3 == 0:
            out.append(entry(DagsterEventType.ASSET_MATERIALIZATION,
                             StepMaterializationData(dg.AssetMaterialization(asset_key=key))))
        elif i % 3 == 1:
            evaluation = dg.AssetCheckEvaluation(asset_key=key, check_name="not_null", passed=True)
            out.append(entry(DagsterEventType.ASSET_CHECK_EVALUATION, evaluation))
        else:
            out.append(entry(DagsterEventType.ENGINE_EVENT, EngineEventData()))
    return out


def _ms_per_event(storage_cls, count: int) -> float:
    with tempfile.TemporaryDirectory(prefix="ltc-bench-eventlog-") as base:
        storage = storage_cls(base)
        events = _events(count, "bench-run")
        started = time.perf_counter()
        for event in events:
            storage.store_event(event)
        seconds = time.perf_counter() - started
        assert len(storage.get_records_for_run("bench-run", limit=count + 1).records) == count
        storage.dispose()
    return seconds / count * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "event_log.json"))
    args = parser.parse_args(argv)

    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from orchestration.sqlite_event_log import PooledSqliteEventLogStorage

    classes = {"stock": SqliteEventLogStorage, "pooled": PooledSqliteEventLogStorage}
    _ms_per_event(PooledSqliteEventLogStorage, 30)  # untimed warm-up: imports, alembic config
    runs = []
    for i in range(args.repeat):
        runs.append({name: round(_ms_per_event(cls, args.events), 3) for name, cls in classes.items()})
        print(f"repeat {i + 1}: " + ", ".join(f"{n} {ms:.2f} ms/event" for n, ms in runs[-1].items()),
              flush=True)
    median = {name: round(statistics.median(r[name] for r in runs), 2) for name in classes}
    result = {
        "benchmark": "event_log",
        "command": f"python -m benchmarks.event_log --events {args.events} --repeat {args.repeat}",
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine("dagster", "sqlalchemy"),
        "median_ms_per_event": median,
        "speedup": round(median["stock"] / median["pooled"], 1),
        "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_ms_per_event", "speedup")}))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
