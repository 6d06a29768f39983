"""SWIFT MT940 (and MT942) statement → bank transaction rows, through the `mt-940` library.

Why a library here but our own CAMT parser: MT940 is a family of bank dialects (Dutch free-text
`:86:`, German `?20`…`?63` sub-fields with SEPA keywords `EREF+`/`SVWZ+`, wrapped lines, February 30,
binary characters), and `mt-940` (wolph/mt940, BSD-3) has years of those quirks in it; its own
106-file fixture set ships in `shared/datasets/bank_mt940_wolph` and our parse agrees with all of it.
We pin it exactly (5.1.1) and turn on `applicant_iban` (its documented next-major default), so the
payer account (`?31`) is not glued to the payer name (`?32`/`?33`).

Mapping to the shared row shape (`connectors.finance.source.BANK_COLUMNS`):
- `:61:` value date → `value_date`, entry date → `booking_date`, mark C/RD → CRDT, D/RC → DBIT, the
  amount kept positive as an exact `Decimal`; the currency is the statement's (`:60F:`), and so is
  `account_iban` (its `:25:`: one file may carry statements of several accounts).
- `:86:` is kept whole in `transaction_details` (the raw text, line breaks removed); when it is the
  structured German/SEPA kind, `EREF+` → `end_to_end_id`, `?32/?33` → `debtor_name`, `?31` →
  `debtor_iban`, `SVWZ+` (purpose) → `remittance_unstructured`; otherwise the free text is the
  remittance. `debtor_*` holds the counterparty for debits too, as in the CAMT parser.
- `transaction_id`: the `:61:` bank reference (`//…`) when every entry of the file has a distinct
  one (not NONREF); else `MT940:<account>:<:20: reference>:<n>` — the same file re-delivered gets
  the same ids, so the merge on `transaction_id` stays idempotent.

Bank dialects the library's standard tags refuse (`DIALECT_TAGS`). A file is parsed with mt-940's own
tags first; only when that raises is it parsed again with these relaxed ones, so a file the library reads
as-is is read exactly as before (every wolph golden file that lands takes the first path):
- ASN Bank puts the counterparty IBAN (18–34 characters) in the `:61:` customer reference, where SWIFT
  allows 16, and the counterparty name on the line below (`StatementIBAN`; mt-940 ships `StatementASNB`
  for this, but its reference pattern also swallows a `//` bank reference, which is our transaction id).
- Zenith Bank leaves the statement number blank (`:28C: /1`) (`StatementNumberOPTIONAL`; not landed).
Whatever the tags, every `:61:` opens its own transaction: mt-940 only starts a new one when the previous
`:61:` carried a transaction-type code (`NTRF`, …), and would otherwise overwrite it — a silent loss of
entries (Zenith Bank and the old Rabobank format omit the code).

A whole file is refused (`BankFileError`) when it is empty, has no MT940 tag, a tag neither the library
nor a dialect above can read (the message carries the offending tag text, as the library read it), an
amount written with a `.` decimal separator (old Rabobank format: mt-940 would read `43985.66` as
`43985`), fewer transactions than `:61:` lines, or any row fails `checks.check_rows`: a statement is
one balanced document, landing part of it would make the bank balance wrong without anyone noticing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import mt940
from mt940.processors import transaction_details_post_processor, transactions_to_transaction

from connectors.finance.checks import BankFileError, check_rows

OPTIONS = mt940.Options(applicant_iban=True, unbounded_details=True, strip_bom=True, reversal_sign=False)

# mt-940 keys pre/post processors by a slug made of a tag class's Capitalised words, so a dialect tag's
# name must add none: `StatementIBAN` → "statement", `StatementNumberOPTIONAL` → "statement_number".
_REFERENCE_16 = r"(?P<customer_reference>((?!//)[^\n]){0,16})"


class StatementIBAN(mt940.tags.Statement):
    """`:61:` whose customer reference holds an IBAN (≤ 34 characters): mt-940's pattern, 16 → 34."""

    pattern = mt940.tags.Statement.pattern.replace(_REFERENCE_16, _REFERENCE_16.replace("16", "34"))


class StatementNumberOPTIONAL(mt940.tags.StatementNumber):
    """`:28C:` with the statement number left blank (`/1`); otherwise mt-940's pattern."""

    pattern = mt940.tags.StatementNumber.pattern.replace(r"(?P<statement_number>\d{1,5})",
                                                         r"(?P<statement_number>\d{1,5}|(?=/))")


DIALECT_TAGS = {61: StatementIBAN(), 28: StatementNumberOPTIONAL()}


def _keep_raw_details(transactions, tag, tag_dict, result):
    """Stash the `:86:` text before the structured-details processor deletes it."""
    raw = tag_dict.get("transaction_details")
    if raw is not None:
        result["raw_details"] = " ".join(line.strip() for line in str(raw).splitlines() if line.strip())
    return transaction_details_post_processor(transactions, tag, tag_dict, result)


