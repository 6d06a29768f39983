"""Suites on `raw_finance.*` (docs/contracts.md §1 Finance, §2 bank_transactions, fx_rates)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from expectations.suites._common import ISO_CURRENCY, SuiteBuilder, SuiteSpec

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
    b.in_set("credit_debit", ("CRDT", "DBIT"))
    b.between("amount", min_value=0)
    b.regex("currency", ISO_CURRENCY)
    return b.build()


def fx_rates_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "fx_rates", FX_KEY)
    b.non_empty().key_integrity()
    b.required_columns(["rate"])
    b.not_null("rate")
    b.between("rate", min_value=0, strict_min=True)
    b.regex("currency", ISO_CURRENCY)
    b.regex("reporting_currency", ISO_CURRENCY)
    return b.build()


SUITES: dict[str, SuiteSpec] = {
    "bank_transactions": SuiteSpec(bank_transactions_suite, "transaction_id", "error"),
    "fx_rates": SuiteSpec(fx_rates_suite, FX_KEY, "error"),
}
