"""Suites on `raw_erp.*` (docs/contracts.md §1 ERP, §2 landing).

Every canonical ERP entity the dbt staging models read has a suite; `quarantined_rows` has none
(it is the record of what could not land, read by people, not by models). Money columns land as
DECIMAL(18,2), dates as DATE, `created_at`/`updated_at` as timestamptz.

An ERP mapping may leave an entity out, or any canonical column but the key and the cursor
(connectors/erp/mapping.py; dbt reads what landed through `erp_landed_columns`). The header
entities (customers, sales orders, invoices) are what lead-to-cash is about and stay required as
before. The document details added in issue 6 (order lines, deliveries, invoice lines, credit
notes) follow the mapping's contract: the table may be absent, and only the key, the cursor and
the link to the header are required; their money and currency checks are errors when the column
landed and skipped when the mapping left it out. They may also be empty (a young company has no
deliveries or credit notes yet), so they have no non-empty check; a load that empties one is
caught by the row-count bound against the last validation (expectations/state.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from expectations.suites._common import SuiteBuilder, SuiteSpec

if TYPE_CHECKING:
    import great_expectations as gx

SYSTEM = "erp"
INVOICE_STATUSES = ("open", "paid", "cancelled")
DELIVERY_STATUSES = ("shipped", "delivered")


def _audit(b: SuiteBuilder) -> SuiteBuilder:
    """`updated_at` is the incremental cursor: present, and not in the future (a future cursor
    would skip every change until that day)."""
    b.not_null("updated_at")
    b.not_future("updated_at", "timestamp")
    return b


def customers_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "customers", "customer_id")
    b.non_empty().key_integrity()
    b.required_columns(["customer_number", "name", "currency", "payment_terms_days", "updated_at"])
    _audit(b)
    b.currency("currency")
    b.between("payment_terms_days", min_value=0, max_value=365)
    return b.build()


def sales_orders_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "sales_orders", "order_id")
    b.non_empty().key_integrity()
    b.required_columns(
        ["order_number", "customer_id", "order_date", "currency", "net_amount", "status", "updated_at"]
    )
    b.not_null("customer_id", "order_date", "net_amount")
    _audit(b)
    b.currency("currency")
    b.money("net_amount")
    b.not_future("order_date")
    return b.build()


def sales_order_lines_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "sales_order_lines", "order_line_id", optional_table=True)
    b.key_integrity()
    b.required_columns(["order_id", "updated_at"])
    b.not_null("order_id")
    _audit(b)
    b.money("unit_price", optional=True)
    b.money("net_amount", optional=True)
    b.between("quantity", min_value=0, strict_min=True)
    b.between("line_number", min_value=1)
    b.unique(("order_id", "line_number"), severity="warning")
    return b.build()


def deliveries_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "deliveries", "delivery_id", optional_table=True)
    b.key_integrity()
    b.required_columns(["order_id", "updated_at"])
    b.not_null("order_id")
    _audit(b)
    b.in_set("status", DELIVERY_STATUSES)
    b.not_future("shipped_date")
    b.not_future("delivered_date")
    b.ordered("delivered_date", "shipped_date")
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
    b.not_null("customer_id", "issue_date", "due_date", "total_amount")
    _audit(b)
    b.in_set("status", INVOICE_STATUSES)
    b.in_set("is_deleted", (0, 1, True, False))
    b.currency("currency")
    b.money("net_amount")
    b.money("tax_amount")
    b.money("total_amount")
    b.not_future("issue_date")
    b.ordered("due_date", "issue_date")
    return b.build()


def invoice_lines_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "invoice_lines", "invoice_line_id", optional_table=True)
    b.key_integrity()
    b.required_columns(["invoice_id", "updated_at"])
    b.not_null("invoice_id")
    _audit(b)
    b.money("net_amount", optional=True)
    b.money("tax_amount", optional=True)
    b.money("total_amount", optional=True)
    b.between("line_number", min_value=1)
    b.unique(("invoice_id", "line_number"), severity="warning")
    return b.build()


def credit_notes_suite() -> gx.ExpectationSuite:
    b = SuiteBuilder(SYSTEM, "credit_notes", "credit_note_id", optional_table=True)
    b.key_integrity()
    b.required_columns(["invoice_id", "updated_at"])
    b.not_null("invoice_id")
    _audit(b)
    b.currency("currency", optional=True)
    b.money("net_amount", optional=True)  # a credit note carries positive amounts; the document type is the sign
    b.money("tax_amount", optional=True)
    b.money("total_amount", optional=True)
    b.not_future("issue_date")
    return b.build()


SUITES: dict[str, SuiteSpec] = {
    "customers": SuiteSpec(customers_suite, "customer_id", "error"),
    "sales_orders": SuiteSpec(sales_orders_suite, "order_id", "error"),
    "sales_order_lines": SuiteSpec(sales_order_lines_suite, "order_line_id", "error"),
    "deliveries": SuiteSpec(deliveries_suite, "delivery_id", "error"),
    "invoices": SuiteSpec(invoices_suite, "invoice_id", "error"),
    "invoice_lines": SuiteSpec(invoice_lines_suite, "invoice_line_id", "error"),
    "credit_notes": SuiteSpec(credit_notes_suite, "credit_note_id", "error"),
}
