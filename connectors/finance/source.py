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

import tempfile
from pathlib import Path

import dlt
import pyarrow as pa
import pyarrow.compute as pc

from connectors.finance.drop import BankScan, FinanceDrop
from connectors.finance.fx import FX_COLUMNS, FX_KEY, read_ecb_xml, read_fx_csv
from connectors.finance.readers import PARSE_ERRORS, parsers
from connectors.finance.schema import BANK_COLUMNS
from connectors.landing import drop_state, quarantine_resource

STATE_KEY = "statement_files"


def _last_delivery_wins(pages: list[pa.Table]) -> tuple[list[pa.Table], int]:
    """Keep each `transaction_id`'s row from the last page (file) it appears in. Two new files in
    one run can carry the same transaction (overlapping statement periods); the merge on the key
    must not see it twice in one load (dlt's merge kept both rows)."""
    ids = [i for page in pages for i in page.column("transaction_id").to_pylist()]
    last = {transaction_id: n for n, transaction_id in enumerate(ids)}
    if len(last) == len(ids):
        return pages, 0
    out, start = [], 0
    for page in pages:
        keep = pa.array([last[t] == start + n for n, t in enumerate(page.column("transaction_id").to_pylist())])
        start += page.num_rows
        if pc.any(keep).as_py():
            out.append(page.filter(keep))
    return out, len(ids) - len(last)


def _bank_transactions(scan: BankScan, notes: list[str], first_load: bool):
    @dlt.resource(
        name="bank_transactions",
        # an empty table (the first backfill) is appended to: ids are unique within the load
        # (`_last_delivery_wins`), so a merge would only add its staging copy (`landing.empty_tables`)
        write_disposition="append" if first_load else "merge",
        primary_key="transaction_id",
        columns=BANK_COLUMNS,
        max_table_nesting=0,
    )
    def bank_transactions():
        """One row per statement transaction (CAMT.053 detail, MT940 :61:, CSV line); merge on transaction_id."""
        pages = list(scan.landed_pages(drop_state(STATE_KEY)))
        pages, repeated = _last_delivery_wins(pages)
        yield from pages
        notes.append(f"bank_transactions: {len(pages)} new statement file(s) with entries, {scan.skipped} already landed"
                     + (f", {scan.parsed_by_workers} parsed in worker processes" if scan.parsed_by_workers else ""))
        if repeated:
            notes.append(f"bank_transactions: {repeated} transaction(s) came in more than one new file; "
                         "the row of the last file (by name) landed, as a later run's file would replace it")

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
                   settle_s: float = 2.0, csv_map: dict | None = None, reporting_currency: str = "USD",
                   workers: int = 0, first_load: bool = False):
    notes = notes if notes is not None else []
    drop = FinanceDrop(str(location), quarantine, settle_s)
    scan = BankScan(drop, parsers(csv_map), PARSE_ERRORS, workers)
    return [
        _bank_transactions(scan, notes, first_load),
        quarantine_resource(scan, STATE_KEY, notes),
        _fx_rates(drop, reporting_currency, notes),
    ]
