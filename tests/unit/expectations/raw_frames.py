"""Small, contract-shaped frames for every raw table that has a suite (docs/contracts.md §2).

Each factory returns a *good* frame (three rows, the suite passes). Money is `Decimal`, dates
are `datetime.date`, Salesforce datetimes are UTC timestamps, as they land in DuckDB.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pandas as pd

TS = pd.Timestamp("2025-03-01T10:00:00Z")
D = dt.date


def sfid(prefix: str, n: int) -> str:
    return f"{prefix}{n:015d}"


def _sf_common(prefix: str, n: int = 3) -> dict[str, list]:
    return {
        "id": [sfid(prefix, i) for i in range(1, n + 1)],
        "is_deleted": [False] * (n - 1) + [True],
        "created_date": [TS] * n,
        "last_modified_date": [TS] * n,
        "system_modstamp": [TS] * n,
        "_dlt_load_id": ["1740000000.1"] * n,
        "_dlt_id": [f"dlt{i}" for i in range(n)],
    }


def lead() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **_sf_common("00Q"),
            "first_name": ["Ada", "Bob", "Cy"],
            "last_name": ["Lovelace", "Stone", "Young"],
            "email": ["ada@example.com", "bob@example.com", "cy@example.com"],
            "company": ["Acme", "Beta", "Gamma"],
            "status": ["Qualified", "Closed - Converted", "Open - Not Contacted"],
            "owner_id": [sfid("005", 1)] * 3,
            "is_converted": [False, True, False],
            "converted_date": [None, D(2025, 3, 5), None],
        }
    )


def account() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **_sf_common("001"),
            "name": ["Acme Ltd", "Beta GmbH", "Gamma Inc"],
            "owner_id": [sfid("005", 1)] * 3,
            "account_number": ["C-0001", None, "C-0003"],
            "currency_iso_code": ["GBP", "EUR", "USD"],
        }
    )


def opportunity() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **_sf_common("006"),
            "account_id": [sfid("001", i) for i in (1, 2, 3)],
            "name": ["Deal A", "Deal B", "Deal C"],
            "stage_name": ["Prospecting", "Closed Won", "Closed Lost"],
            "amount": [Decimal("1000.00"), Decimal("25000.50"), None],
            "currency_iso_code": ["USD", "EUR", "GBP"],
            "probability": [10.0, 100.0, 0.0],
            "close_date": [D(2025, 4, 1), D(2025, 3, 20), D(2025, 3, 30)],
            "is_closed": [False, True, True],
            "is_won": [False, True, False],
        }
    )


def opportunity_history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **_sf_common("008"),
            "opportunity_id": [sfid("006", 1), sfid("006", 1), sfid("006", 2)],
            "stage_name": ["Prospecting", "Qualification", "Closed Won"],
            "amount": [Decimal("1000.00"), Decimal("1200.00"), Decimal("25000.50")],
            "probability": [10.0, 20.0, 100.0],
            "close_date": [D(2025, 4, 1)] * 3,
        }
    )


def campaign() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **_sf_common("701"),
            "name": ["Spring PPC", "Webinar Q1", "Expo"],
            "type": ["Paid Search", "Webinar", "Trade Show"],
            "start_date": [D(2025, 1, 1), D(2025, 2, 1), D(2025, 3, 1)],
            "end_date": [D(2025, 3, 31), D(2025, 2, 1), None],
            "budgeted_cost": [Decimal("5000.00"), Decimal("0.00"), Decimal("12000.00")],
            "actual_cost": [Decimal("4800.10"), Decimal("0.00"), None],
            "currency_iso_code": ["USD", "EUR", "GBP"],
        }
    )


def contract() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **_sf_common("800"),
            "account_id": [sfid("001", i) for i in (1, 2, 3)],
            "status": ["Activated", "Draft", "Activated"],
            "start_date": [D(2025, 4, 1)] * 3,
            "end_date": [D(2026, 3, 31), D(2026, 3, 31), D(2025, 4, 1)],
            "contract_value_c": [Decimal("12000.00"), Decimal("9999.99"), Decimal("0.00")],
            "currency_iso_code": ["USD", "EUR", "GBP"],
            "customer_signed_date": [D(2025, 3, 28), None, D(2025, 3, 30)],
        }
    )


def order() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **_sf_common("801"),
            "account_id": [sfid("001", i) for i in (1, 2, 3)],
            "effective_date": [D(2025, 4, 2)] * 3,
            "total_amount": [Decimal("12000.00"), Decimal("500.00"), Decimal("0.00")],
            "currency_iso_code": ["USD", "EUR", "GBP"],
        }
    )


def user() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **_sf_common("005"),
            "username": ["ann@example.com", "bo@example.com", "cy@example.com"],
            "name": ["Ann", "Bo", "Cy"],
            "email": ["ann@example.com", "bo@example.com", "cy@example.com"],
            "is_active": [True, True, False],
            "department": ["NA", "EMEA", None],
        }
    )


def contact() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **_sf_common("003"),
            "account_id": [sfid("001", 1), sfid("001", 2), None],
            "first_name": ["Ada", "Bob", None],
            "last_name": ["Lovelace", "Stone", "Young"],
            "name": ["Ada Lovelace", "Bob Stone", "Young"],
            "email": ["ada@example.com", None, "cy@example.com"],
            "owner_id": [sfid("005", 1)] * 3,
        }
    )


def campaign_member() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **_sf_common("00v"),
            "campaign_id": [sfid("701", 1), sfid("701", 1), sfid("701", 2)],
            "lead_id": [sfid("00Q", 1), None, sfid("00Q", 3)],
            "contact_id": [None, sfid("003", 2), None],
            "status": ["Sent", "Responded", "Sent"],
            "has_responded": [False, True, False],
            "first_responded_date": [None, D(2025, 2, 3), None],
        }
    )


def _sf_setup(prefix: str, n: int = 3) -> dict[str, list]:
    """CurrencyType / DatedConversionRate: no is_deleted (contract §1)."""
    common = _sf_common(prefix, n)
    del common["is_deleted"]
    return common


def currency_type() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **_sf_setup("02B"),
            "iso_code": ["USD", "EUR", "GBP"],
            "conversion_rate": [Decimal("1.000000"), Decimal("0.925926"), Decimal("0.790265")],
            "decimal_places": [2, 2, 2],
            "is_active": [True, True, True],
            "is_corporate": [True, False, False],
        }
    )


def dated_conversion_rate() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **_sf_setup("04w"),
            "iso_code": ["EUR", "EUR", "GBP"],
            "conversion_rate": [Decimal("0.925926"), Decimal("0.923361"), Decimal("0.790265")],
            "start_date": [D(2024, 12, 2), D(2025, 1, 1), D(2024, 12, 2)],
            "next_start_date": [D(2025, 1, 1), None, None],
        }
    )


def deleted_records() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sobject": ["Lead", "Opportunity", "Lead"],
            "id": [sfid("00Q", 7), sfid("006", 7), sfid("00Q", 8)],
            "deleted_date": [TS, TS, pd.Timestamp("2025-03-02T08:00:00Z")],
            "detected_at": [pd.Timestamp("2025-03-03T00:00:00Z")] * 3,
        }
    )


def customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["CUST-1", "CUST-2", "CUST-3"],
            "customer_number": ["C-0001", "C-0002", "C-0003"],
            "name": ["Acme Ltd", "Beta GmbH", "Gamma Inc"],
            "country": ["GB", "DE", "US"],
            "currency": ["GBP", "EUR", "USD"],
            "crm_account_id": [sfid("001", 1), None, sfid("001", 3)],
            "tax_id": ["GB123", "DE456", "US789"],
            "payment_terms_days": [30, 45, 60],
            "created_at": [TS] * 3,
            "updated_at": [TS] * 3,
        }
    )


def sales_orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": ["SO-1", "SO-2", "SO-3"],
            "order_number": ["SO-2025-000001", "SO-2025-000002", "SO-2025-000003"],
            "customer_id": ["CUST-1", "CUST-2", "CUST-3"],
            "crm_opportunity_id": [sfid("006", 2), None, None],
            "contract_number": ["00000100", None, None],
            "order_date": [D(2025, 4, 2), D(2025, 5, 1), D(2025, 6, 1)],
            "currency": ["GBP", "EUR", "USD"],
            "net_amount": [Decimal("12000.00"), Decimal("500.00"), Decimal("0.00")],
            "status": ["booked", "booked", "cancelled"],
            "created_at": [TS] * 3,
            "updated_at": [TS] * 3,
        }
    )


def invoices() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "invoice_id": ["INV-1", "INV-2", "INV-3"],
            "invoice_number": ["INV-2025-000001", "INV-2025-000002", "INV-2025-000003"],
            "customer_id": ["CUST-1", "CUST-2", "CUST-3"],
            "order_id": ["SO-1", "SO-2", "SO-3"],
            "issue_date": [D(2025, 4, 3), D(2025, 5, 2), D(2025, 6, 2)],
            "due_date": [D(2025, 5, 3), D(2025, 6, 16), D(2025, 6, 2)],
            "currency": ["GBP", "EUR", "USD"],
            "net_amount": [Decimal("10000.00"), Decimal("416.67"), Decimal("0.00")],
            "tax_amount": [Decimal("2000.00"), Decimal("83.33"), Decimal("0.00")],
            "total_amount": [Decimal("12000.00"), Decimal("500.00"), Decimal("0.00")],
            "status": ["paid", "open", "cancelled"],
            "is_deleted": [0, 0, 1],
            "created_at": [TS] * 3,
            "updated_at": [TS] * 3,
        }
    )


def sales_order_lines() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_line_id": ["SO-1-1", "SO-1-2", "SO-2-1"],
            "order_id": ["SO-1", "SO-1", "SO-2"],
            "line_number": [1, 2, 1],
            "product_code": ["LIC-CORE", "SVC-IMPL", "SUP-PREM"],
            "description": ["Platform licence", "Implementation services", "Premium support"],
            "quantity": [2, 1, 5],
            "unit_price": [Decimal("5000.00"), Decimal("2000.00"), Decimal("100.00")],
            "net_amount": [Decimal("10000.00"), Decimal("2000.00"), Decimal("500.00")],
            "created_at": [TS] * 3,
            "updated_at": [TS] * 3,
        }
    )


def deliveries() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "delivery_id": ["DSO-1", "DSO-2", "DSO-3"],
            "delivery_number": ["DN-SO-2025-000001", "DN-SO-2025-000002", "DN-SO-2025-000003"],
            "order_id": ["SO-1", "SO-2", "SO-3"],
            "shipped_date": [D(2025, 4, 3), D(2025, 5, 2), D(2025, 6, 3)],
            "delivered_date": [D(2025, 4, 5), D(2025, 5, 2), None],
            "status": ["delivered", "delivered", "shipped"],
            "created_at": [TS] * 3,
            "updated_at": [TS] * 3,
        }
    )


def invoice_lines() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "invoice_line_id": ["INV-1-1", "INV-1-2", "INV-2-1"],
            "invoice_id": ["INV-1", "INV-1", "INV-2"],
            "line_number": [1, 2, 1],
            "order_line_id": ["SO-1-1", "SO-1-2", "SO-2-1"],
            "description": ["Invoice INV-2025-000001 line 1", "Invoice INV-2025-000001 line 2", "Invoice line"],
            "net_amount": [Decimal("8333.33"), Decimal("1666.67"), Decimal("416.67")],
            "tax_amount": [Decimal("1666.67"), Decimal("333.33"), Decimal("83.33")],
            "total_amount": [Decimal("10000.00"), Decimal("2000.00"), Decimal("500.00")],
            "created_at": [TS] * 3,
            "updated_at": [TS] * 3,
        }
    )


def credit_notes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "credit_note_id": ["CNINV-3", "CNINV-4", "CNINV-5"],
            "credit_note_number": ["CN-INV-2025-000003", "CN-INV-2025-000004", "CN-INV-2025-000005"],
            "invoice_id": ["INV-3", "INV-4", "INV-5"],
            "customer_id": ["CUST-3", "CUST-1", "CUST-2"],
            "issue_date": [D(2025, 6, 3), D(2025, 7, 1), D(2025, 7, 2)],
            "currency": ["USD", "GBP", "EUR"],
            "net_amount": [Decimal("0.00"), Decimal("100.00"), Decimal("41.67")],
            "tax_amount": [Decimal("0.00"), Decimal("20.00"), Decimal("8.33")],
            "total_amount": [Decimal("0.00"), Decimal("120.00"), Decimal("50.00")],
            "reason": ["duplicate invoice cancelled"] * 3,
            "created_at": [TS] * 3,
            "updated_at": [TS] * 3,
        }
    )


def bank_transactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "transaction_id": ["REF-1", "REF-2-1", "REF-2-2"],
            "file_name": ["camt053_usd_2025-05.xml"] * 3,
            "file_sha256": ["ab" * 32] * 3,
            "statement_id": ["STMT-1"] * 3,
            "account_iban": ["GB00TEST0000000001"] * 3,
            "account_currency": ["USD"] * 3,
            "entry_reference": ["E1", "E2", "E2"],
            "booking_date": [D(2025, 5, 3), D(2025, 5, 4), D(2025, 5, 4)],
            "value_date": [D(2025, 5, 3), D(2025, 5, 4), D(2025, 5, 4)],
            "credit_debit": ["CRDT", "CRDT", "DBIT"],
            "amount": [Decimal("12000.00"), Decimal("499.00"), Decimal("1.00")],
            "currency": ["USD"] * 3,
            "end_to_end_id": ["E2E-1", "E2E-2", None],
            "debtor_name": ["Acme Ltd", "Beta GmbH", None],
            "remittance_unstructured": ["INV-2025-000001", "payment", None],
        }
    )


def fx_rates() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rate_date": [D(2025, 5, 2), D(2025, 5, 2), D(2025, 5, 5)],
            "currency": ["EUR", "GBP", "EUR"],
            "reporting_currency": ["USD"] * 3,
            "rate": [Decimal("1.083500"), Decimal("1.265400"), Decimal("1.084100")],
        }
    )


def ad_spend() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [D(2025, 5, 1), D(2025, 5, 1), D(2025, 5, 2)],
            "platform": ["google_ads", "meta", "google_ads"],
            "campaign_id": [sfid("701", 1), sfid("701", 2), sfid("701", 1)],
            "campaign_name": ["Spring PPC", "Social A", "Spring PPC"],
            "channel": ["Paid Search", "Social", "Paid Search"],
            "impressions": [10000, 5000, 0],
            "clicks": [250, 40, 0],
            "spend": [Decimal("320.50"), Decimal("99.99"), Decimal("0.00")],
            "currency": ["USD", "EUR", "USD"],
        }
    )


GOOD_FRAMES: dict[tuple[str, str], Callable[[], pd.DataFrame]] = {
    ("salesforce", "lead"): lead,
    ("salesforce", "account"): account,
    ("salesforce", "opportunity"): opportunity,
    ("salesforce", "opportunity_history"): opportunity_history,
    ("salesforce", "campaign"): campaign,
    ("salesforce", "contract"): contract,
    ("salesforce", "order"): order,
    ("salesforce", "user"): user,
    ("salesforce", "contact"): contact,
    ("salesforce", "campaign_member"): campaign_member,
    ("salesforce", "currency_type"): currency_type,
    ("salesforce", "dated_conversion_rate"): dated_conversion_rate,
    ("salesforce", "deleted_records"): deleted_records,
    ("erp", "customers"): customers,
    ("erp", "sales_orders"): sales_orders,
    ("erp", "sales_order_lines"): sales_order_lines,
    ("erp", "deliveries"): deliveries,
    ("erp", "invoices"): invoices,
    ("erp", "invoice_lines"): invoice_lines,
    ("erp", "credit_notes"): credit_notes,
    ("finance", "bank_transactions"): bank_transactions,
    ("finance", "fx_rates"): fx_rates,
    ("marketing", "ad_spend"): ad_spend,
}
