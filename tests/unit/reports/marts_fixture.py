"""A tiny `marts` schema in a temporary DuckDB file: only the columns the report reads
(docs/contracts.md §3), with hand-computable totals in `EXPECTED`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb

AS_OF = "2025-03-31"

EXPECTED = {
    "leads": "5",  # 6 rows, 1 deleted
    "converted_leads": "2",  # 3 converted, 1 of them deleted
    "won_opportunities": "2",  # 3 won, 1 deleted; 1 lost
    "won_amount": "13500.55",  # 12000.50 + 1500.05
    "invoiced_total": "20001.01",  # 12000.00 + 8000.01 + 1.00 (deleted 999.99 excluded)
    "collected_total": "9500.25",  # 9000.00 + 500.25 (unidentified receipts count)
    # Σ collected_on_time / Σ amount_due = (0 + 6000 + 1000) / (0 + 8000 + 2000) = 0.7
    "on_time_collection_rate": "0.7000",
    "dso_days": "41.3",  # the as-of month's mart value
    "overdue_ar": "2001.00",  # the as-of month's mart value
}

PII_NAME = "Jane Q. Payer"


def build_marts(path: Path, *, empty: bool = False) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts")
        con.execute(
            """create table marts.fct_leads (lead_id varchar, is_converted boolean,
               is_deleted boolean, created_date date)"""
        )
        con.execute(
            """create table marts.fct_opportunities (opportunity_id varchar, is_won boolean,
               is_closed boolean, is_deleted boolean, amount decimal(18,2), currency varchar,
               amount_reporting decimal(18,2), reporting_currency varchar)"""
        )
        con.execute(
            """create table marts.fct_invoices (invoice_id varchar, total_amount decimal(18,2),
               total_amount_reporting decimal(18,2), is_deleted boolean, as_of_date date)"""
        )
        con.execute(
            """create table marts.fct_cash_receipts (receipt_id varchar, payer_name varchar,
               amount decimal(18,2), amount_reporting decimal(18,2), application_status varchar)"""
        )
        con.execute(
            """create table marts.rpt_funnel_conversion (measure_type varchar, dimension varchar,
               dimension_value varchar, dimension_label varchar, period_month date, stage_code varchar,
               stage_order integer, step_name varchar, journeys bigint,
               conversion_from_previous decimal(9,4), as_of_date date)"""
        )
        con.execute(
            """create table marts.rpt_cash_collection (period_month date, reporting_currency varchar,
               invoiced_amount decimal(18,2), collected_amount decimal(18,2), amount_due decimal(18,2),
               collected_on_time_amount decimal(18,2), on_time_collection_rate decimal(9,4),
               ending_ar decimal(18,2), overdue_ar decimal(18,2), dso_days decimal(9,1), as_of_date date)"""
        )
        if empty:
            return path
        con.execute(
            """insert into marts.fct_leads values
               ('L1', false, false, '2025-01-03'), ('L2', true, false, '2025-01-05'),
               ('L3', true, false, '2025-02-01'), ('L4', true, true, '2025-02-02'),
               ('L5', false, false, '2025-03-01'), ('L6', false, null, '2025-03-02')"""
        )
        con.execute(
            """insert into marts.fct_opportunities values
               ('O1', true, true, false, 11000.00, 'EUR', 12000.50, 'USD'),
               ('O2', true, true, false, 1500.05, 'USD', 1500.05, 'USD'),
               ('O3', true, true, true, 5000.00, 'USD', 5000.00, 'USD'),
               ('O4', false, true, false, 7000.00, 'USD', 7000.00, 'USD'),
               ('O5', false, false, false, 100.00, 'USD', 100.00, 'USD')"""
        )
        con.execute(
            f"""insert into marts.fct_invoices values
               ('I1', 12000.00, 12000.00, false, '{AS_OF}'),
               ('I2', 7400.00, 8000.01, false, '{AS_OF}'),
               ('I3', 1.00, 1.00, false, '{AS_OF}'),
               ('I4', 999.99, 999.99, true, '{AS_OF}')"""
        )
        con.execute(
            """insert into marts.fct_cash_receipts values
               ('R1', ?, 9000.00, 9000.00, 'applied'),
               ('R2', 'Unknown', 500.25, 500.25, 'unidentified')""",
            [PII_NAME],
        )
        stages = [
            ("S1", "acquire"), ("S2", "assign"), ("S3", "follow up"),
            ("S4", "opportunity"), ("S5", "commercial"), ("S6", "fulfil and collect"),
        ]
        cohort = {"2025-01-01": [4, 3, 2, 2, 1, 1], "2025-02-01": [2, 2, 1, 0, 0, 0]}
        period = {"2025-01-01": [4, 3, 1, 0, 0, 0], "2025-02-01": [2, 2, 2, 2, 1, 0],
                  "2025-03-01": [0, 0, 0, 0, 0, 1]}
        # the total slice, plus a channel slice the funnel report must not add in
        slices = (("total", "all", "All journeys", 1), ("channel", "Paid", "Paid", 0))
        for measure, data in (("cohort", cohort), ("period", period)):
            for dimension, value, label, share in slices:
                for month, counts in data.items():
                    prev = None
                    for i, ((code, name), n) in enumerate(zip(stages, counts), start=1):
                        n = n * share if share else n // 2
                        conv = None if not prev else Decimal(n) / Decimal(prev)
                        con.execute(
                            "insert into marts.rpt_funnel_conversion values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [measure, dimension, value, label, month, code, i, name, n, conv, AS_OF],
                        )
                        prev = n
        con.execute(
            f"""insert into marts.rpt_cash_collection values
               ('2025-01-01', 'USD', 12000.00, 0.00, 0.00, 0.00, null, 12000.00, 0.00, 31.0, '{AS_OF}'),
               ('2025-02-01', 'USD', 8000.01, 6000.00, 8000.00, 6000.00, 0.7500, 14000.01, 2000.00, 52.5, '{AS_OF}'),
               ('2025-03-01', 'USD', 1.00, 3500.25, 2000.00, 1000.00, 0.5000, 10500.76, 2001.00, 41.3, '{AS_OF}')"""
        )
    finally:
        con.close()
    return path
