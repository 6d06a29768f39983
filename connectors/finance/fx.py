"""FX rates CSV (`rate_date,currency,reporting_currency,rate`) read with explicit types.

`rate` is `Decimal` with up to 6 decimals (the contract's DECIMAL(18,6)): one rate = units of
`reporting_currency` per 1 `currency`, one row per business day. Never through pandas' inference.
"""

from __future__ import annotations

from pathlib import Path

from connectors.landing import FX_RATE, currency_code, exact_decimal, iso_date, read_typed_csv, FileFormatError

FX_TYPES = {
    "rate_date": iso_date,
    "currency": currency_code,
    "reporting_currency": currency_code,
    "rate": exact_decimal(6),
}
FX_KEY = ("rate_date", "currency", "reporting_currency")
FX_COLUMNS = [
    {"name": "rate_date", "data_type": "date", "nullable": False},
    {"name": "currency", "data_type": "text", "nullable": False},
    {"name": "reporting_currency", "data_type": "text", "nullable": False},
    {"name": "rate", **FX_RATE},
]


def read_fx_csv(path: Path) -> list[dict]:
    rows = read_typed_csv(Path(path), FX_TYPES)
    for n, row in enumerate(rows, start=2):
        if any(row[k] is None for k in (*FX_KEY, "rate")):
            raise FileFormatError(f"{Path(path).name} line {n}: empty key or rate")
        if row["rate"] <= 0:
            raise FileFormatError(f"{Path(path).name} line {n}: rate must be positive")
    return rows
