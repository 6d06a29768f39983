"""`ltc-dbt`: dbt's own command line, in a process whose cyclic garbage collector makes no full
collections. Every dbt call of the pipeline runs through it (`orchestration.prepare.dbt_executable`).

Why: a dbt build is a short batch process that keeps a large graph of live objects (the manifest of
~380 nodes, the Jinja environments, the adapter) and allocates millions of short-lived ones per node.
With CPython's default thresholds the collector walks that whole live graph in each full
(generation 2) collection, with the GIL held, so both dbt threads stop meanwhile; the young
collections (generations 0 and 1) are what free the few short-lived cycles. Measured on the
10k-lead sandbox's incremental `dbt build` (377 nodes, this 2-core machine, gc.callbacks timing):
2,206 collections took 1.6 to 2.0 s, of which the full ones 1.1 to 1.3 s; with full collections off,
the young ones took 0.6 s and the process's peak RSS went from 300 to 321 MB (no collection at all:
456 MB). The young generations keep their default thresholds. The same incremental builds through
`dbt` and `ltc-dbt`, alternately, on the machine above: at 10k leads (3 each) wall median 11.34 ->
10.95 s, CPU 12.66 -> 12.30 s; at 1M leads (2 each) wall 26.9 and 25.9 -> 25.6 and 23.3 s, CPU 44.9
and 41.2 -> 41.6 and 38.5 s, peak RSS 1.98 -> 1.99 GB.

Arguments, exit code, output and environment are dbt's: `ltc-dbt build ...` is `dbt build ...`.
"""

from __future__ import annotations

import gc
import sys

# Generation-2 threshold: how many generation-1 collections before a full one (CPython's default
# is 10). A million is never, in a dbt run: the ~2,200 young collections of a build make ~200.
FULL_COLLECTION_AFTER = 1_000_000


def tune_collector() -> None:
    """Keep the young generations' thresholds; make full collections never happen."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)


def main() -> None:
    tune_collector()
    from dbt.cli.main import cli

    sys.exit(cli(prog_name="dbt"))


if __name__ == "__main__":
    main()
