"""Suites on `raw_erp.*` (docs/contracts.md §1 ERP, §2 landing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from expectations.suites._common import ISO_CURRENCY, SuiteBuilder, SuiteSpec

if TYPE_CHECKING:
    import great_expectations as gx

SYSTEM = "erp"
INVOICE_STATUSES = ("open", "paid", "cancelled")


def customers_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "customers", "customer_id")
    b.non_empty().key_integrity()
    b.required_columns(["customer_number", "name", "currency", "payment_terms_days", "updated_at"])
    b.not_null("updated_at")
    b.regex("currency", ISO_CURRENCY)
    b.between("payment_terms_days", min_value=0, max_value=365)
    return b.build()


def sales_orders_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "sales_orders", "order_id")
    b.non_empty().key_integrity()
    b.required_columns(
        ["order_number", "customer_id", "order_date", "currency", "net_amount", "status", "updated_at"]
    )
    b.not_null("customer_id", "order_date", "updated_at")
    b.regex("currency", ISO_CURRENCY)
    b.between("net_amount", min_value=0)
    return b.build()


def invoices_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "invoices", "invoice_id")
    b.non_empty().key_integrity()
    b.required_columns(
        [
            "invoice_number",
            "customer_id",
            "issue_date",
            "due_date",
            "currency",
            "net_amount",
            "tax_amount",
            "total_amount",
            "status",
            "is_deleted",
            "updated_at",
        ]
    )
    b.not_null("customer_id", "issue_date", "due_date", "total_amount", "updated_at")
    b.in_set("status", INVOICE_STATUSES)
    b.in_set("is_deleted", (0, 1, True, False))
    b.regex("currency", ISO_CURRENCY)
    b.between("net_amount", min_value=0)
    b.between("tax_amount", min_value=0)
    b.between("total_amount", min_value=0)
    b.ordered("due_date", "issue_date")
    return b.build()


SUITES: dict[str, SuiteSpec] = {
    "customers": SuiteSpec(customers_suite, "customer_id", "error"),
    "sales_orders": SuiteSpec(sales_orders_suite, "order_id", "error"),
    "invoices": SuiteSpec(invoices_suite, "invoice_id", "error"),
}
