"""Suites on `raw_salesforce.*` (docs/contracts.md §1 Salesforce objects, §2 landing).

Columns are the API field names snake-cased by dlt. Only fields that are always populated are
required: dlt creates a column only once it has seen a non-null value, so optional fields
(e.g. `converted_date`) may legitimately be absent from a young table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from expectations.suites._common import ISO_CURRENCY, SuiteBuilder, SuiteSpec, salesforce_common

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


def lead_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "lead", "id")
    salesforce_common(b, ["status", "owner_id", "is_converted"])
    b.in_set("status", LEAD_STATUSES)
    b.in_set("is_converted", [True, False])
    return b.build()


def account_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "account", "id")
    salesforce_common(b, ["name", "owner_id"])
    b.not_null("name", severity="warning")
    b.regex("currency_iso_code", ISO_CURRENCY)
    return b.build()


def opportunity_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "opportunity", "id")
    salesforce_common(
        b, ["account_id", "stage_name", "close_date", "is_closed", "is_won", "currency_iso_code"]
    )
    b.in_set("stage_name", OPPORTUNITY_STAGES)
    b.between("amount", min_value=0)
    b.between("probability", min_value=0, max_value=100)
    b.regex("currency_iso_code", ISO_CURRENCY)
    b.not_null("close_date", severity="warning")
    return b.build()


def opportunity_history_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "opportunity_history", "id")
    salesforce_common(b, ["opportunity_id", "stage_name"])
    b.not_null("opportunity_id")
    b.in_set("stage_name", OPPORTUNITY_STAGES)
    b.between("amount", min_value=0)
    b.between("probability", min_value=0, max_value=100)
    return b.build()


def campaign_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "campaign", "id")
    salesforce_common(b, ["name", "type"])
    b.in_set("type", ("Paid Search", "Social", "Email", "Webinar", "Trade Show"))
    b.between("budgeted_cost", min_value=0)
    b.between("actual_cost", min_value=0)
    b.ordered("end_date", "start_date")
    return b.build()


def contract_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "contract", "id")
    salesforce_common(b, ["account_id", "status"])
    b.in_set("status", ("Draft", "Activated"))
    b.ordered("end_date", "start_date")
    b.between("contract_value_c", min_value=0)
    return b.build()


def order_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "order", "id")
    salesforce_common(b, ["account_id", "effective_date"])
    b.between("total_amount", min_value=0)
    b.regex("currency_iso_code", ISO_CURRENCY)
    return b.build()


SUITES: dict[str, SuiteSpec] = {
    "lead": SuiteSpec(lead_suite, "id", "error"),
    "opportunity": SuiteSpec(opportunity_suite, "id", "error"),
    "account": SuiteSpec(account_suite, "id", "error"),
    "opportunity_history": SuiteSpec(opportunity_history_suite, "id", "error"),
    "campaign": SuiteSpec(campaign_suite, "id", "error"),
    "contract": SuiteSpec(contract_suite, "id", "error"),
    "order": SuiteSpec(order_suite, "id", "error"),
}
