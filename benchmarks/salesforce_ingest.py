"""One Salesforce landing, measured from inside its own process (the benchmark's child).

`python -m benchmarks.salesforce_ingest --mode bulk|rest` lands `Opportunity` from the Salesforce
the environment points at (SALESFORCE_INSTANCE_URL, a fresh LTC_HOME) and prints one JSON line:
wall seconds, rows landed, and this process's peak RSS (ru_maxrss), so the figure is the
connector's alone, not the fake server's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("bulk", "rest"), required=True)
    args = parser.parse_args()
    # bulk: every window goes through Bulk 2.0; rest: never
    os.environ["LTC_SF_BULK_THRESHOLD"] = "1" if args.mode == "bulk" else "0"

    import duckdb

    import connectors.salesforce.client  # noqa: F401 - imported before the clock starts: the
    import connectors.salesforce.source  # noqa: F401 - figure is the landing; process_seconds has all
    from connectors.ingest import run_ingest
    from connectors.settings import Settings

    started = time.perf_counter()
    result = run_ingest("salesforce", objects=["opportunity"])
    seconds = time.perf_counter() - started
    settings = Settings.from_env()
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        landed, distinct = con.execute("select count(*), count(distinct id) from raw_salesforce.opportunity").fetchone()
    print(json.dumps({
        "mode": args.mode,
        "seconds": round(seconds, 3),
        "rows": landed,
        "distinct_ids": distinct,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "bulk_used": any("Bulk API 2.0" in n for n in result.notes),
    }))


if __name__ == "__main__":
    main()
