"""FX rates: a CSV (`rate_date,currency,reporting_currency,rate`) read with explicit types, or an
ECB reference-rate XML (eurofxref-daily / eurofxref-hist format, `read_ecb_xml`).

`rate` is `Decimal` with up to 6 decimals (the contract's DECIMAL(18,6)): one rate = units of
`reporting_currency` per 1 `currency`, one row per business day. Never through pandas' inference.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from connectors.values import FX_RATE, FileFormatError, currency_code, exact_decimal, iso_date, read_typed_csv

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


# ---- ECB reference rates (eurofxref-daily.xml / eurofxref-hist.xml) -----------------------------

ECB_PLACES = Decimal("0.000001")


def read_ecb_xml(path: Path, reporting_currency: str) -> list[dict]:
    """ECB-style `<Cube time=…><Cube currency=… rate=…/>` rates → `fx_rates` rows into `reporting_currency`.

    The ECB quotes units of each currency per 1 EUR. Our table says "1 `currency` = rate
    `reporting_currency`", so each rate is crossed through EUR: X→R = rate(R) / rate(X) (EUR→R =
    rate(R); R→R is left out), rounded half-even to the DECIMAL(18,6) column's 6 places. Days
    without a quote for `reporting_currency` give no rows. A malformed file fails the run, like a
    malformed CSV (reports must not be built on a partial rate table).
    """
    import xml.etree.ElementTree as ET

    name = Path(path).name
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise FileFormatError(f"{name}: not well-formed XML: {exc}") from exc
    reporting = currency_code(reporting_currency)
    rows = []
    days = [c for c in root.iter() if c.tag.rsplit("}", 1)[-1] == "Cube" and c.get("time")]
    if not days:
        raise FileFormatError(f"{name}: no <Cube time=…> day in an ECB rates file")
    for day in days:
        try:
            date = iso_date(day.get("time"))
            quotes = {currency_code(c.get("currency") or ""): exact_decimal(10)(c.get("rate") or "")
                      for c in day if c.get("currency")}
        except Exception as exc:  # noqa: BLE001
            raise FileFormatError(f"{name} day {day.get('time')!r}: {exc}") from exc
        if any(q <= 0 for q in quotes.values()):
            raise FileFormatError(f"{name} day {date}: rate must be positive")
        quotes["EUR"] = Decimal(1)
        if reporting not in quotes:
            continue
        for ccy, per_eur in sorted(quotes.items()):
            if ccy != reporting:
                rate = (quotes[reporting] / per_eur).quantize(ECB_PLACES, rounding=ROUND_HALF_EVEN)
                rows.append({"rate_date": date, "currency": ccy, "reporting_currency": reporting, "rate": rate})
    return rows
