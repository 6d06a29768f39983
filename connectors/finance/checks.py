"""Checks every bank-statement row passes, whatever the format it came in (CAMT.053, MT940, CSV).

One place so the three parsers refuse the same things with the same words: an unknown currency
(ISO 4217, from Babel's CLDR list, which every install of this project has through dbt/agate), a
negative amount (the direction lives in `credit_debit`, amounts are positive), an absurd amount
(above `max_amount`, default 1e9 — a misplaced decimal separator or a balance line read as an
entry), more decimals than the currency has, and a missing booking date.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal

CENT = Decimal("0.01")
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK", "CLP", "VND", "XOF", "XAF", "UGX", "PYG", "RWF"})
DEFAULT_MAX_AMOUNT = Decimal("1000000000")
# A booking or value date outside these is a misread (year 0001, 9999 as "no date"), not a bank day;
# MT940's two-digit years cannot leave them anyway
EARLIEST_DATE, LATEST_DATE = dt.date(1900, 1, 1), dt.date(2099, 12, 31)


class BankFileError(ValueError):
    """A bank file cannot be landed; the message names the file and the row/line, and is the quarantine reason."""


@functools.lru_cache(maxsize=1)
def iso4217() -> frozenset[str]:
    """Every ISO 4217 code, historic ones included: unlike `connectors.values.ISO_4217` (active
    codes, for invoices and spend), bank statements are archives, and real ones carry e.g. DEM."""
    try:
        from babel.numbers import list_currencies

        return frozenset(list_currencies())
    except Exception:  # noqa: BLE001 - Babel missing: accept the codes our company banks in
        return frozenset({"USD", "EUR", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "CZK"})


def check_rows(rows: list[dict], file_name: str, where, max_amount: Decimal = DEFAULT_MAX_AMOUNT) -> None:
    """Raise `BankFileError` for the first bad row; `where[i]` (a list, or a callable of i) says
    where row i is in the file. A callable is only called for the bad row: building 100k location
    strings up front cost more than the checks (benchmarks/camt.py)."""
    known = iso4217()
    for i, row in enumerate(rows):
        amount, currency = row.get("amount"), row.get("currency")
        problem = None
        if currency not in known:
            problem = f"currency {currency!r} is not an ISO 4217 code"
        elif not isinstance(amount, Decimal) or not amount.is_finite():
            problem = f"amount {amount!r} is not a number"
        elif amount < 0:
            problem = f"amount {amount} is negative (the direction belongs in credit/debit)"
        elif amount > max_amount:
            problem = f"amount {amount} is above the plausible maximum {max_amount}"
        elif amount != amount.quantize(Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else CENT):
            problem = f"amount {amount} has more decimals than {currency} allows"
        elif row.get("booking_date") is None and row.get("value_date") is None:
            problem = "no booking or value date"
        elif row.get("credit_debit") not in ("CRDT", "DBIT"):
            problem = f"credit/debit {row.get('credit_debit')!r} is not CRDT or DBIT"
        elif any(d is not None and not EARLIEST_DATE <= d <= LATEST_DATE
                 for d in (row.get("booking_date"), row.get("value_date"))):
            problem = (f"date {row.get('booking_date')} / {row.get('value_date')} (booking / value) is outside "
                       f"{EARLIEST_DATE}..{LATEST_DATE}")
        if problem:
            at = where(i) if callable(where) else where[i]
            raise BankFileError(f"{file_name} {at}: {problem}")
