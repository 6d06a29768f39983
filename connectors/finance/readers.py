"""Statement file → Arrow rows (`schema.BANK_SCHEMA`), one reader per format.

Why its own module: these are the functions `drop.BankScan` runs in worker processes, so this
module and everything it imports stay free of dlt (importing dlt cost ~1.5 s per worker process on
the 2-core benchmark machine).
"""

from __future__ import annotations

import functools
from typing import Callable

import pyarrow as pa

from connectors.finance.bank_csv import DEFAULT_MAP, parse_bank_csv
from connectors.finance.camt053 import CamtParseError, parse_camt053
from connectors.finance.camt053_arrow import read_camt053
from connectors.finance.checks import BankFileError, check_rows
from connectors.finance.mt940 import parse_mt940
from connectors.finance.schema import to_arrow

PARSE_ERRORS = (CamtParseError, BankFileError)  # a file that cannot land: quarantined, with this message


def read_camt(data: bytes, name: str, sha: str) -> pa.Table:
    """CAMT.053: the Arrow fast path (`camt053_arrow`) when it can, else the exact reader, which
    also names the problem of a file that cannot land."""
    table = read_camt053(data, name, sha)
    return table if table is not None else read_camt_exact(data, name, sha)


def read_camt_exact(data: bytes, name: str, sha: str) -> pa.Table:
    """CAMT.053 through the exact reader only (the reference; ~3x slower, benchmarks/camt.py)."""
    rows = parse_camt053(data, name, sha)
    check_rows(rows, name, lambda i: f"statement {rows[i]['statement_id']} transaction {rows[i]['transaction_id']}")
    return to_arrow(rows, "camt053")  # no `transaction_details`: MT940's :86: text, CAMT has its fields split out


def read_mt940(data: bytes, name: str, sha: str) -> pa.Table:
    return to_arrow(parse_mt940(data, name, sha), "mt940")


def read_bank_csv(data: bytes, name: str, sha: str, spec: dict) -> pa.Table:
    return to_arrow(parse_bank_csv(data, name, sha, spec=spec), "bank_csv")


def parsers(csv_map: dict | None = None) -> dict[str, Callable[[bytes, str, str], pa.Table]]:
    """Format → reader of (bytes, file name, sha256). Module-level functions (and a partial), so
    they pickle by reference into worker processes."""
    return {"camt053": read_camt, "mt940": read_mt940,
            "bank_csv": functools.partial(read_bank_csv, spec=csv_map or DEFAULT_MAP)}


def parse_file(parser: Callable, errors: tuple, data: bytes, name: str, sha: str) -> tuple[pa.Table | None, str | None]:
    """(Arrow rows, None), or (None, the quarantine reason naming the file)."""
    try:
        return parser(data, name, sha), None
    except errors as exc:
        return None, (str(exc) if name in str(exc) else f"{name}: {exc}")
