"""The one row shape every bank-statement format lands in (`raw_finance.bank_transactions`).

Why its own module: the three readers (CAMT.053 exact and Arrow paths, MT940, CSV), the file-drop
scan and the dlt resource all build or check this shape, and none of them should import another
just for it.
"""

from __future__ import annotations

import pyarrow as pa

from connectors.values import MONEY

BANK_COLUMNS = [
    {"name": "transaction_id", "data_type": "text", "nullable": False},
    {"name": "file_name", "data_type": "text"},
    {"name": "file_sha256", "data_type": "text"},
    {"name": "statement_id", "data_type": "text"},
    {"name": "account_iban", "data_type": "text"},
    {"name": "account_currency", "data_type": "text"},
    {"name": "entry_reference", "data_type": "text"},
    {"name": "booking_date", "data_type": "date"},
    {"name": "value_date", "data_type": "date"},
    {"name": "credit_debit", "data_type": "text"},
    {"name": "amount", **MONEY},
    {"name": "currency", "data_type": "text"},
    {"name": "end_to_end_id", "data_type": "text"},
    {"name": "debtor_name", "data_type": "text"},
    {"name": "debtor_iban", "data_type": "text"},
    {"name": "remittance_unstructured", "data_type": "text"},
    {"name": "remittance_structured_reference", "data_type": "text"},
    {"name": "source_format", "data_type": "text"},  # camt053 | mt940 | bank_csv
    {"name": "transaction_details", "data_type": "text"},  # MT940 `:86:` text as delivered
]

_ARROW_TYPES = {"text": pa.string(), "date": pa.date32(), "decimal": pa.decimal128(18, 2)}
BANK_SCHEMA = pa.schema([pa.field(c["name"], _ARROW_TYPES[c["data_type"]], nullable=c.get("nullable", True))
                         for c in BANK_COLUMNS])


def to_arrow(rows: list[dict], source_format: str) -> pa.Table:
    """Parsed rows (dicts) as one Arrow table of `BANK_SCHEMA`: dlt writes it to parquet as is, where
    dict rows went through dlt's row-by-row normaliser (~3,500 rows/s; benchmarks/camt.py)."""
    columns = {f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in BANK_SCHEMA}
    columns["source_format"] = pa.array([source_format] * len(rows), pa.string())
    return pa.table(columns, schema=BANK_SCHEMA)
