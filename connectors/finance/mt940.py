"""SWIFT MT940 (and MT942) statement → bank transaction rows, through the `mt-940` library.

Why a library here but our own CAMT parser: MT940 is a family of bank dialects (Dutch free-text
`:86:`, German `?20`…`?63` sub-fields with SEPA keywords `EREF+`/`SVWZ+`, wrapped lines, February 30,
binary characters), and `mt-940` (wolph/mt940, BSD-3) has years of those quirks in it; its own
106-file fixture set ships in `shared/datasets/bank_mt940_wolph` and our parse agrees with all of it.
We pin it exactly (5.1.1) and turn on `applicant_iban` (its documented next-major default), so the
payer account (`?31`) is not glued to the payer name (`?32`/`?33`).

Mapping to the shared row shape (`connectors.finance.source.BANK_COLUMNS`):
- `:61:` value date → `value_date`, entry date → `booking_date`, mark C/RD → CRDT, D/RC → DBIT, the
  amount kept positive as an exact `Decimal`; the currency is the statement's (`:60F:`).
- `:86:` is kept whole in `transaction_details` (the raw text, line breaks removed); when it is the
  structured German/SEPA kind, `EREF+` → `end_to_end_id`, `?32/?33` → `debtor_name`, `?31` →
  `debtor_iban`, `SVWZ+` (purpose) → `remittance_unstructured`; otherwise the free text is the
  remittance. `debtor_*` holds the counterparty for debits too, as in the CAMT parser.
- `transaction_id`: the `:61:` bank reference (`//…`) when every entry of the file has a distinct
  one (not NONREF); else `MT940:<account>:<:20: reference>:<n>` — the same file re-delivered gets
  the same ids, so the merge on `transaction_id` stays idempotent.

A whole file is refused (`BankFileError`) when it is empty, has no MT940 tag, a tag the library
cannot read (the message carries the offending tag text), or any row fails `checks.check_rows`: a statement is one balanced
document, landing part of it would make the bank balance wrong without anyone noticing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import mt940
from mt940.processors import transaction_details_post_processor

from connectors.finance.checks import BankFileError, check_rows

OPTIONS = mt940.Options(applicant_iban=True, unbounded_details=True, strip_bom=True, reversal_sign=False)


def _keep_raw_details(transactions, tag, tag_dict, result):
    """Stash the `:86:` text before the structured-details processor deletes it."""
    raw = tag_dict.get("transaction_details")
    if raw is not None:
        result["raw_details"] = " ".join(line.strip() for line in str(raw).splitlines() if line.strip())
    return transaction_details_post_processor(transactions, tag, tag_dict, result)


def _plain(day) -> dt.date | None:
    return dt.date(day.year, day.month, day.day) if day is not None else None


def _clean(value) -> str | None:
    value = (str(value).strip() if value is not None else "")
    return value or None


def parse_transactions(data: bytes, file_name: str = "") -> mt940.models.Transactions:
    if not data.strip():
        raise BankFileError(f"{file_name}: empty file")
    text = data.decode("utf-8", errors="strict") if _is_utf8(data) else data.decode("cp852")  # mt-940's own fallback: maps every byte
    transactions = mt940.models.Transactions(
        processors={"post_transaction_details": [_keep_raw_details]}, options=OPTIONS)
    try:
        transactions.parse(text)
    except Exception as exc:  # noqa: BLE001 - the library raises several kinds; all mean "unreadable"
        raise BankFileError(f"{file_name}: not a readable MT940 statement: {type(exc).__name__}: {exc}") from exc
    return transactions


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def parse_mt940(data: bytes, file_name: str = "", file_sha256: str = "") -> list[dict]:
    """All transaction rows of one MT940 file (columns = `source.BANK_COLUMNS`, minus the load stamps)."""
    transactions = parse_transactions(data, file_name)
    if not transactions.data and not len(transactions):
        raise BankFileError(f"{file_name}: no MT940 tags found (not an MT940 statement)")
    account = _clean(transactions.data.get("account_identification"))
    refs = [_clean(t.data.get("bank_reference")) for t in transactions]
    use_bank_refs = all(r and r.upper() != "NONREF" for r in refs) and len(set(refs)) == len(refs)
    rows, where = [], []
    for n, t in enumerate(transactions, 1):
        d = t.data
        amount = d.get("amount")
        if amount is None:
            raise BankFileError(f"{file_name} entry {n}: :61: without an amount")
        status = str(d.get("status") or "").upper()
        value = Decimal(amount.amount)
        structured = "purpose" in d and d.get("transaction_code") is not None
        raw = _clean(d.get("raw_details"))
        statement_ref = _clean(d.get("transaction_reference"))
        rows.append({
            "transaction_id": refs[n - 1] if use_bank_refs else f"MT940:{account}:{statement_ref}:{n}",
            "file_name": file_name,
            "file_sha256": file_sha256,
            "statement_id": statement_ref,
            "account_iban": _clean(d.get("account_identification")) or account,
            "account_currency": _clean(d.get("currency")),
            "entry_reference": refs[n - 1],
            "booking_date": _plain(d.get("entry_date")),
            "value_date": _plain(d.get("date")),
            "credit_debit": "CRDT" if status in ("C", "RD") else "DBIT" if status in ("D", "RC") else status,
            "amount": abs(value),
            "currency": _clean(d.get("currency")),
            "end_to_end_id": _clean(d.get("end_to_end_reference")),
            "debtor_name": _clean(d.get("applicant_name")),
            "debtor_iban": _clean(d.get("applicant_iban")),
            "remittance_unstructured": _clean(d.get("purpose")) if structured else raw,
            "remittance_structured_reference": None,
            "transaction_details": raw,
        })
        where.append(f"entry {n} (:61: {d.get('date')})")
    check_rows(rows, file_name, where)
    return rows
