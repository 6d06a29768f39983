"""A tiny `marts` schema in a temporary DuckDB file: only the columns the reports read
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

# The headline tiles: March 2025 (the as-of month) against February 2025, by hand from the rows
# below: (value, prior value, change = value - prior).
EXPECTED_HEADLINE = {
    "booked_month": ("12000.50", "1500.05", "10500.45"),  # O1 closed won 10 Mar; O2 20 Feb; O3 deleted
    "billed_month": ("1.00", "8000.01", "-7999.01"),
    "collected_month": ("3500.25", "6000.00", "-2499.75"),
    "won_rate_month": ("0.500000", "1.000000", "-0.500000"),  # the month rows, not the quarter's
    "dso_days": ("41.3", "52.5", "-11.2"),
    "on_time_rate_month": ("0.5000", "0.7500", "-0.2500"),
    "overdue_ar": ("2001.00", "2000.00", "1.00"),
    "exceptions_month": ("350.10", "400.00", "-49.90"),  # E1 + E2 detected in March; E3 in Feb
}
EXCEPTION_QUEUE = ("4", "800.10")  # every open exception, whatever month it was detected
FRESHNESS_SYSTEMS = ("erp", "finance", "marketing", "salesforce")

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
               amount_reporting decimal(18,2), reporting_currency varchar, close_date date)"""
        )
        con.execute(
            """create table marts.rpt_pipeline_performance (period_type varchar, period_start date,
               won_count integer, lost_count integer, won_amount decimal(18,2), lost_amount decimal(18,2),
               win_rate_by_count decimal(18,6), win_rate_by_value decimal(18,6), as_of_date date)"""
        )
        con.execute(
            """create table marts.fct_reconciliation_exceptions (exception_id varchar,
               exception_type varchar, detected_date date, amount_reporting decimal(18,2),
               reporting_currency varchar, as_of_date date)"""
        )
        con.execute(
            """create table marts.rpt_source_freshness (source_system varchar, raw_schema varchar,
               last_loaded_at timestamp, stalest_table_loaded_at timestamp, table_count integer,
               landed_table_count integer, row_count bigint, as_of_date date)"""
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
               ('O1', true, true, false, 11000.00, 'EUR', 12000.50, 'USD', '2025-03-10'),
               ('O2', true, true, false, 1500.05, 'USD', 1500.05, 'USD', '2025-02-20'),
               ('O3', true, true, true, 5000.00, 'USD', 5000.00, 'USD', '2025-03-05'),
               ('O4', false, true, false, 7000.00, 'USD', 7000.00, 'USD', '2025-03-15'),
               ('O5', false, false, false, 100.00, 'USD', 100.00, 'USD', null)"""
        )
        con.execute(
            f"""insert into marts.rpt_pipeline_performance values
               ('month', '2025-02-01', 1, 0, 1500.05, 0.00, 1.000000, 1.000000, '{AS_OF}'),
               ('month', '2025-03-01', 1, 1, 12000.50, 7000.00, 0.500000, 0.631588, '{AS_OF}'),
               ('quarter', '2025-01-01', 2, 1, 13500.55, 7000.00, 0.666667, 0.658541, '{AS_OF}')"""
        )
        con.execute(
            f"""insert into marts.fct_reconciliation_exceptions values
               ('E1', 'short payment', '2025-03-05', 250.00, 'USD', '{AS_OF}'),
               ('E2', 'unidentified receipt', '2025-03-20', 100.10, 'USD', '{AS_OF}'),
               ('E3', 'invoice without contract', '2025-02-11', 400.00, 'USD', '{AS_OF}'),
               ('E4', 'won not invoiced', '2025-01-02', 50.00, 'USD', '{AS_OF}')"""
        )
        con.execute(
            f"""insert into marts.rpt_source_freshness values
               ('erp', 'raw_erp', '2025-04-01 06:10:00', '2025-04-01 06:10:00', 7, 7, 40, '{AS_OF}'),
               ('finance', 'raw_finance', '2025-04-01 06:12:00', '2025-04-01 06:11:00', 2, 2, 12, '{AS_OF}'),
               ('marketing', 'raw_marketing', '2025-03-31 23:59:00', '2025-03-30 08:00:00', 5, 4, 9, '{AS_OF}'),
               ('salesforce', 'raw_salesforce', '2025-04-01 06:05:00', '2025-04-01 06:05:00', 12, 12, 30, '{AS_OF}')"""
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
        # the total slice, plus two channels and an owner that add up to it (the breakdowns' totals)
        slices = (("total", "all", "All journeys", "all"), ("channel", "Paid", "Paid", "half"),
                  ("channel", "Organic", "Organic", "rest"), ("owner", "005A", "Sam Seller", "all"))
        for measure, data in (("cohort", cohort), ("period", period)):
            for dimension, value, label, share in slices:
                for month, counts in data.items():
                    prev = None
                    for i, ((code, name), n) in enumerate(zip(stages, counts), start=1):
                        n = {"all": n, "half": n // 2, "rest": n - n // 2}[share]
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
