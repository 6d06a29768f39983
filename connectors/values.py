"""Exact, validated values every connector lands: money and FX-rate column types, ISO 4217 codes,
typed CSV reading that converts each value explicitly or rejects the file.

Why apart from `landing`: these are plain Python (no dlt), so the statement readers can run in
worker processes without importing dlt (~1.5 s per process on a 2-core machine).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

MONEY = {"data_type": "decimal", "precision": 18, "scale": 2}
FX_RATE = {"data_type": "decimal", "precision": 18, "scale": 6}


class FileFormatError(ValueError):
    """A delivered file cannot be read as its declared format; the message is the quarantine reason."""


def read_typed_csv(path: Path, types: dict[str, Any]) -> list[dict]:
    """Read a CSV whose header must contain `types`' columns, converting each value explicitly.

    stdlib `csv` + explicit converters rather than pandas: pandas 3 infers money as float64 and text
    as its new string dtype; here a value is either converted exactly (e.g. `Decimal`) or the file is
    rejected with the row and column that failed. Empty cells become None.
    """
    import csv

    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in types if c not in header]
        if missing:
            raise FileFormatError(f"{path.name}: missing columns {missing} (header {header})")
        rows = []
        for line_no, raw in enumerate(reader, start=2):
            row = {}
            for col, convert in types.items():
                value = (raw.get(col) or "").strip()
                try:
                    row[col] = convert(value) if value != "" else None
                except Exception as exc:  # noqa: BLE001 - any converter failure rejects the file
                    raise FileFormatError(f"{path.name} line {line_no}: {col}={value!r}: {exc}") from exc
            rows.append(row)
    return rows


def exact_decimal(places: int):
    """Converter: text → Decimal with at most `places` decimals (more would be silently rounded
    by a DECIMAL(18, places) column, so reject instead)."""
    from decimal import Decimal

    quantum = Decimal(1).scaleb(-places)

    def convert(value: str):
        number = Decimal(value)
        if not number.is_finite() or number != number.quantize(quantum):
            raise ValueError(f"not a number with at most {places} decimals")
        return number.quantize(quantum)

    return convert


def iso_date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


# Active ISO 4217 codes (2024), the one list every connector checks currencies against. Precious
# metals and fund codes (XAU, XDR, ...) are left out on purpose: money in them is a data error
# here, and a made-up or mistyped code ("US$", "EURO", "XYZ") would silently fall out of the FX join.
ISO_4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD
CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ
GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR
LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB
TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL
""".split())


def active_currency(value: str) -> str:
    """`value` as an active ISO 4217 code (trimmed, upper case), or ValueError: for documents
    written now (invoices, ad spend), where a retired or made-up code is a data error."""
    code = value.strip().upper()
    if code not in ISO_4217:
        raise ValueError("unknown currency (not ISO 4217)")
    return code


def currency_code(value: str) -> str:
    """Any well-formed ISO 4217 code, retired ones included (FX history holds e.g. DEM, CYP)."""
    code = value.upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError("not an ISO 4217 currency code")
    return code
