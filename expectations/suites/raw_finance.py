"""Suites on `raw_finance.*` (docs/contracts.md §1 Finance, §2 bank_transactions, fx_rates).

The bank-file readers already refuse a file with an unknown currency, a negative or absurd amount
or a bad credit/debit mark (connectors/finance/checks.py); the suite checks the same rules on
what actually landed, whatever path it took (an older loader, a manual insert, a new format).
`quarantined_files` has no suite: it is the record of refused files, for people.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from expectations.suites._common import SuiteBuilder, SuiteSpec

if TYPE_CHECKING:
    import great_expectations as gx

SYSTEM = "finance"
FX_KEY = ("rate_date", "currency", "reporting_currency")


def bank_transactions_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "bank_transactions", "transaction_id")
    b.non_empty().key_integrity()
    b.required_columns(
        [
            "file_name",
            "statement_id",
            "account_currency",
            "booking_date",
            "credit_debit",
            "amount",
            "currency",
        ]
    )
    b.not_null("booking_date", "credit_debit", "amount", "currency")
    b.in_set("credit_debit", ("CRDT", "DBIT"), severity="critical")  # the sign of the money
    b.money("amount")
    b.currency("currency")
    b.currency("account_currency")
    b.not_future("booking_date")
    return b.build()


def fx_rates_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "fx_rates", FX_KEY)
    b.non_empty().key_integrity()
    b.required_columns(["rate"])
    b.not_null("rate")
    b.positive_rate("rate")
    b.currency("currency")
    b.currency("reporting_currency")
    b.not_future("rate_date")
    return b.build()


SUITES: dict[str, SuiteSpec] = {
    "bank_transactions": SuiteSpec(bank_transactions_suite, "transaction_id", "error"),
    "fx_rates": SuiteSpec(fx_rates_suite, FX_KEY, "error"),
}
