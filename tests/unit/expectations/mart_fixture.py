"""A small hand-made `marts` schema in DuckDB: only the columns the mart suites read, with money
that balances everywhere (every mart suite passes). Tests break one rule at a time with `breaks`
(SQL run after the inserts) and check that exactly that rule fails, by key.

The story: I1 paid in full by R1; I2 half paid by R2, whose rest is unapplied; I3 short paid by
R3 with the shortfall written off; I4 cancelled; R4 unidentified cash.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb

M = "decimal(18,2)"

DDL = {
    "fct_invoices": f"invoice_id varchar, currency varchar, total_amount {M}, applied_amount {M}, "
    f"written_off_amount {M}, outstanding_amount {M}, is_cancelled boolean",
    "fct_cash_applications": f"application_id varchar, receipt_id varchar, invoice_id varchar, applied_amount {M}, "
    "write_off_amount decimal(18,2), application_method varchar, match_confidence decimal(3,2)",
    "fct_cash_receipts": f"receipt_id varchar, currency varchar, amount {M}, applied_amount {M}, "
    f"unapplied_amount {M}, application_status varchar",
    "fct_ar_aging": f"invoice_id varchar, as_of_date date, total_amount {M}, applied_amount {M}, "
    f"outstanding_amount {M}, aging_bucket varchar, days_past_due integer",
    "rpt_contract_reconciliation": "reconciliation_key varchar, section varchar, reconciliation_status varchar, "
    "currency varchar, "
    + ", ".join(
        f"{c} {M}, {c}_reporting {M}"
        for c in ("contract_value", "ordered_amount", "delivered_amount", "invoiced_amount", "invoiced_total_amount",
                  "received_amount", "unordered_amount", "undelivered_amount", "delivered_not_invoiced_amount",
                  "uncollected_amount")
    ),
    "rpt_funnel_conversion": "measure_type varchar, dimension varchar, dimension_value varchar, period_month date, "
    "stage_code varchar, stage_order integer, journeys bigint, conversion_from_previous decimal(18,6)",
    "rpt_cash_collection": f"period_month date, ending_ar {M}, current_ar {M}, overdue_ar {M}, collected_amount {M}, "
    "on_time_collection_rate decimal(18,6)",
}


def _reconciliation_row(key, section, status, ccy, fx, value, ordered, delivered, invoiced, invoiced_total, received):
    amounts = [value, ordered, delivered, invoiced, invoiced_total, received,
               value - ordered, ordered - delivered, delivered - invoiced, invoiced_total - received]
    row = [key, section, status, ccy]
    for a in amounts:
        row += [a, round(a * fx, 2)]
    return tuple(row)


def _funnel(measure, dimension, value, month, journeys):
    rows, previous = [], None
    for i, n in enumerate(journeys, start=1):
        conv = None if previous in (None, 0) else round(n / previous, 6)
        rows.append((measure, dimension, value, month, f"S{i}", i, n, conv))
        previous = n
    return rows


ROWS = {
    "fct_invoices": [
        ("I1", "USD", 100, 100, 0, 0, False),
        ("I2", "EUR", 200, 150, 0, 50, False),
        ("I3", "GBP", 80, 70, 10, 0, False),
        ("I4", "USD", 40, 0, 0, 0, True),
    ],
    "fct_cash_applications": [
        ("A1", "R1", "I1", 100, 0, "invoice reference", 1.0),
        ("A2", "R2", "I2", 150, 0, "exact amount", 0.9),
        ("A3", "R3", "I3", 70, 10, "tolerance", 0.8),
    ],
    "fct_cash_receipts": [
        ("R1", "USD", 100, 100, 0, "applied"),
        ("R2", "EUR", 200, 150, 50, "partially applied"),
        ("R3", "GBP", 70, 70, 0, "applied"),
        ("R4", "USD", 30, 0, 30, "unidentified"),
    ],
    "fct_ar_aging": [
        ("I2", "2025-11-30", 200, 0, 200, "current", 0),
        ("I2", "2025-12-31", 200, 150, 50, "1-30", 12),
    ],
    "rpt_contract_reconciliation": [
        _reconciliation_row("C1", "contract", "reconciled", "USD", 1, 1000, 1000, 1000, 1000, 1200, 1200),
        _reconciliation_row("no contract:EUR", "no contract", "no contract", "EUR", 1.1, 0, 200, 200, 150, 180, 100),
    ],
    "rpt_funnel_conversion": (
        _funnel("cohort", "total", "all", "2025-01-01", [10, 8, 5, 2])
        + _funnel("cohort", "channel", "Paid Search", "2025-01-01", [6, 6, 3])
        + _funnel("period", "total", "all", "2025-01-01", [4, 7, 2])  # period rows may grow (other cohorts)
    ),
    "rpt_cash_collection": [
        ("2025-11-01", 200, 200, 0, 0, None),
        ("2025-12-01", 50, 0, 50, 320, 0.5),
    ],
}


def build_marts(path: Path, breaks: Iterable[str] = (), drop: Iterable[str] = ()) -> Path:
    """Create the schema with every mart, run each `breaks` statement, drop the `drop` marts."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        for table, ddl in DDL.items():
            con.execute(f"create or replace table marts.{table} ({ddl})")
            rows = ROWS[table]
            con.executemany(f"insert into marts.{table} values ({', '.join('?' * len(rows[0]))})", rows)
        for sql in breaks:
            con.execute(sql)
        for table in drop:
            con.execute(f"drop table marts.{table}")
    finally:
        con.close()
    return path
