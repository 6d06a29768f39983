"""Suites on `raw_marketing.*` (docs/contracts.md §1 Marketing, §2 ad_spend).

Only `ad_spend` feeds the model. The `hubspot_*` tables have no suite on purpose: they exist only
where the marketing API is configured and no dbt model reads them yet
(dbt_project/models/staging/marketing/_marketing__sources.yml); a blocking check on them would
gate nothing. The quarantine tables are records for people.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from expectations.suites._common import SuiteBuilder, SuiteSpec

if TYPE_CHECKING:
    import great_expectations as gx

SYSTEM = "marketing"
AD_SPEND_KEY = ("date", "platform", "campaign_id")  # campaign ids are unique per platform only


def ad_spend_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "ad_spend", AD_SPEND_KEY)
    b.non_empty().key_integrity()
    b.required_columns(["channel", "impressions", "clicks", "spend", "currency"])
    b.not_null("spend", "currency")
    b.money("spend")
    b.currency("currency")
    b.between("impressions", min_value=0)
    b.between("clicks", min_value=0)
    b.ordered("impressions", "clicks")
    b.not_future("date")
    return b.build()


SUITES: dict[str, SuiteSpec] = {
    "ad_spend": SuiteSpec(ad_spend_suite, AD_SPEND_KEY, "error"),
}
