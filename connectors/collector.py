"""Python's cyclic garbage collector, set for the pipeline's batch steps: without full collections
(a dbt build, an ingest), or off for a report build (`collector_paused`, which says why).

Why: a step of the pipeline (a dbt build, an ingest) keeps a large graph of live objects for its
whole run (dbt's manifest and Jinja environments; dlt's schemas, pipeline state and source
objects) and allocates millions of short-lived ones. With CPython's default thresholds each full
(generation 2) collection walks the whole live graph with the GIL held, and frees next to nothing:
the young collections (generations 0 and 1), which keep their default thresholds here, free the
short-lived cycles. Measured (gc.callbacks timing, this 2-core machine):
- dbt's incremental build of the 10k-lead sandbox: 2,206 collections took 1.6-2.0 s, the full ones
  1.1-1.3 s; without full collections the young ones took 0.6 s, peak RSS 300 -> 321 MB;
- the 1 %-changed incremental Salesforce ingest at 1M leads (its benchmark child, 3 runs each,
  alternately): 0.28-0.32 s of collections, 0.21-0.24 s of them full, against 0.14-0.15 s with
  full collections paused in `run_ingest` (0.07 s full, at import); the ingest's own time, median
  5.68 -> 5.24 s, is within its run-to-run noise (5.1-6.1 s).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Generation-2 threshold: how many generation-1 collections before a full one (CPython's default is
# 10). A million is never, in one step: a 10k dbt build makes ~200 generation-1 collections.
FULL_COLLECTION_AFTER = 1_000_000


def full_collections_off() -> None:
    """For the rest of this process: no full collections; the young generations as they are."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)


_lock = threading.Lock()
_paused = 0  # blocks inside full_collections_paused, on any thread
_saved: tuple[int, ...] = ()


@contextmanager
def full_collections_paused() -> Iterator[None]:
    """No full collections while the block runs; the collector's thresholds as they were once the
    last such block of the process ends (the thresholds are the process's: blocks on several
    threads overlap), and the next full collection then frees whatever cycles they left."""
    global _paused, _saved
    with _lock:
        if _paused == 0:
            _saved = gc.get_threshold()
            full_collections_off()
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0:
                gc.set_threshold(*_saved)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while the block runs, back on (if it was) after.

    For a report edition's build (reports/edition.py): it makes a few million objects that live
    until it ends and hold no cycles (mart rows, worklist rows, cell strings); each time their
    number grows by a quarter the collector walks every one of them, which at 1M leads cost 0.5 to
    0.8 of 6 CPU seconds and bought nothing. Reference counting still frees everything as before;
    the few cycles a build leaves (Jinja's) are collected once the collector is back on. The
    collector is off for the whole process, so only for the seconds of one build."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
