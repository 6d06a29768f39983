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
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.finance.drop import BankScan, FinanceDrop
from connectors.finance.fx import FX_COLUMNS, FX_KEY, read_ecb_xml, read_fx_csv
from connectors.finance.readers import PARSE_ERRORS, parsers
from connectors.finance.schema import BANK_COLUMNS, BANK_SCHEMA
from connectors.landing import drop_state, quarantine_resource

STATE_KEY = "statement_files"


def _last_delivery_wins(pages: list[pa.Table]) -> tuple[pa.Table | None, int]:
    """All pages as ONE table, keeping each `transaction_id`'s row from the last page (file) it
    appears in. Two new files in one run can carry the same transaction (overlapping statement
    periods); the merge on the key must not see it twice in one load (dlt's merge kept both rows).

    One table, not a page per file: dlt computes and validates the table schema for every item it
    is given, and at 100 files that was 2.5 s of a 7 s landing of 100k CAMT entries (cProfile,
    `benchmarks/camt.py`). `concat_tables` copies nothing (the pages become chunks)."""
    if not pages:
        return None, 0
    table = pa.concat_tables([p if p.schema.equals(BANK_SCHEMA) else p.cast(BANK_SCHEMA) for p in pages])
    ids = table.column("transaction_id")
    if pc.count_distinct(ids).as_py() == table.num_rows:
        return table, 0
    position = pa.array(np.arange(table.num_rows))
    last = pa.table({"transaction_id": ids, "position": position}).group_by("transaction_id").aggregate(
        [("position", "max")])
    kept = table.filter(pc.is_in(position, value_set=last.column("position_max")))
    return kept, table.num_rows - kept.num_rows


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
        table, repeated = _last_delivery_wins(pages)
        if table is not None:
            yield table
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


def bank_scan(location: str | Path, *, quarantine: str | None = None, settle_s: float = 2.0,
              csv_map: dict | None = None, workers: int = 0) -> BankScan:
    """The statement files of one run over the drop at `location` (parsed once, lazily)."""
    return BankScan(FinanceDrop(str(location), quarantine, settle_s), parsers(csv_map), PARSE_ERRORS, workers)


@dlt.source(name="finance", max_table_nesting=0)
def finance_source(location: str | Path, notes: list[str] | None = None, *, quarantine: str | None = None,
                   settle_s: float = 2.0, csv_map: dict | None = None, reporting_currency: str = "USD",
                   workers: int = 0, first_load: bool = False, scan: BankScan | None = None):
    """`scan`: a `BankScan` built by the caller (`bank_scan`), e.g. to start its workers early;
    else one is built here from `location`, `quarantine`, `settle_s`, `csv_map` and `workers`."""
    notes = notes if notes is not None else []
    scan = scan or bank_scan(location, quarantine=quarantine, settle_s=settle_s, csv_map=csv_map, workers=workers)
    drop = scan.drop
    return [
        _bank_transactions(scan, notes, first_load),
        quarantine_resource(scan, STATE_KEY, notes),
        _fx_rates(drop, reporting_currency, notes),
    ]
