"""The catalogue of raw tables each connector lands.

Dagster builds one asset per entry (`raw/<system>/<table>`), the quality layer keys its suites
on the same names, and dbt's sources declare the same tables. Keeping the list here means a new
object is added in one place and shows up everywhere else.
"""

from __future__ import annotations

def _salesforce_tables() -> tuple[str, ...]:
    """One table per configured Salesforce object (`LTC_SF_OBJECTS`, else the default list), plus
    `deleted_records` (getDeleted tombstones)."""
    from connectors.salesforce.source import DELETED_TABLE, configured_objects, table_name
    from connectors.settings import Settings

    return tuple(table_name(o) for o in configured_objects(Settings.from_env())) + (DELETED_TABLE,)


RAW_TABLES: dict[str, tuple[str, ...]] = {
    "salesforce": _salesforce_tables(),
    "erp": ("customers", "sales_orders", "invoices"),
    # quarantined_files: one row per file that could not be read, with the reason (never dropped).
    "finance": ("bank_transactions", "fx_rates", "quarantined_files"),
    "marketing": ("ad_spend", "quarantined_files"),
}


def raw_schema(system: str) -> str:
    """The warehouse schema (dlt dataset) a system lands in."""
    return f"raw_{system}"
