"""The one place that builds dlt pipelines and the shared landing conventions.

Every connector lands through `make_pipeline`, so switching the warehouse from the DuckDB file to
Postgres is configuration (`LTC_WAREHOUSE=postgres`, `LTC_PG_DSN`), not code; so is landing Parquet
files for Spark (`LTC_WAREHOUSE=spark`, `LTC_RAW_PATH`). dlt keeps its
incremental state, load ids and schema versions in the destination dataset (`_dlt_pipeline_state`,
`_dlt_loads`, `_dlt_version`) and restores them on a clean worker, so `settings.dlt_dir` is only a
scratch folder.

Also here: `stamp_loaded_at` (the `_loaded_at` column dbt source freshness reads) and the small
helpers the file-drop connectors share (sha256 of a delivered file, listing a drop folder).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from pathlib import Path
from typing import Any, Callable

import dlt
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.settings import Settings, apply_offline_defaults

log = logging.getLogger(__name__)

LOADED_AT = "_loaded_at"
DLT_ID = "_dlt_id"
LOADED_AT_HINT = {"name": LOADED_AT, "data_type": "timestamp", "timezone": True, "nullable": False}


class LandingConfigError(ValueError):
    """The warehouse configuration is incomplete (e.g. postgres without a DSN)."""


def make_destination(settings: Settings):
    if settings.warehouse == "postgres":
        if not settings.pg_dsn:
            raise LandingConfigError("LTC_WAREHOUSE=postgres needs LTC_PG_DSN (postgresql://user:pass@host:5432/db)")
        return dlt.destinations.postgres(credentials=settings.pg_dsn)
    if settings.warehouse == "spark":
        return parquet_destination(settings)
    if settings.warehouse != "duckdb":
        raise LandingConfigError(f"LTC_WAREHOUSE={settings.warehouse!r} is not supported; use duckdb, postgres or spark")
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    spill = settings.home / "duckdb_tmp"
    credentials = DuckDbCredentials(
        str(settings.duckdb_path),
        global_config={"memory_limit": settings.duckdb_memory_limit, "temp_directory": str(spill)},
    )
    return dlt.destinations.duckdb(credentials)


def parquet_destination(settings: Settings):
    """`LTC_WAREHOUSE=spark`: the raw tables as Parquet files through dlt's filesystem destination,
    one folder per table, `<raw_path>/raw_<system>/<table>/<load_id>.<file_id>.parquet`, which
    Spark reads as a table (dbt_project/macros/spark_raw.sql). Only appends: dlt merges into plain
    files as appends, so this layout holds a first (full) load; an incremental run on it needs a
    table format (delta or iceberg) instead."""
    raw = settings.raw_path or settings.home / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    return dlt.destinations.filesystem(bucket_url=raw.as_uri())


def pipeline_name(system: str) -> str:
    """The dlt pipeline (and its working folder under `settings.dlt_dir`) of one source system."""
    return f"ltc_{system}"


def make_pipeline(system: str, settings: Settings) -> dlt.Pipeline:
    """`ltc_<system>` pipeline landing into dataset `raw_<system>` of the configured warehouse."""
    apply_offline_defaults()  # no dlt telemetry: nothing at run time may reach the internet
    # Arrow items get dlt's load columns too, like JSON items do: every raw table keeps
    # `_dlt_load_id` (added by dlt at extract) and `_dlt_id` (added by `stamp_loaded_at`, see
    # `_with_row_ids`; dlt's own per-row ids made the normalize step rewrite every file)
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = False
    settings.dlt_dir.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=pipeline_name(system),
        destination=make_destination(settings),
        dataset_name=f"raw_{system}",
        pipelines_dir=str(settings.dlt_dir),
    )


def empty_tables(pipeline: dlt.Pipeline, tables: list[str]) -> set[str]:
    """The raw tables that do not exist yet or hold no row (no dataset yet: all of them). A first
    load into such a table may append instead of merging: with keys unique within the load the
    result is the same, without the staging copy a merge makes (ERP, 1M lines: load step 4.5 s →
    2.9 s; benchmarks/erp.py)."""
    if pipeline.has_pending_data:
        # a package a killed run left is loaded before this run's (`ingest._finish_pending`): its
        # tables are not empty by then, and appending to them would duplicate every key it holds
        return set()
    empty = set()
    try:
        with pipeline.sql_client() as client:
            for table in tables:
                try:
                    if not client.execute_sql(f"select 1 from {client.make_qualified_table_name(table)} limit 1"):
                        empty.add(table)
                except Exception:  # noqa: BLE001 - no such table
                    empty.add(table)
    except Exception:  # noqa: BLE001 - no dataset (or warehouse) yet
        return set(tables)
    return empty


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _with_row_ids(table: pa.Table) -> pa.Table:
    """`table` with a `_dlt_id` column, unless it has one: a random 64-bit prefix per table plus the
    row number, built column-wise. dlt's normaliser would generate one random id per row in Python
    (2.7 s of a 1M-row ERP load) and, for that, rewrite the whole parquet file it could otherwise
    import as is (normalize step 1.6 s → ~0.1 s; benchmarks/erp.py)."""
    if DLT_ID in table.column_names:
        return table
    numbers = pc.cast(pa.array(np.arange(table.num_rows, dtype=np.int64)), pa.string())
    ids = pc.binary_join_element_wise(pa.repeat(secrets.token_hex(8) + "-", table.num_rows), numbers, "")
    return table.append_column(pa.field(DLT_ID, pa.string(), nullable=False), ids)


def stamp_loaded_at(source: Any, loaded_at: dt.datetime, hint: bool = True) -> Any:
    """Add `_loaded_at` (one value per run) to every row of every selected resource, and `_dlt_id`
    to Arrow items (dlt adds it to dict rows itself).

    Works for both item shapes we yield: dict rows (pages of them are mapped row by row by dlt)
    and Arrow tables (one vectorised column append per table, from the sql_database pyarrow backend).
    `hint=False` for `sql_table` resources: their Arrow column already carries the type, and a
    column hint the source table does not have only earns a warning.
    """

    def _stamp(item):
        if isinstance(item, pa.Table):
            # one scalar repeated in C (a Python list of datetimes cost 1.4 s per 1M rows)
            col = pa.repeat(pa.scalar(loaded_at, type=pa.timestamp("us", tz="UTC")), item.num_rows)
            if LOADED_AT in item.column_names:
                item = item.drop_columns([LOADED_AT])
            return _with_row_ids(item.append_column(pa.field(LOADED_AT, col.type, nullable=False), col))
        item[LOADED_AT] = loaded_at
        return item

    for resource in source.selected_resources.values():
        resource.add_map(_stamp)
        if hint:
            resource.apply_hints(columns=[LOADED_AT_HINT])
    return source


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def drop_folder(location: str | None, env_name: str) -> Path:
    """Resolve a file-drop location to a local folder (v1 supports local paths only)."""
    if not location:
        raise LandingConfigError(f"{env_name} is not set; point it at the drop folder")
    if "://" in location and not location.startswith("file://"):
        raise LandingConfigError(f"{env_name}={location!r}: only local folders are supported in v1")
    folder = Path(location.removeprefix("file://")).expanduser()
    if not folder.is_dir():
        raise LandingConfigError(f"{env_name}={location!r} is not a folder")
    return folder


def sorted_files(folder: Path, pattern: str) -> list[Path]:
    """Files under `folder` matching `pattern`, in a stable order (name) so runs are reproducible."""
    return sorted(p for p in folder.rglob(pattern) if p.is_file())


# ---- typed flat files and quarantine (shared by the file-drop connectors) ----------------------

QUARANTINE_TABLE = "quarantined_files"
QUARANTINE_HINTS = {
    "table_name": QUARANTINE_TABLE,
    "write_disposition": "merge",
    "primary_key": "file_sha256",
    "columns": [
        {"name": "file_sha256", "data_type": "text", "nullable": False},
        {"name": "file_name", "data_type": "text"},
        {"name": "reason", "data_type": "text"},
        {"name": "quarantined_at", "data_type": "timestamp", "timezone": True},
    ],
}


def quarantine_row(file_name: str, sha256: str, reason: str) -> dict:
    """One `quarantined_files` row: which file, which bytes, why."""
    return {"file_sha256": sha256, "file_name": file_name, "reason": reason[:1000], "quarantined_at": utc_now()}


class DropScan:
    """Reads the files of a drop folder not landed yet, once per run, for a data resource and the
    quarantine resource alike.

    `seen` (kept in the dlt source state, i.e. in the warehouse) maps sha256 → what became of the
    file, so a file delivered twice — even under another name — is read once. Each resource marks
    only what it yields itself: if `quarantined_files` is not selected, a bad file is looked at
    again next run rather than forgotten.
    """

    def __init__(self, folder: Path, pattern: str, read: Callable[[Path, str], Any], errors: tuple):
        # `read(path, sha)` gives the file's rows (or any parsed form its caller understands, e.g.
        # marketing's rows plus bad rows); raising one of `errors` quarantines the file
        self.folder, self.pattern, self.read, self.errors = folder, pattern, read, errors
        self._results: list[tuple[Path, str, Any | None, str | None]] | None = None
        self.skipped = 0

    def results(self, seen: dict):
        if self._results is None:
            self._results, this_run = [], set()
            for path in sorted_files(self.folder, self.pattern):
                sha = file_sha256(path)
                if sha in seen or sha in this_run:
                    self.skipped += 1
                    continue
                this_run.add(sha)
                try:
                    self._results.append((path, sha, self.read(path, sha), None))
                except self.errors as exc:
                    log.warning("quarantined %s: %s", path.name, exc)
                    self._results.append((path, sha, None, str(exc)))
        return self._results

    def landed_pages(self, seen: dict):
        """Row pages of the readable new files, marking each as loaded."""
        for path, sha, rows, _ in self.results(seen):
            if rows is None:
                continue
            seen[sha] = {"file_name": path.name, "status": "loaded", "rows": len(rows)}
            if rows:
                yield rows

    def quarantined(self, seen: dict) -> list[dict]:
        rows = []
        for path, sha, parsed, reason in self.results(seen):
            if parsed is None:
                seen[sha] = {"file_name": path.name, "status": "quarantined"}
                rows.append(quarantine_row(path.name, sha, reason))
        return rows


def drop_state(key: str) -> dict:
    return dlt.current.source_state().setdefault(key, {})


def quarantine_resource(scan: DropScan, state_key: str, notes: list[str]):
    """`quarantined_files`: one row per delivered file that could not be read, with the reason."""

    @dlt.resource(name=QUARANTINE_TABLE, **{k: v for k, v in QUARANTINE_HINTS.items() if k != "table_name"})
    def quarantined_files():
        """One row per unreadable delivered file (sha256, name, reason); merge on file_sha256."""
        rows = scan.quarantined(drop_state(state_key))
        if rows:
            notes.append(f"{QUARANTINE_TABLE}: {', '.join(r['file_name'] for r in rows)}")
            yield rows

    return quarantined_files
