"""dlt source over the finance file drop (`LTC_FINANCE_DROP`, sandbox: `<sandbox>/finance`).

- `bank_transactions`: every `*.xml` under the drop is a CAMT.053 statement. Files are keyed by the
  sha256 of their bytes, remembered in the resource state (kept in the warehouse by dlt), so a file
  delivered twice — even under another name — is parsed and landed once. Rows merge on
  `transaction_id`, so a corrected re-delivery updates rather than duplicates.
- A file that cannot be parsed lands one row in `quarantined_files` (merge on `file_sha256`, with
  the reason) and the run continues with the other files: nothing is silently dropped. Both
  resources share one parse of the new files per run (`landing.DropScan`).
- `fx_rates`: `fx_rates.csv` (any `fx_rates*.csv`), re-read each run (it is small and grows), merge
  on (`rate_date`, `currency`, `reporting_currency`). A malformed FX file fails the run: reports must
  not be built on a partial rate table.
"""

from __future__ import annotations

from pathlib import Path

import dlt

from connectors.finance.camt053 import CamtParseError, parse_camt053
from connectors.finance.fx import FX_COLUMNS, FX_KEY, read_fx_csv
from connectors.landing import MONEY, DropScan, drop_state, quarantine_resource, sorted_files

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
]


STATE_KEY = "statement_files"


def _read_statement(path: Path, sha: str) -> list[dict]:
    return parse_camt053(path.read_bytes(), path.name, sha)


def _bank_transactions(scan: DropScan, notes: list[str]):
    @dlt.resource(
        name="bank_transactions",
        write_disposition="merge",
        primary_key="transaction_id",
        columns=BANK_COLUMNS,
        max_table_nesting=0,
    )
    def bank_transactions():
        """One row per CAMT.053 transaction detail; merge on transaction_id."""
        pages = 0
        for page in scan.landed_pages(drop_state(STATE_KEY)):
            pages += 1
            yield page
        notes.append(f"bank_transactions: {pages} new statement file(s) with entries, {scan.skipped} already landed")

    return bank_transactions


def _fx_rates(folder: Path, notes: list[str]):
    @dlt.resource(
        name="fx_rates",
        write_disposition="merge",
        primary_key=list(FX_KEY),
        columns=FX_COLUMNS,
    )
    def fx_rates():
        """One row per (rate_date, currency, reporting_currency); merge on that key."""
        files = sorted_files(folder, "fx_rates*.csv")
        notes.append(f"fx_rates: {len(files)} file(s)")
        for path in files:
            yield read_fx_csv(path)

    return fx_rates


@dlt.source(name="finance", max_table_nesting=0)
def finance_source(folder: Path, notes: list[str] | None = None):
    notes = notes if notes is not None else []
    scan = DropScan(Path(folder), "*.xml", _read_statement, (CamtParseError,))
    return [
        _bank_transactions(scan, notes),
        quarantine_resource(scan, STATE_KEY, notes),
        _fx_rates(Path(folder), notes),
    ]
