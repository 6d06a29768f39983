"""Suites on `raw_salesforce.*` (docs/contracts.md §1 Salesforce objects, §2 landing).

Columns are the API field names snake-cased by dlt. Only fields that are always populated are
required: dlt creates a column only once it has seen a non-null value, so optional fields
(e.g. `converted_date`) may legitimately be absent from a young table; checks on them are
skipped then (`optional=True`, or warn level).

Every object the dbt staging models read has a suite. `product2`, `opportunity_line_item`,
`quote` and `opportunity_field_history` are landed but no model reads them yet, so a blocking
check would gate nothing; they get suites when a model starts using them.
`currency_type`, `dated_conversion_rate` (orgs without advanced currency management lack them)
and `deleted_records` (created with the first tombstone) may not exist: their suites are
optional-table suites, passed with ``skipped=("table_exists",)`` until the table appears.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from expectations.suites._common import SALESFORCE_ID, SuiteBuilder, SuiteSpec, salesforce_common

if TYPE_CHECKING:
    import great_expectations as gx

SYSTEM = "salesforce"

LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Qualified",
    "Closed - Converted",
    "Closed - Not Converted",
)
OPPORTUNITY_STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
CAMPAIGN_TYPES = ("Paid Search", "Social", "Email", "Webinar", "Trade Show")
CONTRACT_STATUSES = ("Draft", "Activated")
SALES_REGIONS = ("NA", "EMEA", "UK")  # User.Department holds the sales region
SOBJECT_NAME = r"^[A-Za-z][A-Za-z0-9_]*$"


def lead_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "lead", "id")
    salesforce_common(b, ["status", "owner_id", "is_converted"])
    b.in_set("status", LEAD_STATUSES)
    b.in_set("is_converted", [True, False])
    b.not_future("converted_date")
    return b.build()


def account_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "account", "id")
    salesforce_common(b, ["name", "owner_id"])
    b.not_null("name", severity="warning")
    b.currency("currency_iso_code", optional=True)  # single-currency orgs have no such field
    return b.build()


def opportunity_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "opportunity", "id")
    salesforce_common(
        b, ["account_id", "stage_name", "close_date", "is_closed", "is_won", "currency_iso_code"]
    )
    b.in_set("stage_name", OPPORTUNITY_STAGES)
    b.money("amount", optional=True)
    b.between("probability", min_value=0, max_value=100)
    b.currency("currency_iso_code")
    b.not_null("close_date", severity="warning")
    return b.build()


def opportunity_history_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "opportunity_history", "id")
    salesforce_common(b, ["opportunity_id", "stage_name"])
    b.not_null("opportunity_id")
    b.in_set("stage_name", OPPORTUNITY_STAGES)
    b.money("amount", optional=True)
    b.between("probability", min_value=0, max_value=100)
    return b.build()


def campaign_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "campaign", "id")
    salesforce_common(b, ["name", "type"])
    b.in_set("type", CAMPAIGN_TYPES)
    b.money("budgeted_cost", optional=True)
    b.money("actual_cost", optional=True)
    b.currency("currency_iso_code", optional=True)
    b.ordered("end_date", "start_date")
    return b.build()


def contract_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "contract", "id")
    salesforce_common(b, ["account_id", "status"])
    b.in_set("status", CONTRACT_STATUSES)
    b.ordered("end_date", "start_date")
    b.money("contract_value_c", optional=True)
    b.currency("currency_iso_code", optional=True)
    b.not_future("customer_signed_date")
    return b.build()


def order_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "order", "id")
    salesforce_common(b, ["account_id", "effective_date"])
    b.money("total_amount", optional=True)
    b.currency("currency_iso_code", optional=True)
    return b.build()


def user_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "user", "id")
    salesforce_common(b, ["name", "is_active"])
    b.in_set("is_active", [True, False])
    b.in_set("department", SALES_REGIONS)  # the funnel's region slice
    return b.build()


def contact_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "contact", "id")
    salesforce_common(b, ["last_name"])
    b.regex("account_id", SALESFORCE_ID)
    b.regex("owner_id", SALESFORCE_ID)
    return b.build()


def campaign_member_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "campaign_member", "id")
    salesforce_common(b, ["campaign_id"])
    b.not_null("campaign_id")  # first-touch attribution joins on it
    b.regex("campaign_id", SALESFORCE_ID)
    b.regex("lead_id", SALESFORCE_ID)
    b.regex("contact_id", SALESFORCE_ID)
    b.in_set("has_responded", [True, False])
    b.not_future("first_responded_date")
    return b.build()


def _setup_object(b: SuiteBuilder, extra_required: list[str]) -> SuiteBuilder:
    """CurrencyType and DatedConversionRate have no IsDeleted (contract §1)."""
    return (
        b.non_empty()
        .key_integrity()
        .required_columns(["id", "created_date", "system_modstamp", *extra_required])
        .not_null("system_modstamp")
        .regex("id", SALESFORCE_ID)
        .not_future("system_modstamp", "timestamp")
    )


def currency_type_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "currency_type", "id", optional_table=True)
    _setup_object(b, ["iso_code", "conversion_rate", "is_corporate"])
    b.not_null("iso_code", "conversion_rate")
    b.currency("iso_code")
    b.unique(("iso_code",))  # one row per currency, or the corporate join doubles rates
    b.positive_rate("conversion_rate")
    b.in_set("is_corporate", [True, False])
    b.between("decimal_places", min_value=0, max_value=4)
    return b.build()


def dated_conversion_rate_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "dated_conversion_rate", "id", optional_table=True)
    _setup_object(b, ["iso_code", "conversion_rate", "start_date"])
    b.not_null("iso_code", "conversion_rate", "start_date")
    b.currency("iso_code")
    b.unique(("iso_code", "start_date"))  # two rates for one day: the FX fallback joins twice
    b.positive_rate("conversion_rate")
    b.ordered("next_start_date", "start_date")
    return b.build()


def deleted_records_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "deleted_records", ("sobject", "id"), optional_table=True)
    b.non_empty().key_integrity()
    b.required_columns(["deleted_date", "detected_at"])
    b.regex("id", SALESFORCE_ID)
    b.regex("sobject", SOBJECT_NAME)
    b.not_future("deleted_date", "timestamp")
    b.not_future("detected_at", "timestamp")
    b.ordered("detected_at", "deleted_date")
    return b.build()


SUITES: dict[str, SuiteSpec] = {
    "lead": SuiteSpec(lead_suite, "id", "error"),
    "opportunity": SuiteSpec(opportunity_suite, "id", "error"),
    "account": SuiteSpec(account_suite, "id", "error"),
    "opportunity_history": SuiteSpec(opportunity_history_suite, "id", "error"),
    "campaign": SuiteSpec(campaign_suite, "id", "error"),
    "contract": SuiteSpec(contract_suite, "id", "error"),
    "order": SuiteSpec(order_suite, "id", "error"),
    "user": SuiteSpec(user_suite, "id", "error"),
    "contact": SuiteSpec(contact_suite, "id", "error"),
    "campaign_member": SuiteSpec(campaign_member_suite, "id", "error"),
    "currency_type": SuiteSpec(currency_type_suite, "id", "error"),
    "dated_conversion_rate": SuiteSpec(dated_conversion_rate_suite, "id", "error"),
    "deleted_records": SuiteSpec(deleted_records_suite, ("sobject", "id"), "error"),
}
