"""The catalogue of raw tables each connector lands.

Dagster builds one asset per entry (`raw/<system>/<table>`), the quality layer keys its suites
on the same names, and dbt's sources declare the same tables. Keeping the list here means a new
object is added in one place and shows up everywhere else.
"""

from __future__ import annotations

def _salesforce_tables() -> tuple[str, ...]:
    """One table per configured Salesforce object (`LTC_SF_OBJECTS`, else the default list), plus
    `deleted_records` (getDeleted tombstones)."""
    from connectors.salesforce.objects import DELETED_TABLE, configured_objects, table_name
    from connectors.settings import Settings

    return tuple(table_name(o) for o in configured_objects(Settings.from_env())) + (DELETED_TABLE,)


RAW_TABLES: dict[str, tuple[str, ...]] = {
    "salesforce": _salesforce_tables(),
    # the canonical ERP entities (connectors/erp/mapping.py), plus quarantined_rows: one row per
    # source row (or skipped table) that could not be landed, with the reason.
    "erp": ("customers", "sales_orders", "sales_order_lines", "deliveries", "invoices", "invoice_lines",
            "credit_notes", "quarantined_rows"),
    # quarantined_files: one row per file that could not be read, with the reason (never dropped).
    "finance": ("bank_transactions", "fx_rates", "quarantined_files"),
    # ad_spend: the four export shapes normalised, with `platform`; quarantined_rows: one row per
    # export row set aside (file, line, reason); hubspot_*: the marketing API (when configured).
    "marketing": ("ad_spend", "quarantined_rows", "quarantined_files", "hubspot_campaigns", "hubspot_contacts",
                  "hubspot_contacts__lifecyclestage_history", "hubspot_forms", "hubspot_form_submissions"),
}


def raw_schema(system: str) -> str:
    """The warehouse schema (dlt dataset) a system lands in."""
    return f"raw_{system}"