def _one_transaction_per_61(transactions, tag, tag_dict):
    """Before each `:61:`: open a fresh transaction once the current one has its `:61:`, and count the line."""
    done = transactions.transactions
    if done and "amount" in done[-1].data:
        done.append(mt940.models.Transaction(transactions))
    transactions.statement_lines = getattr(transactions, "statement_lines", 0) + 1
    return tag_dict


_DEFAULTS = mt940.models.Transactions.DEFAULT_PROCESSORS
PROCESSORS = {
    "pre_statement": [*_DEFAULTS["pre_statement"], _one_transaction_per_61],
    # each entry keeps its own statement's `:25:` (a file may hold statements of several accounts)
    "post_statement": [*_DEFAULTS["post_statement"], transactions_to_transaction("account_identification")],
    "post_transaction_details": [_keep_raw_details],
}


def _plain(day) -> dt.date | None:
    return dt.date(day.year, day.month, day.day) if day is not None else None


def _clean(value) -> str | None:
    value = (str(value).strip() if value is not None else "")
    return value or None


def _read(text: str, tags: dict) -> mt940.models.Transactions:
    transactions = mt940.models.Transactions(processors=PROCESSORS, tags=tags, options=OPTIONS)
    transactions.statement_lines = 0
    transactions.parse(text)
    return transactions


def parse_transactions(data: bytes, file_name: str = "") -> mt940.models.Transactions:
    """The library's parse of one file: with its own tags, else with `DIALECT_TAGS` (see the module doc).
    `.dialect` says which: "standard" or "dialect"."""
    if not data.strip():
        raise BankFileError(f"{file_name}: empty file")
    text = data.decode("utf-8", errors="strict") if _is_utf8(data) else data.decode("cp852")  # mt-940's own fallback: maps every byte
    try:
        transactions = _read(text, {})
        transactions.dialect = "standard"
    except Exception as exc:  # noqa: BLE001 - the library raises several kinds; all mean "unreadable"
        try:
            transactions = _read(text, DIALECT_TAGS)
            transactions.dialect = "dialect"
        except Exception:  # noqa: BLE001 - report the standard reading's complaint, not the dialect's
            raise BankFileError(f"{file_name}: not a readable MT940 statement: {type(exc).__name__}: {exc}") from exc
    if len(transactions) != transactions.statement_lines:
        raise BankFileError(f"{file_name}: {transactions.statement_lines} :61: lines but "
                            f"{len(transactions)} transactions read")
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
    account = _clean(transactions.data.get("account_identification"))  # the last statement's
    refs = [_clean(t.data.get("bank_reference")) for t in transactions]
    use_bank_refs = all(r and r.upper() != "NONREF" for r in refs) and len(set(refs)) == len(refs)
    rows, where = [], []
    for n, t in enumerate(transactions, 1):
        _check_amount(t.data, f"{file_name} entry {n}")
        row = _row(t.data, account, file_name, file_sha256)
        row["transaction_id"] = refs[n - 1] if use_bank_refs else f"MT940:{row['account_iban']}:{row['statement_id']}:{n}"
        rows.append(row)
        where.append(f"entry {n} (:61: {t.data.get('date')})")
    check_rows(rows, file_name, where)
    return rows


def _check_amount(d: dict, at: str) -> None:
    if d.get("amount") is None:
        raise BankFileError(f"{at}: :61: without an amount")
    rest = str(d.get("customer_reference") or "")
    if d.get("id") is None and rest.startswith("."):  # the amount stopped at a '.': `43985.66` read as 43985
        raise BankFileError(f"{at}: amount {d['amount'].amount} is followed by {rest[:4]!r}, a '.' decimal "
                            "separator (MT940 uses ','); refused rather than misread")


def _row(d: dict, account: str | None, file_name: str, file_sha256: str) -> dict:
    """One landed row from one parsed `:61:` (+ `:86:`); `transaction_id` is set by the caller."""
    status = str(d.get("status") or "").upper()
    structured = "purpose" in d and d.get("transaction_code") is not None
    # a second :86: for the same entry is appended by mt-940 after a line break: land one line
    raw = _clean(" ".join(str(d.get("raw_details") or "").split("\n")))
    return {
        "transaction_id": None,
        "file_name": file_name,
        "file_sha256": file_sha256,
        "statement_id": _clean(d.get("transaction_reference")),
        "account_iban": _clean(d.get("account_identification")) or account,
        "account_currency": _clean(d.get("currency")),
        "entry_reference": _clean(d.get("bank_reference")),
        "booking_date": _plain(d.get("entry_date")),
        "value_date": _plain(d.get("date")),
        "credit_debit": "CRDT" if status in ("C", "RD") else "DBIT" if status in ("D", "RC") else status,
        "amount": abs(Decimal(d["amount"].amount)),
        "currency": _clean(d.get("currency")),
        "end_to_end_id": _clean(d.get("end_to_end_reference")),
        "debtor_name": _clean(d.get("applicant_name")),
        "debtor_iban": _clean(d.get("applicant_iban")),
        "remittance_unstructured": _clean(d.get("purpose")) if structured else raw,
        "remittance_structured_reference": None,
        "transaction_details": raw,
    }
