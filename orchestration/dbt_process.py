"""`ltc-dbt`: dbt's own command line, in a process whose cyclic garbage collector makes no full
collections (connectors/collector.py says why, with the measurements). Every dbt call of the
pipeline runs through it (`orchestration.prepare.dbt_executable`).

The same incremental builds through `dbt` and `ltc-dbt`, alternately, on this 2-core machine: at
10k leads (3 each) wall median 11.34 -> 10.95 s, CPU 12.66 -> 12.30 s; at 1M leads (2 each) wall
26.9 and 25.9 -> 25.6 and 23.3 s, CPU 44.9 and 41.2 -> 41.6 and 38.5 s, peak RSS 1.98 -> 1.99 GB.

Arguments, exit code, output and environment are dbt's: `ltc-dbt build ...` is `dbt build ...`.
"""

from __future__ import annotations

import sys

from connectors.collector import full_collections_off


def main() -> None:
    full_collections_off()
    from dbt.cli.main import cli

    sys.exit(cli(prog_name="dbt"))


if __name__ == "__main__":
    main()
