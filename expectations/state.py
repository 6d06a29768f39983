"""Row counts remembered between validations, for the "must not shrink" bound.

Why a JSON file per table under a state directory, not a DuckDB table such as
``ltc_quality.row_counts``: validation reads the warehouse through a *read-only* connection (DuckDB
allows one writer per file, and the loader or dbt may hold it; reliability notes §7), so writing
state into the same file would need the write lock in every check. One file per table also means
checks running in parallel processes (Dagster's multiprocess executor) never read-modify-write the
same file; each write is atomic (temp file + rename), so a crash leaves the old count or the new,
never half a file.

Layout: ``<state_dir>/row_counts/<schema>.<table>.json`` =
``{"table": "raw_erp.invoices", "rows": 1234, "recorded_at": "2026-11-27T13:00:00+00:00"}``.
Only counts and timestamps, never data.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import tempfile
from pathlib import Path

# Raw tables are merge-loaded: they never lose rows legitimately (deletes arrive as flags), so a
# shrink is a truncation or a wrong target (dlt-hub/dlt#3998 truncated a table on an empty
# incremental load). 10 % leaves room for a deliberate clean-up of duplicates.
DEFAULT_MAX_SHRINK = 0.10

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class RowCountState:
    """The row count of each table at its last validation that did not block."""

    def __init__(self, state_dir: str | Path) -> None:
        self.directory = Path(state_dir) / "row_counts"

    def _path(self, table: str) -> Path:
        return self.directory / f"{_SAFE.sub('_', table)}.json"

    def previous(self, table: str) -> int | None:
        """The recorded count, or None on the first run (or an unreadable file: no bound)."""
        path = self._path(table)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return int(data["rows"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def record(self, table: str, rows: int, when: dt.datetime | None = None) -> None:
        when = when or dt.datetime.now(dt.timezone.utc)
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = {"table": table, "rows": int(rows), "recorded_at": when.replace(microsecond=0).isoformat()}
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".row_count_", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh)
            os.replace(tmp, self._path(table))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def min_rows(previous: int, max_shrink: float) -> int:
    """The fewest rows allowed after `previous`: at most `max_shrink` of them may go
    (previous 1000, 10 % → 900; previous 5 → 5, since half a row cannot go)."""
    if not 0 <= max_shrink <= 1:
        raise ValueError(f"max_shrink must be within 0..1, got {max_shrink}")
    return previous - math.floor(round(previous * max_shrink, 9))  # 100 × 0.29 is 28.999… in binary
