"""Map an ERP's own tables and columns onto our canonical ERP entities, from a YAML file.

Why a file and not code: every ERP names things its own way (`invoices.due_date`, `ar_doc.dt_due`,
…). The canonical entities — what lands in `raw_erp.<entity>` and what dbt reads — are fixed here in
`CANONICAL`; the mapping says, per entity, which source table and which source column feed each
canonical column, which column is the key and the `updated_at`-style cursor, and how deletes are
seen (a soft-delete column, else a periodic key reconciliation). A new ERP is a new YAML file
(`LTC_ERP_MAPPING`), not a code change. `mappings/sandbox.yml` is the default.

A canonical column left out of an entity's `columns` is simply not landed (optional); the key and
the cursor are required. Unknown entities or canonical columns are configuration errors, raised
with the file name and the offending entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_MAPPING = Path(__file__).with_name("mappings") / "sandbox.yml"

# canonical entity -> canonical column -> type (text, currency, date, timestamp, money, int, flag)
CANONICAL: dict[str, dict[str, str]] = {
    "customers": {
        "customer_id": "text", "customer_number": "text", "name": "text", "country": "text",
        "currency": "currency", "crm_account_id": "text", "tax_id": "text", "iban": "text",
        "payment_terms_days": "int", "created_at": "timestamp", "updated_at": "timestamp",
    },
    "sales_orders": {
        "order_id": "text", "order_number": "text", "customer_id": "text", "crm_opportunity_id": "text",
        "contract_number": "text", "order_date": "date", "currency": "currency", "net_amount": "money",
        "status": "text", "created_at": "timestamp", "updated_at": "timestamp",
    },
    "sales_order_lines": {
        "order_line_id": "text", "order_id": "text", "line_number": "int", "product_code": "text",
        "description": "text", "quantity": "int", "unit_price": "money", "net_amount": "money",
        "created_at": "timestamp", "updated_at": "timestamp",
    },
    "deliveries": {
        "delivery_id": "text", "delivery_number": "text", "order_id": "text", "shipped_date": "date",
        "delivered_date": "date", "status": "text", "created_at": "timestamp", "updated_at": "timestamp",
    },
    "invoices": {
        "invoice_id": "text", "invoice_number": "text", "customer_id": "text", "order_id": "text",
        "issue_date": "date", "due_date": "date", "currency": "currency", "payment_terms": "text",
        "net_amount": "money", "tax_amount": "money", "total_amount": "money", "status": "text",
        "is_deleted": "flag", "created_at": "timestamp", "updated_at": "timestamp",
    },
    "invoice_lines": {
        "invoice_line_id": "text", "invoice_id": "text", "line_number": "int", "order_line_id": "text",
        "description": "text", "net_amount": "money", "tax_amount": "money", "total_amount": "money",
        "created_at": "timestamp", "updated_at": "timestamp",
    },
    "credit_notes": {
        "credit_note_id": "text", "credit_note_number": "text", "invoice_id": "text", "customer_id": "text",
        "issue_date": "date", "currency": "currency", "net_amount": "money", "tax_amount": "money",
        "total_amount": "money", "reason": "text", "created_at": "timestamp", "updated_at": "timestamp",
    },
}
ON_MISSING = ("error", "skip_table")
# The source schema, table and column names in a mapping file become SQL identifiers in every ERP
# read (and in connectorx's query text). SQLAlchemy quotes them, but a name with a quote, a
# semicolon, whitespace or a dot is never a real ERP column and only ever a mistake or an attack
# (`invoices; DROP TABLE x`, `"a" OR 1=1`): refuse it when the file is read, naming file and key.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,127}")


class ErpMappingError(ValueError):
    """The mapping file is invalid or does not fit the source; the message names file, entity, column."""


def _identifier(where: str, key: str, value: object) -> str:
    """`value` if it is a plain SQL identifier, else an `ErpMappingError` naming the file and key."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise ErpMappingError(
            f"{where}: {key} = {value!r} is not a plain SQL identifier (letters, digits, _ and $, "
            "at most 128, not starting with a digit); quotes, semicolons, whitespace and dots are refused")
    return value


@dataclass(frozen=True)
class EntityMap:
    entity: str
    table: str                       # source table
    key: str                         # canonical key column
    cursor: str                      # canonical cursor column (updated_at-style)
    columns: dict[str, str]          # canonical -> source column, in canonical order
    soft_delete: str | None = None   # canonical flag column (1/true = deleted), if the ERP has one
    reconcile_every: int = 1         # key reconciliation every N runs (0 = never); unused with soft_delete

    @property
    def types(self) -> dict[str, str]:
        return {c: CANONICAL[self.entity][c] for c in self.columns}

    def source(self, canonical: str) -> str:
        return self.columns[canonical]


@dataclass(frozen=True)
class ErpMapping:
    path: Path
    entities: dict[str, EntityMap]
    schema: str | None = None           # source schema (None = the connection's default)
    on_missing_column: str = "error"    # a mapped column the source lacks: fail the run, or skip the table
    max_amount: str = "1000000000"      # money above this (absolute) is quarantined as absurd
    extra: dict = field(default_factory=dict)


def load_mapping(path: Path | str | None = None) -> ErpMapping:
    """Read and validate a mapping file (default: the sandbox's)."""
    path = Path(path) if path else DEFAULT_MAPPING
    where = f"ERP mapping {path}"
    if not path.is_file():
        raise ErpMappingError(f"{where} does not exist (LTC_ERP_MAPPING)")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ErpMappingError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("entities"), dict):
        raise ErpMappingError(f"{where}: needs a top-level `entities:` mapping")
    on_missing = doc.get("on_missing_column", "error")
    if on_missing not in ON_MISSING:
        raise ErpMappingError(f"{where}: on_missing_column must be one of {ON_MISSING}, not {on_missing!r}")
    entities = {}
    for name, spec in doc["entities"].items():
        if name not in CANONICAL:
            raise ErpMappingError(f"{where}: unknown entity {name!r}; canonical entities are {sorted(CANONICAL)}")
        if not isinstance(spec, dict) or not spec.get("table") or not isinstance(spec.get("columns"), dict):
            raise ErpMappingError(f"{where}: entity {name!r} needs `table:` and `columns:`")
        cols = spec["columns"]
        unknown = sorted(set(cols) - set(CANONICAL[name]))
        if unknown:
            raise ErpMappingError(f"{where}: entity {name!r} maps unknown canonical column(s) {unknown}; "
                                  f"known: {list(CANONICAL[name])}")
        key = spec.get("key") or next(iter(CANONICAL[name]))
        cursor = spec.get("cursor", "updated_at")
        for role, col in (("key", key), ("cursor", cursor), ("soft_delete", spec.get("soft_delete"))):
            if col is not None and col not in cols:
                raise ErpMappingError(f"{where}: entity {name!r}: {role} {col!r} must be one of its mapped columns")
        ordered = {c: _identifier(where, f"entities.{name}.columns.{c}", cols[c]) for c in CANONICAL[name] if c in cols}
        table = _identifier(where, f"entities.{name}.table", spec["table"])
        entities[name] = EntityMap(name, table, key, cursor, ordered, spec.get("soft_delete"),
                                   int(spec.get("reconcile_every", 1)))
    schema = doc.get("schema")
    if schema is not None:
        _identifier(where, "schema", schema)
    return ErpMapping(path, entities, schema, on_missing, str(doc.get("max_amount", "1000000000")))
