"""dlt source for the ERP database (any SQLAlchemy URL; the sandbox is `sqlite:///…/erp.sqlite`).

Why dlt's `sql_table` rather than our own SELECTs: it reflects types (with precision, so
`DECIMAL(18,2)` stays `decimal(18,2)`), pages with server-side chunks, and keeps the `updated_at`
cursor in the pipeline state in the warehouse. We pin:
- the contract's column list per table (`included_columns`), so an ERP that grows columns does not
  silently widen the raw contract;
- `merge` on the table's primary key, incremental on `updated_at` with a closed start (rows sharing
  the last timestamp are re-read and merged, never skipped);
- the pyarrow backend: rows arrive as Arrow tables (no per-row Python in dlt) and decimals stay
  exact `decimal128(18, 2)` (checked by `tests/integration/test_ingest_idempotent.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import dlt
import sqlalchemy as sa
from dlt.sources.sql_database import sql_table

from connectors.landing import MONEY


@dataclass(frozen=True)
class ErpTable:
    name: str
    primary_key: str
    columns: tuple[str, ...]
    money: tuple[str, ...] = ()
    cursor: str = "updated_at"


ERP_TABLES: tuple[ErpTable, ...] = (
    ErpTable(
        "customers",
        "customer_id",
        ("customer_id", "customer_number", "name", "country", "currency", "crm_account_id", "tax_id",
         "payment_terms_days", "created_at", "updated_at"),
    ),
    ErpTable(
        "sales_orders",
        "order_id",
        ("order_id", "order_number", "customer_id", "crm_opportunity_id", "contract_number", "order_date",
         "currency", "net_amount", "status", "created_at", "updated_at"),
        money=("net_amount",),
    ),
    ErpTable(
        "invoices",
        "invoice_id",
        ("invoice_id", "invoice_number", "customer_id", "order_id", "issue_date", "due_date", "currency",
         "net_amount", "tax_amount", "total_amount", "status", "is_deleted", "created_at", "updated_at"),
        money=("net_amount", "tax_amount", "total_amount"),
    ),
)
TABLES_BY_NAME = {t.name: t for t in ERP_TABLES}

def _utc_timestamps(sql_type):
    """ERP timestamps are UTC (the contract); most ERPs store them without a zone. Declaring them
    zoned here makes dlt build zoned Arrow columns, so they land as `timestamp with time zone`."""
    if isinstance(sql_type, sa.DateTime) and not getattr(sql_type, "timezone", False):
        return sa.DateTime(timezone=True)
    return sql_type


_DATES = frozenset({"order_date", "issue_date", "due_date"})
_INTS = frozenset({"payment_terms_days", "is_deleted"})
_TIMESTAMPS = frozenset({"created_at", "updated_at"})


def _hints(table: ErpTable) -> list[dict]:
    """Complete types for every contract column. Reflection alone is not enough: a column that is
    all NULL in a chunk arrives as an Arrow `null` column and would lose its type (and then not be
    created), and ERPs declaring bare NUMERIC must still land money as DECIMAL(18,2)."""
    hints = []
    for c in table.columns:
        if c in table.money:
            hint = dict(MONEY)
        elif c in _DATES:
            hint = {"data_type": "date"}
        elif c in _INTS:
            hint = {"data_type": "bigint"}
        elif c in _TIMESTAMPS:
            hint = {"data_type": "timestamp", "timezone": True}
        else:
            hint = {"data_type": "text"}
        hints.append({"name": c, "nullable": c != table.primary_key, **hint})
    return hints


def _table_resource(engine: sa.Engine, table: ErpTable, chunk_size: int):
    resource = sql_table(
        credentials=engine,
        table=table.name,
        schema=None,
        incremental=dlt.sources.incremental(table.cursor, range_start="closed"),
        chunk_size=chunk_size,
        backend="pyarrow",
        reflection_level="full_with_precision",
        included_columns=list(table.columns),
        type_adapter_callback=_utc_timestamps,
        write_disposition="merge",
        primary_key=table.primary_key,
    )
    resource.apply_hints(columns=_hints(table))
    return resource


@dlt.source(name="erp", max_table_nesting=0)
def erp_source(engine: sa.Engine, tables: tuple[str, ...] | None = None, chunk_size: int = 50_000):
    """customers, sales_orders, invoices; one row per source row, merged on the table's key."""
    chosen = [TABLES_BY_NAME[n] for n in tables] if tables else list(ERP_TABLES)
    return [_table_resource(engine, t, chunk_size) for t in chosen]
