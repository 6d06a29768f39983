"""Bank CSV exports → bank transaction rows, through a configurable column map.

Every bank's CSV export differs (header names, `;` vs `,`, `31.03.2025` vs `2025-03-31`, decimal
comma, one signed amount column or an amount plus a C/D column), so the layout is data, not code:
a JSON column map (`LTC_FINANCE_CSV_MAP`, default `DEFAULT_MAP`, the sandbox bank's layout):

    {"columns": {"<our column>": "<header in the file>", ...},   # booking_date, amount, currency required
     "ignore": ["<header we know and skip>"],
     "delimiter": ",", "date_format": "%Y-%m-%d", "decimal_comma": false,
     "signed_amount": false,            # true: one signed amount, credit_debit not mapped
     "credit_values": ["CRDT", "C", "CR"], "debit_values": ["DBIT", "D", "DR"]}

Strict on purpose, and atomic per file: a header missing a mapped column, a header column the map
neither maps nor ignores (the bank changed its export — guessing would misplace money), a value of
the wrong type, a date in another format, an unknown currency, a negative or absurd amount, or an
empty file refuses the WHOLE file with the file name, line and column in the reason (it goes to
quarantine). A bank CSV is one statement: landing only its good rows would leave a balance nobody
can reconcile, and the bank re-sends the corrected file, which lands then (new content hash).

Money is parsed from text straight to `Decimal` (stdlib `csv`, never pandas' float inference).
"""

from __future__ import annotations

import csv
import hashlib
import datetime as dt
import io
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

from connectors.finance.checks import BankFileError, check_rows

TEXT_COLUMNS = ("transaction_id", "statement_id", "account_iban", "account_currency", "entry_reference",
                "end_to_end_id", "debtor_name", "debtor_iban", "remittance_unstructured",
                "remittance_structured_reference", "transaction_details")
REQUIRED = ("booking_date", "amount", "currency")
KNOWN = set(TEXT_COLUMNS) | {"booking_date", "value_date", "amount", "currency", "credit_debit"}

# The sandbox bank's export (connectors/sandbox/bank_formats.py writes exactly this)
DEFAULT_MAP = {
    "columns": {
        "transaction_id": "Bank Reference", "statement_id": "Statement", "account_iban": "Account IBAN",
        "booking_date": "Booking Date", "value_date": "Value Date", "credit_debit": "Credit/Debit",
        "amount": "Amount", "currency": "Currency", "end_to_end_id": "End-to-End ID",
        "debtor_name": "Counterparty Name", "debtor_iban": "Counterparty Account",
        "remittance_unstructured": "Remittance Information",
    },
    "ignore": [],
    "delimiter": ",",
    "date_format": "%Y-%m-%d",
    "decimal_comma": False,
    "signed_amount": False,
    "credit_values": ["CRDT", "C", "CR", "CREDIT"],
    "debit_values": ["DBIT", "D", "DR", "DEBIT"],
}


def load_map(path: str | Path | None) -> dict:
    """The column map from a JSON file (None → `DEFAULT_MAP`), checked before any file is read."""
    if not path:
        return DEFAULT_MAP
    spec = {**DEFAULT_MAP, "columns": {}, **json.loads(Path(path).read_text(encoding="utf-8"))}
    unknown = set(spec["columns"]) - KNOWN
    missing = [c for c in REQUIRED if c not in spec["columns"]]
    if unknown or missing:
        raise ValueError(f"bank CSV map {path}: unknown target columns {sorted(unknown)}, missing {missing}")
    if not spec["signed_amount"] and "credit_debit" not in spec["columns"]:
        raise ValueError(f"bank CSV map {path}: map credit_debit or set signed_amount")
    return spec


def _amount(text: str, spec: dict) -> Decimal:
    cleaned = text.replace(" ", "")
    if spec["decimal_comma"]:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    elif "," in cleaned:
        raise ValueError("has a comma (thousands separators are not accepted; set decimal_comma for 1,23)")
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("is not a number") from None


