"""Display labels for the words the marts carry as data: stage steps, opportunity stages, forecast
categories, aging buckets, reconciliation statuses, exception types and severities, channels.

Why: these words are data values (seeds, accepted values of mart columns, Salesforce picklists) that
tests, filters and `data-*` attributes rely on, so they stay English in the warehouse; a reader of a
Chinese report should still not see them in English. The reports therefore translate them at render
time, here, and only for display: `label(value)` returns the current locale's text for a value it
knows and the value itself for anything else (a user's own seed row, a custom stage), so an unknown
value shows as it is rather than disappearing. The messages carry the gettext context "mart value"
(NP_), so a value such as "Collected" or "Commit" is translated as a data label independently of the
same English word used as a UI string.
"""

from __future__ import annotations

from reports.i18n import NP_, _, pgettext

CONTEXT = "mart value"

_VALUES = (
    # S1–S6 steps (seed ltc_stage_mapping.step_name)
    NP_("mart value", "acquire"), NP_("mart value", "assign"), NP_("mart value", "follow up"),
    NP_("mart value", "opportunity"), NP_("mart value", "commercial"), NP_("mart value", "fulfil and collect"),
    # Salesforce opportunity stages (dbt var opportunity_stage_rank)
    NP_("mart value", "Prospecting"), NP_("mart value", "Qualification"), NP_("mart value", "Needs Analysis"),
    NP_("mart value", "Proposal/Price Quote"), NP_("mart value", "Negotiation/Review"),
    NP_("mart value", "Closed Won"), NP_("mart value", "Closed Lost"),
    # forecast categories (Salesforce ForecastCategoryName)
    NP_("mart value", "Pipeline"), NP_("mart value", "Best Case"), NP_("mart value", "Commit"),
    NP_("mart value", "Closed"), NP_("mart value", "Omitted"),
    # aging buckets (fct_ar_aging.aging_bucket and the labels of reports/collection.py)
    NP_("mart value", "current"), NP_("mart value", "Current"), NP_("mart value", "1–30 days"),
    NP_("mart value", "31–60 days"), NP_("mart value", "61–90 days"), NP_("mart value", "90+ days"),
    # rpt_contract_reconciliation.reconciliation_status and section
    NP_("mart value", "reconciled"), NP_("mart value", "open receivable"), NP_("mart value", "no contract"),
    NP_("mart value", "over invoiced"), NP_("mart value", "not ordered"),
    NP_("mart value", "delivered not invoiced"), NP_("mart value", "not fully invoiced"),
    NP_("mart value", "partially ordered"), NP_("mart value", "contract"),
    # fct_reconciliation_exceptions.exception_type and severity
    NP_("mart value", "invoice without contract"), NP_("mart value", "order without signed contract"),
    NP_("mart value", "contract won not invoiced"), NP_("mart value", "invoice over contract value"),
    NP_("mart value", "unapplied receipt"), NP_("mart value", "short payment"), NP_("mart value", "overpayment"),
    NP_("mart value", "duplicate payment"), NP_("mart value", "fx difference"),
    NP_("mart value", "high"), NP_("mart value", "medium"), NP_("mart value", "low"),
    # fct_cash_receipts.application_status
    NP_("mart value", "applied"), NP_("mart value", "partially applied"), NP_("mart value", "unapplied"),
    NP_("mart value", "unidentified"),
    # fct_cash_receipts.unapplied_reason (int_cash_receipts_matched; the match exceptions of
    # int_cash_receipts_identified)
    NP_("mart value", "on account"), NP_("mart value", "no open invoice"), NP_("mart value", "currency mismatch"),
    NP_("mart value", "invoice already settled"), NP_("mart value", "no invoice reference"),
    NP_("mart value", "reference conflicts with payer"), NP_("mart value", "ambiguous invoice number"),
    NP_("mart value", "invoice cancelled"), NP_("mart value", "invoice not yet issued"),
    NP_("mart value", "invoice deleted"), NP_("mart value", "unknown invoice number"),
    # seed collection_dunning_levels.level_name
    NP_("mart value", "Friendly reminder"), NP_("mart value", "First reminder"),
    NP_("mart value", "Second reminder"), NP_("mart value", "Final notice"), NP_("mart value", "Escalation"),
    # seed channel_mapping.channel and rpt_funnel_conversion's fallbacks
    NP_("mart value", "Email"), NP_("mart value", "Events"), NP_("mart value", "Inbound"),
    NP_("mart value", "Organic"), NP_("mart value", "Other"), NP_("mart value", "Outbound"),
    NP_("mart value", "Paid"), NP_("mart value", "Paid Social"), NP_("mart value", "Partner"),
    NP_("mart value", "Referral"), NP_("mart value", "No campaign"), NP_("mart value", "(none)"),
    # rpt_source_freshness.source_system, capitalised (Salesforce and ERP are names, shown as they are)
    NP_("mart value", "Finance"), NP_("mart value", "Marketing"),
)
KNOWN = frozenset(_VALUES)


def label(value: object) -> str:
    """`value` as the reader of the current locale reads it; unknown values unchanged. A known
    value keyed by currency ('no contract:CNY', rpt_contract_reconciliation's key of the rows with
    no live contract) reads "no contract (CNY)"."""
    text = "" if value is None else str(value)
    if text in KNOWN:
        return pgettext(CONTEXT, text)
    known, sep, currency = text.partition(":")
    if sep and known in KNOWN and len(currency) == 3 and currency.isalpha() and currency.isupper():
        return _("%(label)s (%(currency)s)") % {"label": pgettext(CONTEXT, known), "currency": currency}
    return text
