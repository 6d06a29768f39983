"""Which Salesforce objects are landed, and the raw table each lands in, without importing dlt.

Why apart from `source.py`: the Dagster definitions need the table names to build the
`raw/salesforce/<table>` assets (connectors/catalog.py), and importing `source.py` for them pulled
dlt and simple_salesforce into every definitions load: 1.7 s of 5.7 s on a 2-core machine.
"""

from __future__ import annotations

import re

from connectors.salesforce.errors import SalesforceConfigError
from connectors.settings import Settings

DEFAULT_OBJECTS = (
    "User",
    "Campaign",
    "Lead",
    "CampaignMember",
    "Account",
    "Contact",
    "Product2",
    "Opportunity",
    "OpportunityLineItem",
    "OpportunityHistory",
    "OpportunityFieldHistory",
    "Quote",
    "Contract",
    "Order",
    "CurrencyType",
    "DatedConversionRate",
)
# Objects an org may not have; each is skipped (with a note) when the global describe lacks it.
OPTIONAL_OBJECTS = {
    "OpportunityFieldHistory": "field history tracking is off for Opportunity",
    "Quote": "Quotes are not enabled",
    "CurrencyType": "a single-currency org",
    "DatedConversionRate": "a single-currency org, or Advanced Currency Management is off",
}
DELETED_TABLE = "deleted_records"  # getDeleted tombstones, one row per hard-deleted record
_OBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
# dlt's snake_case names of the default objects, spelled out so that naming them needs no dlt;
# tests/unit/connectors/test_salesforce_table_names.py keeps them equal to dlt's own.
_DEFAULT_TABLES = {
    "User": "user", "Campaign": "campaign", "Lead": "lead", "CampaignMember": "campaign_member",
    "Account": "account", "Contact": "contact", "Product2": "product2", "Opportunity": "opportunity",
    "OpportunityLineItem": "opportunity_line_item", "OpportunityHistory": "opportunity_history",
    "OpportunityFieldHistory": "opportunity_field_history", "Quote": "quote", "Contract": "contract",
    "Order": "order", "CurrencyType": "currency_type", "DatedConversionRate": "dated_conversion_rate",
}


def configured_objects(settings: Settings) -> tuple[str, ...]:
    """The objects to land: `LTC_SF_OBJECTS` (custom `__c` objects allowed) or `DEFAULT_OBJECTS`."""
    objects = settings.salesforce_objects or DEFAULT_OBJECTS
    bad = [o for o in objects if not _OBJECT_NAME.match(o)]
    if bad:
        raise SalesforceConfigError(
            f"LTC_SF_OBJECTS has names that are not Salesforce object API names: {bad}; use a comma-separated "
            "list such as Lead,Opportunity,Invoice_Plan__c"
        )
    return tuple(dict.fromkeys(objects))


def table_name(obj: str) -> str:
    """The raw table an object lands in: dlt's snake_case of its API name."""
    if obj in _DEFAULT_TABLES:
        return _DEFAULT_TABLES[obj]
    from connectors.salesforce.extract import snake  # a custom object: dlt's own convention

    return snake(obj)
