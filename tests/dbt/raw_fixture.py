"""A small hand-made raw warehouse with exactly the contract's raw tables (docs/contracts.md §2).

It lets the dbt project be built and checked without the sandbox generator or the connectors:
every planted case (conversion, duplicate lead, deleted rows, FX on a weekend, short payment,
overpayment, wrong and missing remittance, order without contract, overdue invoice, an invoice issued
and a receipt booked after the as-of date) has a known answer, listed in EXPECTED.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb

AS_OF = "2025-12-31"

_DLT = "_dlt_load_id varchar, _dlt_id varchar, _loaded_at timestamp with time zone"
_SF = ("id varchar, is_deleted boolean, created_date timestamp with time zone, "
       "last_modified_date timestamp with time zone, system_modstamp timestamp with time zone")

DDL = {
    "raw_salesforce.user": f"{_SF}, username varchar, name varchar, email varchar, is_active boolean, department varchar",
    "raw_salesforce.campaign": f"{_SF}, name varchar, type varchar, status varchar, start_date date, end_date date, "
    "budgeted_cost decimal(18,2), actual_cost decimal(18,2), currency_iso_code varchar, is_active boolean, owner_id varchar",
    "raw_salesforce.lead": f"{_SF}, first_name varchar, last_name varchar, name varchar, company varchar, email varchar, "
    "country varchar, lead_source varchar, status varchar, owner_id varchar, rating varchar, is_converted boolean, "
    "converted_date date, converted_account_id varchar, converted_contact_id varchar, converted_opportunity_id varchar",
    "raw_salesforce.campaign_member": f"{_SF}, campaign_id varchar, lead_id varchar, contact_id varchar, status varchar, "
    "has_responded boolean, first_responded_date date",
    "raw_salesforce.account": f"{_SF}, name varchar, type varchar, industry varchar, billing_city varchar, "
    "billing_country varchar, owner_id varchar, account_number varchar, currency_iso_code varchar",
    "raw_salesforce.contact": f"{_SF}, account_id varchar, first_name varchar, last_name varchar, name varchar, "
    "email varchar, owner_id varchar",
    "raw_salesforce.opportunity": f"{_SF}, account_id varchar, name varchar, stage_name varchar, amount decimal(18,2), "
    "currency_iso_code varchar, probability double, forecast_category_name varchar, close_date date, is_closed boolean, "
    "is_won boolean, lead_source varchar, campaign_id varchar, owner_id varchar, type varchar",
    "raw_salesforce.opportunity_history": f"{_SF}, opportunity_id varchar, stage_name varchar, amount decimal(18,2), "
    "probability double, forecast_category varchar, close_date date, created_by_id varchar",
    "raw_salesforce.contract": f"{_SF}, account_id varchar, contract_number varchar, status varchar, start_date date, "
    "end_date date, contract_term bigint, customer_signed_date date, activated_date timestamp with time zone, "
    "currency_iso_code varchar, opportunity_c varchar, contract_value_c decimal(18,2)",
    'raw_salesforce."order"': f"{_SF}, account_id varchar, contract_id varchar, opportunity_id varchar, "
    "order_number varchar, status varchar, effective_date date, total_amount decimal(18,2), currency_iso_code varchar",
    "raw_erp.customers": "customer_id varchar, customer_number varchar, name varchar, country varchar, currency varchar, "
    "crm_account_id varchar, tax_id varchar, payment_terms_days bigint, created_at timestamp with time zone, updated_at timestamp with time zone",
    "raw_erp.sales_orders": "order_id varchar, order_number varchar, customer_id varchar, crm_opportunity_id varchar, "
    "contract_number varchar, order_date date, currency varchar, net_amount decimal(18,2), status varchar, "
    "created_at timestamp with time zone, updated_at timestamp with time zone",
    "raw_erp.invoices": "invoice_id varchar, invoice_number varchar, customer_id varchar, order_id varchar, "
    "issue_date date, due_date date, currency varchar, net_amount decimal(18,2), tax_amount decimal(18,2), "
    "total_amount decimal(18,2), status varchar, is_deleted bigint, created_at timestamp with time zone, updated_at timestamp with time zone",
    "raw_finance.bank_transactions": "transaction_id varchar, file_name varchar, file_sha256 varchar, "
    "statement_id varchar, account_iban varchar, account_currency varchar, entry_reference varchar, "
    "booking_date date, value_date date, credit_debit varchar, amount decimal(18,2), currency varchar, "
    "end_to_end_id varchar, debtor_name varchar, debtor_iban varchar, remittance_unstructured varchar, "
    "remittance_structured_reference varchar",
    "raw_finance.fx_rates": "rate_date date, currency varchar, reporting_currency varchar, rate decimal(18,6)",
    "raw_marketing.ad_spend": "date date, platform varchar, campaign_id varchar, campaign_name varchar, channel varchar, "
    "impressions bigint, clicks bigint, spend decimal(18,2), currency varchar",
}


def _ts(d: str) -> str:
    return f"{d} 09:00:00+00"


def _sf(i, created, deleted=False):
    return [i, deleted, _ts(created), _ts(created), _ts(created)]


ROWS = {
    "raw_salesforce.user": [
        _sf("005000000000001AAA", "2024-12-01") + ["ann@example.com", "Ann", "ann@example.com", True, "NA"],
        _sf("005000000000002AAA", "2024-12-01") + ["bo@example.com", "Bo", "bo@example.com", True, "EMEA"],
    ],
    "raw_salesforce.campaign": [
        _sf("701000000000001AAA", "2024-12-15") + ["Spring search", "Paid Search", "Completed", "2025-01-01",
                                                   "2025-03-31", "1000.00", "950.50", "USD", False,
                                                   "005000000000001AAA"],
    ],
    "raw_salesforce.lead": [
        # L1: converted into O1 (USD, won)
        _sf("00Q000000000001AAA", "2025-01-10") + ["A", "One", "A One", "Acme", "a@acme.com", "US", "Paid Search",
                                                   "Closed - Converted", "005000000000001AAA", "Hot", True,
                                                   "2025-02-01", "001000000000001AAA", "003000000000001AAA",
                                                   "006000000000001AAA"],
        # L2: working
        _sf("00Q000000000002AAA", "2025-01-15") + ["B", "Two", "B Two", "Beta", "b@beta.com", "DE", "Web",
                                                   "Working - Contacted", "005000000000002AAA", None, False,
                                                   None, None, None, None],
        # L3: deleted
        _sf("00Q000000000003AAA", "2025-02-01", True) + ["C", "Three", "C Three", "Gamma", "c@g.com", "US",
                                                         "Web", "Open - Not Contacted", "005000000000001AAA",
                                                         None, False, None, None, None, None],
        # L4: duplicate of L2 (same email), converted into O2 (EUR, won on a Sunday)
        _sf("00Q000000000004AAA", "2025-02-05") + ["B", "Two", "B Two", "Beta", "B@Beta.com ", "DE", "Partner Referral",
                                                   "Closed - Converted", "005000000000002AAA", "Warm", True,
                                                   "2025-02-20", "001000000000002AAA", "003000000000002AAA",
                                                   "006000000000002AAA"],
        # L5: disqualified
        _sf("00Q000000000005AAA", "2025-03-01") + ["E", "Five", "E Five", "Eps", "e@eps.com", "GB", "Trade Show",
                                                   "Closed - Not Converted", "005000000000002AAA", None, False,
                                                   None, None, None, None],
    ],
    "raw_salesforce.campaign_member": [
        _sf("00v000000000001AAA", "2025-01-10") + ["701000000000001AAA", "00Q000000000001AAA", None, "Responded",
                                                   True, "2025-01-10"],
    ],
    "raw_salesforce.account": [
        _sf("001000000000001AAA", "2025-02-01") + ["Acme", "Customer", "Tech", "Boston", "US",
                                                   "005000000000001AAA", "C-0001", "USD"],
        _sf("001000000000002AAA", "2025-02-20") + ["Beta", "Customer", "Retail", "Berlin", "DE",
                                                   "005000000000002AAA", "C-0002", "EUR"],
    ],
    "raw_salesforce.contact": [
        _sf("003000000000001AAA", "2025-02-01") + ["001000000000001AAA", "A", "One", "A One", "a@acme.com",
                                                   "005000000000001AAA"],
        _sf("003000000000002AAA", "2025-02-20") + ["001000000000002AAA", "B", "Two", "B Two", "b@beta.com",
                                                   "005000000000002AAA"],
    ],
    "raw_salesforce.opportunity": [
        _sf("006000000000001AAA", "2025-02-01") + ["001000000000001AAA", "Acme deal", "Closed Won", "1000.00", "USD",
                                                   100, "Closed", "2025-03-01", True, True, "Paid Search",
                                                   "701000000000001AAA", "005000000000001AAA", "New Business"],
        _sf("006000000000002AAA", "2025-02-20") + ["001000000000002AAA", "Beta deal", "Closed Won", "2000.00", "EUR",
                                                   100, "Closed", "2025-03-09", True, True, "Partner Referral",
                                                   None, "005000000000002AAA", "New Business"],
        # O3: no lead, lost
        _sf("006000000000003AAA", "2025-03-01") + ["001000000000002AAA", "Beta upsell", "Closed Lost", "500.00",
                                                   "EUR", 0, "Omitted", "2025-04-01", True, False, "Other", None,
                                                   "005000000000002AAA", "Existing Business"],
        # O4: no lead, open, GBP
        _sf("006000000000004AAA", "2025-06-01") + ["001000000000002AAA", "Beta UK", "Prospecting", "300.00", "GBP",
                                                   10, "Pipeline", "2026-02-01", False, False, "Other", None,
                                                   "005000000000002AAA", "New Business"],
        # O5: deleted win
        _sf("006000000000005AAA", "2025-06-01", True) + ["001000000000001AAA", "Ghost", "Closed Won", "999.00",
                                                         "USD", 100, "Closed", "2025-07-01", True, True, "Other",
                                                         None, "005000000000001AAA", "New Business"],
    ],
    "raw_salesforce.opportunity_history": [
        _sf("008000000000001AAA", "2025-02-01") + ["006000000000001AAA", "Prospecting", "1000.00", 10, "Pipeline",
                                                   "2025-03-31", "005000000000001AAA"],
        _sf("008000000000002AAA", "2025-03-01") + ["006000000000001AAA", "Closed Won", "1000.00", 100, "Closed",
                                                   "2025-03-01", "005000000000001AAA"],
        _sf("008000000000003AAA", "2025-02-20") + ["006000000000002AAA", "Qualification", "2000.00", 20, "Pipeline",
                                                   "2025-03-31", "005000000000002AAA"],
    ],
    "raw_salesforce.contract": [
        _sf("800000000000001AAA", "2025-03-02") + ["001000000000001AAA", "00000101", "Activated", "2025-03-05",
                                                   "2026-03-04", 12, "2025-03-05", _ts("2025-03-05"), "USD",
                                                   "006000000000001AAA", "1000.00"],
    ],
    'raw_salesforce."order"': [
        _sf("801000000000001AAA", "2025-03-10") + ["001000000000001AAA", "800000000000001AAA", "006000000000001AAA",
                                                   "00000201", "Activated", "2025-03-10", "1000.00", "USD"],
        _sf("801000000000002AAA", "2025-03-12") + ["001000000000002AAA", None, "006000000000002AAA",
                                                   "00000202", "Activated", "2025-03-12", "2000.00", "EUR"],
    ],
    "raw_erp.customers": [
        ["CU1", "C-0001", "Acme", "US", "USD", "001000000000001AAA", "US1", 30, "2025-02-01 10:00:00",
         "2025-02-01 10:00:00"],
        ["CU2", "C-0002", "Beta", "DE", "EUR", "001000000000002AAA", "DE2", 30, "2025-02-20 10:00:00",
         "2025-02-20 10:00:00"],
    ],
    "raw_erp.sales_orders": [
        ["SO1", "SO-0001", "CU1", "006000000000001AAA", "00000101", "2025-03-10", "USD", "1000.00", "booked",
         "2025-03-10 10:00:00", "2025-03-10 10:00:00"],
        # order without a contract
        ["SO2", "SO-0002", "CU2", "006000000000002AAA", None, "2025-03-12", "EUR", "2000.00", "booked",
         "2025-03-12 10:00:00", "2025-03-12 10:00:00"],
    ],
    "raw_erp.invoices": [
        ["I1", "INV-2025-000001", "CU1", "SO1", "2025-03-15", "2025-04-14", "USD", "1000.00", "100.00", "1100.00",
         "paid", 0, "2025-03-15 10:00:00", "2025-04-10 10:00:00"],
        ["I2", "INV-2025-000002", "CU2", "SO2", "2025-03-20", "2025-04-19", "EUR", "2000.00", "200.00", "2200.00",
         "paid", 0, "2025-03-20 10:00:00", "2025-05-20 10:00:00"],
        ["I3", "INV-2025-000003", "CU1", "SO1", "2025-03-25", "2025-04-24", "USD", "50.00", "0.00", "50.00",
         "open", 1, "2025-03-25 10:00:00", "2025-03-26 10:00:00"],
        ["I4", "INV-2025-000004", "CU2", "SO2", "2025-11-01", "2025-12-01", "EUR", "100.00", "10.00", "110.00",
         "open", 0, "2025-11-01 10:00:00", "2025-11-01 10:00:00"],
        # I12: issued after the as-of date: not an invoice yet as of 2025-12-31 (no row, not open AR)
        ["I12", "INV-2026-000001", "CU1", "SO1", "2026-01-03", "2026-02-02", "USD", "80.00", "0.00", "80.00",
         "open", 0, "2026-01-03 10:00:00", "2026-01-03 10:00:00"],
    ],
    "raw_finance.bank_transactions": [
        ["R1", "usd_2025-04.xml", "x", "S1", "US00", "USD", "R1", "2025-04-10", "2025-04-10", "CRDT", "1100.00",
         "USD", "E1", "Acme", "US11", "Payment INV-2025-000001", None],
        ["R2", "eur_2025-04.xml", "x", "S2", "DE00", "EUR", "R2", "2025-04-15", "2025-04-15", "CRDT", "1000.00",
         "EUR", "E2", "Beta GmbH", "DE11", "INV-2025-000002", None],
        ["R3", "eur_2025-05.xml", "x", "S3", "DE00", "EUR", "R3", "2025-05-20", "2025-05-20", "CRDT", "1300.00",
         "EUR", "E3", "Beta GmbH", "DE11", "Rest INV-2025-000002 danke", None],
        ["R4", "usd_2025-06.xml", "x", "S4", "US00", "USD", "R4", "2025-06-01", "2025-06-01", "CRDT", "75.00",
         "USD", "E4", "Someone", "US22", "INV-2025-999999", None],
        ["R5", "usd_2025-06.xml", "x", "S4", "US00", "USD", "R5", "2025-06-02", "2025-06-02", "CRDT", "20.00",
         "USD", "E5", "Nobody", "US33", None, None],
        ["R6", "usd_2025-06.xml", "x", "S4", "US00", "USD", "R6", "2025-06-03", "2025-06-03", "CRDT", "50.00",
         "USD", "E6", "Acme", "US11", "INV-2025-000003", None],
        ["F1", "usd_2025-06.xml", "x", "S4", "US00", "USD", "F1", "2025-06-30", "2025-06-30", "DBIT", "5.00",
         "USD", None, None, None, "Account fee", None],
        # R11: pays I4 in full, but booked after the as-of date: not received (no row, nothing applied) as of
        # 2025-12-31, so I4 is still open then
        ["R11", "eur_2026-01.xml", "x", "S5", "DE00", "EUR", "R11", "2026-01-15", "2026-01-15", "CRDT", "110.00",
         "EUR", "E11", "Beta GmbH", "DE11", "INV-2025-000004", None],
    ],
    "raw_finance.fx_rates": [
        ["2024-12-02", "EUR", "USD", "1.050000"],
        ["2025-03-07", "EUR", "USD", "1.080000"],
        ["2025-03-10", "EUR", "USD", "1.090000"],
        ["2025-04-01", "EUR", "USD", "1.100000"],
        ["2025-05-01", "EUR", "USD", "1.120000"],
        ["2025-11-03", "EUR", "USD", "1.150000"],
        ["2024-12-02", "GBP", "USD", "1.250000"],
    ],
    "raw_marketing.ad_spend": [
        ["2025-01-10", "generic", "701000000000001AAA", "Spring search", "Paid Search", 1000, 50, "30.25", "USD"],
        ["2025-01-11", "generic", "701000000000001AAA", "Spring search", "Paid Search", 900, 40, "29.75", "USD"],
    ],
}

# Known answers (reporting currency USD, as of 2025-12-31).
EXPECTED = {
    "leads": 4,  # L3 deleted
    "converted_leads": 2,
    "won_opportunities": 2,  # O5 deleted
    "won_amount": Decimal("3160.00"),  # 1000 + 2000 x 1.08 (Sunday 2025-03-09 takes Friday's rate)
    "invoiced_total": Decimal("3621.20"),  # 1100 + 2200 x 1.09 + 110 x 1.12
    "collected_total": Decimal("3801.00"),  # 1100 + 1000 x 1.10 + 1300 x 1.12 + 75 + 20 + 50
    "application_status": {"R1": "applied", "R2": "applied", "R3": "partially applied", "R4": "unidentified",
                           "R5": "unidentified", "R6": "unidentified"},
    # Everything is as of AS_OF: what happens later is not in the marts yet.
    "invoices_issued_after_as_of": {"I12"},  # no fct_invoices row, never counted in open AR
    "receipts_booked_after_as_of": {"R11"},  # no fct_cash_receipts row, nothing applied
    "invoice_ids": {"I1", "I2", "I3", "I4"},  # fct_invoices rows (I3 deleted, flagged)
    "open_ar_reporting": Decimal("123.20"),  # I4: 110.00 EUR at its issue-date rate 1.12, R11 not yet booked
}


def build_raw_fixture(path: Path) -> Path:
    """Create the raw_<system> tables at `path` (a DuckDB file) and fill them with ROWS."""
    con = duckdb.connect(str(path))
    try:
        for schema in ("raw_salesforce", "raw_erp", "raw_finance", "raw_marketing"):
            con.execute(f"create schema if not exists {schema}")
        for table, ddl in DDL.items():
            con.execute(f"create or replace table {table} ({ddl}, {_DLT})")
            rows = ROWS[table]
            n = len(rows[0])
            placeholders = ", ".join(["?"] * n)
            con.executemany(
                f"insert into {table} select {placeholders}, 'load1', gen_random_uuid()::varchar, "
                "timestamptz '2026-01-01 00:00:00+00'",
                rows,
            )
    finally:
        con.close()
    return path


def build_raw_fixture_pg(dsn: str) -> None:
    """Create the same raw tables in the Postgres database at `dsn` (psycopg2 DSN)."""
    import psycopg2

    con = psycopg2.connect(dsn)
    try:
        con.autocommit = True
        cur = con.cursor()
        for schema in ("raw_salesforce", "raw_erp", "raw_finance", "raw_marketing"):
            cur.execute(f"create schema if not exists {schema}")
        for table, ddl in DDL.items():
            schema, name = table.split(".")
            name = name.strip('"')
            qualified = f'{schema}."{name}"'
            cur.execute(f"drop table if exists {qualified}")
            cur.execute(f"create table {qualified} ({ddl.replace('double', 'double precision')}, {_DLT})")
            rows = ROWS[table]
            placeholders = ", ".join(["%s"] * len(rows[0]))
            cur.executemany(
                f"insert into {qualified} values ({placeholders}, 'load1', md5(random()::text), "
                "timestamptz '2026-01-01 00:00:00+00')",
                rows,
            )
    finally:
        con.close()


# ---- extra rows for tests that extend the fixture -------------------------------------------------

def invoice_row(iid, number, cust, order, issue, due, ccy, total, status="open", deleted=0) -> tuple:
    """One raw_erp.invoices row (no tax) for `insert_invoices`."""
    return (iid, number, cust, order, issue, due, ccy, total, "0.00", total, status, deleted,
            f"{issue} 10:00:00+00", f"{issue} 10:00:00+00")


def receipt_row(rid, booked, ccy, amount, text, file_sha="x", statement="S9") -> tuple:
    """One raw_finance.bank_transactions credit for `insert_receipts`."""
    return (rid, f"{ccy.lower()}_{booked[:7]}.xml", file_sha, statement, "XX00", ccy, rid, booked, booked, "CRDT",
            amount, ccy, f"E-{rid}", "Payer", "XX11", text, None)


def insert_invoices(con: duckdb.DuckDBPyConnection, rows: list[tuple], load_id: str) -> None:
    con.executemany(
        f"insert into raw_erp.invoices select *, '{load_id}', gen_random_uuid()::varchar, "
        "timestamptz '2026-01-01 00:00:00+00' from (select ?, ?, ?, ?, ?::date, ?::date, ?, "
        "?::decimal(18,2), ?::decimal(18,2), ?::decimal(18,2), ?, ?, ?::timestamptz, ?::timestamptz)", rows)


def insert_receipts(con: duckdb.DuckDBPyConnection, rows: list[tuple], load_id: str) -> None:
    con.executemany(
        f"insert into raw_finance.bank_transactions select *, '{load_id}', gen_random_uuid()::varchar, "
        "timestamptz '2026-01-01 00:00:00+00' from (select ?, ?, ?, ?, ?, ?, ?, ?::date, ?::date, ?, "
        "?::decimal(18,2), ?, ?, ?, ?, ?, ?)", rows)
