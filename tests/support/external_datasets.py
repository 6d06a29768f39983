"""Third-party validation datasets (../shared/datasets), read in place at test time.

The data is never copied into the project (licences: /work/shared/datasets/README.md). A test that
needs a file calls `dataset_file(...)`: it skips with a reason when the datasets folder or the file is
absent, and fails when the file's sha256 differs from PROVENANCE.csv (the published figures the tests
reproduce hold for that exact file only).

`empty_raw_warehouse` creates the raw_<system> tables the dbt project reads (the shapes of
tests/dbt/raw_fixture.py, docs/contracts.md §2) with no rows, and `insert_frame` fills one of them
from a pandas DataFrame in one statement (executemany is too slow for thousands of rows).
"""

from __future__ import annotations

import csv
import hashlib
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASETS = REPO_ROOT.parent / "shared" / "datasets"
LOADED_AT = "timestamptz '2026-01-01 00:00:00+00'"


def _provenance() -> dict[str, str]:
    with (DATASETS / "PROVENANCE.csv").open(newline="") as fh:
        return {row["local_file"]: row["sha256"] for row in csv.DictReader(fh)}


def dataset_file(relative: str) -> Path:
    """The dataset file `relative` (to the datasets folder), checked against PROVENANCE.csv."""
    if not DATASETS.is_dir():
        pytest.skip(f"external validation datasets not present at {DATASETS}")
    path = DATASETS / relative
    if not path.is_file():
        pytest.skip(f"external dataset file missing: {path}")
    expected = _provenance().get(relative)
    assert expected, f"{relative} is not listed in {DATASETS / 'PROVENANCE.csv'}"
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    assert actual == expected, f"{path}: sha256 {actual} differs from PROVENANCE.csv ({expected})"
    return path


def round_half_up(value, places: int) -> Decimal:
    """Round like PostgreSQL's numeric round() (half away from zero), not Python's banker's round."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def empty_raw_warehouse(path: Path) -> Path:
    """A DuckDB file with every raw table of raw_fixture.DDL and no rows."""
    from raw_fixture import _DLT, DDL  # tests/dbt is on sys.path when the dbt tests run

    con = duckdb.connect(str(path))
    try:
        for schema in ("raw_salesforce", "raw_erp", "raw_finance", "raw_marketing"):
            con.execute(f"create schema if not exists {schema}")
        for table, ddl in DDL.items():
            con.execute(f"create or replace table {table} ({ddl}, {_DLT})")
    finally:
        con.close()
    return path


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame, load_id: str) -> int:
    """Append `frame` to raw table `table`: its columns are matched by name (missing ones are null),
    values are cast to the table's types, and the dlt columns are filled like a load."""
    columns = [name for name, *_ in con.execute(f"describe {table}").fetchall()
               if not name.startswith("_dlt_") and name != "_loaded_at"]
    unknown = set(frame.columns) - set(columns)
    assert not unknown, f"{table} has no columns {sorted(unknown)}"
    types = {name: kind for name, kind, *_ in con.execute(f"describe {table}").fetchall()}
    select = ", ".join(
        f'cast(frame."{c}" as {types[c]})' if c in frame.columns else f"cast(null as {types[c]})"
        for c in columns
    )
    con.register("frame", frame)
    try:
        con.execute(f"insert into {table} select {select}, '{load_id}', gen_random_uuid()::varchar, "
                    f"{LOADED_AT} from frame")
    finally:
        con.unregister("frame")
    return len(frame)


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple], load_id: str) -> int:
    """Append tuples shaped like raw_fixture's builders (invoice_row, receipt_row: every column of
    `table` but the dlt ones, in table order) through `insert_frame`: one statement instead of
    raw_fixture.insert_invoices / insert_receipts' executemany, which takes ~15 s per 2,500 rows."""
    import pandas as pd

    columns = [name for name, *_ in con.execute(f"describe {table}").fetchall()
               if not name.startswith("_dlt_") and name != "_loaded_at"]
    assert all(len(row) == len(columns) for row in rows), f"{table} rows must have {len(columns)} values"
    return insert_frame(con, table, pd.DataFrame.from_records(rows, columns=columns), load_id)