def _records(reader, file_name: str):
    """The reader's rows; a line the csv module cannot read (a cell over its 128 KiB field limit,
    an unbalanced quote) refuses the file with its line, instead of a bare `csv.Error` that would
    stop the whole run (found by tests/reliability/test_bad_input_corpus.py)."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise BankFileError(f"{file_name} line {reader.line_num}: not readable as CSV ({exc})") from None


def parse_bank_csv(data: bytes, file_name: str = "", file_sha256: str = "", spec: dict | None = None) -> list[dict]:
    spec = spec or DEFAULT_MAP
    cols: dict[str, str] = spec["columns"]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BankFileError(f"{file_name}: not UTF-8 text ({exc})") from exc
    if not text.strip():
        raise BankFileError(f"{file_name}: empty file")
    # strict: an opening quote never closed is an error, not a cell swallowing every line after it
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec["delimiter"], strict=True)
    records = _records(reader, file_name)
    header = [h.strip() for h in next(records)]
    missing = [h for h in cols.values() if h not in header]
    if missing:
        raise BankFileError(f"{file_name} line 1: missing column(s) {missing} (header {header})")
    extra = [h for h in header if h not in cols.values() and h not in spec["ignore"]]
    if extra:
        raise BankFileError(f"{file_name} line 1: unexpected column(s) {extra}; map or ignore them in the column map")
    index = {ours: header.index(theirs) for ours, theirs in cols.items()}
    credit, debit = set(spec["credit_values"]), set(spec["debit_values"])
    rows, where, seen = [], [], {}
    for values in records:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise BankFileError(f"{file_name} line {line}: {len(values)} fields, header has {len(header)}")
        raw = {ours: values[i].strip() for ours, i in index.items()}
        row = {c: (raw.get(c) or None) for c in TEXT_COLUMNS}
        for col in ("booking_date", "value_date"):
            if raw.get(col):
                try:
                    row[col] = dt.datetime.strptime(raw[col], spec["date_format"]).date()
                except ValueError:
                    raise BankFileError(f"{file_name} line {line}: {cols[col]}={raw[col]!r} is not a date "
                                        f"in format {spec['date_format']}") from None
            else:
                row[col] = None
        if row["booking_date"] is None:
            raise BankFileError(f"{file_name} line {line}: {cols['booking_date']} is empty")
        try:
            amount = _amount(raw["amount"], spec)
        except ValueError as exc:
            raise BankFileError(f"{file_name} line {line}: {cols['amount']}={raw['amount']!r} {exc}") from None
        if spec["signed_amount"]:
            row["credit_debit"] = "DBIT" if amount < 0 else "CRDT"
            amount = abs(amount)
        else:
            mark = (raw.get("credit_debit") or "").upper()
            row["credit_debit"] = "CRDT" if mark in credit else "DBIT" if mark in debit else mark or None
        row["amount"] = amount
        row["currency"] = (raw.get("currency") or "").upper() or None
        row["account_currency"] = row.get("account_currency") or row["currency"]
        if "entry_reference" not in cols:  # the bank's reference is the entry reference, as in CAMT
            row["entry_reference"] = row["transaction_id"] if "transaction_id" in cols else None
        row.update(file_name=file_name, file_sha256=file_sha256)
        if not row["transaction_id"]:
            if "transaction_id" in cols:
                raise BankFileError(f"{file_name} line {line}: {cols['transaction_id']} is empty")
            # no bank reference in this export: the row's own content (+ its repeat count) is the id,
            # stable across re-deliveries of the same statement
            digest = hashlib.sha256(spec["delimiter"].join(values).encode()).hexdigest()[:20]
            seen[digest] = seen.get(digest, 0) + 1
            row["transaction_id"] = f"CSV:{row['account_iban'] or ''}:{digest}:{seen[digest]}"
        rows.append(row)
        where.append(f"line {line}")
    check_rows(rows, file_name, where)
    ids = [r["transaction_id"] for r in rows]
    if len(ids) != len(set(ids)):
        raise BankFileError(f"{file_name}: duplicate transaction ids inside one file")
    return rows
