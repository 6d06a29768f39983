"""Imported once by the forkserver that forks `drop.BankScan`'s statement-parsing workers.

Why a module with an import-time side effect: the forkserver can only preload modules, and the
first Arrow compute call of a process registers every compute kernel (2.4 s on the 2-core
benchmark machine, more than parsing 3,000 CAMT entries). Paid here, once, every forked worker
inherits it; paid in each worker, it ate most of what a second worker saves.
"""

import pyarrow as pa
import pyarrow.compute as pc

import connectors.finance.readers  # noqa: F401 - the readers the workers run

pc.add(pa.array([1]), 1)
