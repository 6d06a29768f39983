"""dlt source over the finance file drop (`LTC_FINANCE_DROP`, sandbox: `<sandbox>/finance`; a folder or
an fsspec URL such as `s3://bucket/prefix`, see `connectors.finance.drop`).

- `bank_transactions`: the statements in three formats land into ONE table with a `source_format`
  column (`camt053`, `mt940`, `bank_csv`): `*.xml` CAMT.053 (`camt053.py`), `*.sta`/`*.mt940`/`*.940`
  MT940 (`mt940.py`), `*.csv` bank CSV through a column map (`bank_csv.py`). Files are keyed by the
  sha256 of their bytes, remembered in the resource state (kept in the warehouse by dlt), so a file
  delivered twice — even under another name — is parsed and landed once. Rows merge on
  `transaction_id`, so a corrected re-delivery updates rather than duplicates.
- A file that cannot be parsed is refused WHOLE (all three formats: a statement is one balanced
  document, half of it would make the bank balance silently wrong): it is moved to the quarantine
  folder with a `<name>.reason.txt`, lands one row in `quarantined_files` (merge on `file_sha256`,
  with the reason naming the file and row/line) and the run continues with the other files. Both
  resources share one parse of the new files per run (`drop.BankScan`).
- `fx_rates`: `fx_rates*.csv` and ECB-style XML (`eurofxref*.xml`, `fx_rates*.xml`), re-read each run (it is small and grows), merge
  on (`rate_date`, `currency`, `reporting_currency`). A malformed FX file fails the run: reports must
  not be built on a partial rate table.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import dlt
import pyarrow as pa

from connectors.finance.bank_csv import DEFAULT_MAP, parse_bank_csv
from connectors.finance.camt053 import CamtParseError, parse_camt053
from connectors.finance.checks import BankFileError, check_rows
from connectors.finance.drop import BankScan, FinanceDrop
from connectors.finance.fx import FX_COLUMNS, FX_KEY, read_ecb_xml, read_fx_csv
from connectors.finance.mt940 import parse_mt940
from connectors.landing import MONEY, drop_state, quarantine_resource

BANK_COLUMNS = [
    {"name": "transaction_id", "data_type": "text", "nullable": False},
    {"name": "file_name", "data_type": "text"},
    {"name": "file_sha256", "data_type": "text"},
    {"name": "statement_id", "data_type": "text"},
    {"name": "account_iban", "data_type": "text"},
    {"name": "account_currency", "data_type": "text"},
    {"name": "entry_reference", "data_type": "text"},
    {"name": "booking_date", "data_type": "date"},
    {"name": "value_date", "data_type": "date"},
    {"name": "credit_debit", "data_type": "text"},
    {"name": "amount", **MONEY},
    {"name": "currency", "data_type": "text"},
    {"name": "end_to_end_id", "data_type": "text"},
    {"name": "debtor_name", "data_type": "text"},
    {"name": "debtor_iban", "data_type": "text"},
    {"name": "remittance_unstructured", "data_type": "text"},
    {"name": "remittance_structured_reference", "data_type": "text"},
    {"name": "source_format", "data_type": "text"},  # camt053 | mt940 | bank_csv
    {"name": "transaction_details", "data_type": "text"},  # MT940 `:86:` text as delivered
]


STATE_KEY = "statement_files"
_ARROW_TYPES = {"text": pa.string(), "date": pa.date32(), "decimal": pa.decimal128(18, 2)}
BANK_SCHEMA = pa.schema([pa.field(c["name"], _ARROW_TYPES[c["data_type"]], nullable=c.get("nullable", True))
                         for c in BANK_COLUMNS])


def to_arrow(rows: list[dict]) -> pa.Table:
    """A page of bank rows as one Arrow table: dlt writes it to parquet as is, where dict rows went
    through dlt's row-by-row JSON normaliser (~3,500 rows/s; benchmarks/camt.py)."""
    return pa.table({f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in BANK_SCHEMA},
                    schema=BANK_SCHEMA)


def _read_camt(data: bytes, name: str, sha: str) -> list[dict]:
    rows = parse_camt053(data, name, sha)
    check_rows(rows, name, lambda i: f"statement {rows[i]['statement_id']} transaction {rows[i]['transaction_id']}")
    for row in rows:
        row["transaction_details"] = None  # MT940's :86: text; CAMT has its fields split out
    return rows


def parsers(csv_map: dict | None = None) -> dict:
    return {"camt053": _read_camt, "mt940": parse_mt940,
            "bank_csv": functools.partial(parse_bank_csv, spec=csv_map or DEFAULT_MAP)}


def _bank_transactions(scan: BankScan, notes: list[str]):
    @dlt.resource(
        name="bank_transactions",
        write_disposition="merge",
        primary_key="transaction_id",
        columns=BANK_COLUMNS,
        max_table_nesting=0,
    )
    def bank_transactions():
        """One row per statement transaction (CAMT.053 detail, MT940 :61:, CSV line); merge on transaction_id."""
        pages = 0
        for page in scan.landed_pages(drop_state(STATE_KEY)):
            pages += 1
            yield to_arrow(page)
        notes.append(f"bank_transactions: {pages} new statement file(s) with entries, {scan.skipped} already landed")

    return bank_transactions


def _fx_rates(drop: FinanceDrop, reporting_currency: str, notes: list[str]):
    @dlt.resource(
        name="fx_rates",
        write_disposition="merge",
        primary_key=list(FX_KEY),
        columns=FX_COLUMNS,
    )
    def fx_rates():
        """One row per (rate_date, currency, reporting_currency); merge on that key."""
        files = drop.fx_files()
        notes.append(f"fx_rates: {len(files)} file(s)")
        by_key: dict[tuple, dict] = {}
        # ECB XML first, CSVs after: a rate in a CSV overrides the crossed ECB rate of the same key
        for f in sorted(files, key=lambda f: (not f.name.lower().endswith(".xml"), f.path)):
            with tempfile.TemporaryDirectory() as tmp:  # the readers take a path; the drop may be s3
                local = Path(tmp) / f.name
                local.write_bytes(drop.read(f.path))
                rows = read_ecb_xml(local, reporting_currency) if f.name.lower().endswith(".xml") else read_fx_csv(local)
            by_key.update({tuple(r[k] for k in FX_KEY): r for r in rows})
        if by_key:
            yield list(by_key.values())

    return fx_rates


@dlt.source(name="finance", max_table_nesting=0)
def finance_source(location: str | Path, notes: list[str] | None = None, *, quarantine: str | None = None,
                   settle_s: float = 2.0, csv_map: dict | None = None, reporting_currency: str = "USD"):
    notes = notes if notes is not None else []
    drop = FinanceDrop(str(location), quarantine, settle_s)
    scan = BankScan(drop, parsers(csv_map), (CamtParseError, BankFileError))
    return [
        _bank_transactions(scan, notes),
        quarantine_resource(scan, STATE_KEY, notes),
        _fx_rates(drop, reporting_currency, notes),
    ]
