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
- `transaction_id` (the merge key of `raw_finance.bank_transactions`), chosen per statement (one
  `:20:` … `:62x:` message; a file may hold several, of several accounts):
  - the `:61:` bank references (`//…`), when every entry of the statement has one (not NONREF) that no
    other entry of the file shares: the bank's own id, as in its CAMT.053 (`AcctSvcrRef`) and the sandbox;
  - else `MT940:<account>:<:28C:>:<opening date>:<C|D><opening balance>:<n>`, e.g.
    `MT940:NL81ASNB9999999999:31/1:2020-01-01:C1234.56:3`: the statement's `:25:`, its `:28C:`
    statement/sequence number (leading zeros dropped, `-` if absent), the date and amount of its first
    `:60F:`/`:60M:`/`:60:`, and n the entry's position within the statement. An MT942 (no opening
    balance) has its `:13D:` report time there instead (`…:5/1:2025-03-03T1030:2`), and a statement
    with neither a `#` + hash of its `:61:` lines (`…:#1a2b3c4d5e6f:1`). Two statements of one file
    with the same key (a continuation page repeating `:28C:` `1/1`, as a fixture does) are numbered on.
  The `:20:` reference is not part of it (it lands in `statement_id`): ASN Bank (`0000000000`) and the
  Sparkassen (`STARTUMS`) write the same one in every file, so the earlier `<account>:<:20:>:<n>` gave
  entry 1 of every day's statement one id, and each day's merge overwrote the day before; other banks
  write a new one per download, which would break the idempotency below.
  So: the same statement delivered again (same bytes; another name; alone or bundled with others; other
  line endings, `:86:` text, `:20:`, `:28C:` zero padding) gets the same ids and the merge is
  idempotent; statements differing in account, statement/sequence number, opening date or opening
  balance never share an id. Limits: ids are positions, so a corrected re-delivery with an entry added
  or removed shifts the ids after it (the merge overwrites those rows with the new content; a removed
  last entry leaves its old row); the same entries under another statement key land twice (an
  online-banking export re-cut over other dates, a bank renumbering `:28C:` on re-delivery, an MT942
  interim report next to the day's MT940 when the entries carry no bank reference); two distinct
  statements with the same account, `:28C:`, opening date and balance (a constant `:28C:`, two
  statements in a day, nothing booked between) would share ids across files. Bank references are
  trusted to be unique at the bank, across files, as the CAMT.053 ids are: a transfer between two
  accounts at one bank can carry one reference on both accounts' statements (fixture `sepa_mt9401`);
  in one file that sends both statements to the positional key, in two files the two legs would share
  an id. Rows landed under the old scheme keep their ids (a landed file is not read again).

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
mt-940 logs a tag it refuses at ERROR before raising, so the first attempt runs with the `mt940` loggers
raised above CRITICAL (and put back after it): a file the dialect tags read leaves one INFO of ours
naming the file and the library's complaint, not an ERROR; a file neither reads is refused with that
complaint in its reason.

A whole file is refused (`BankFileError`) when it is empty, has no MT940 tag, a tag neither the library
nor a dialect above can read (the message carries the offending tag text, as the library read it), an
amount written with a `.` decimal separator (old Rabobank format: mt-940 would read `43985.66` as
`43985`), fewer transactions than `:61:` lines, or any row fails `checks.check_rows`: a statement is
one balanced document, landing part of it would make the bank balance wrong without anyone noticing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import threading
from collections import Counter
from decimal import Decimal

import mt940
from mt940.processors import transaction_details_post_processor, transactions_to_transaction

from connectors.finance.checks import BankFileError, check_rows

log = logging.getLogger(__name__)

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
    """Before each `:61:`: open a fresh transaction once the current one has its `:61:`, and count the line.
    Also keeps the amount as written (`amount_text`) for `_check_amount`."""
    tag_dict["amount_text"] = tag_dict.get("amount")
    done = transactions.transactions
    if done and "amount" in done[-1].data:
        done.append(mt940.models.Transaction(transactions))
    transactions.statement_lines = getattr(transactions, "statement_lines", 0) + 1
    return tag_dict


# --- statement boundaries, for `transaction_id` (see the module doc) --------------------------------
# mt-940 keeps one `data` dict for the whole file, so a later statement's missing `:28C:` would read the
# earlier one's: each statement's own key fields are tracked here instead, opened afresh at every `:20:`.

def _statements(transactions) -> list[dict]:
    """The file's statements so far; entries before any `:20:` belong to an implicit first one."""
    if not getattr(transactions, "statements", None):
        transactions.statements = [_new_statement()]
    return transactions.statements


def _new_statement() -> dict:
    return {"number": None, "opened": None, "reported": None}


def _open_statement(transactions, tag, tag_dict):
    """`:20:` opens a statement (one MT940/MT942 message)."""
    transactions.statements = [*getattr(transactions, "statements", []), _new_statement()]
    return tag_dict


def _note_statement_number(transactions, tag, tag_dict, result):
    """`:28C:` statement[/sequence] number, leading zeros dropped (`00012/001` → `12/1`)."""
    number, sequence = (str(tag_dict.get(k) or "").strip() for k in ("statement_number", "sequence_number"))
    plain = lambda part: str(int(part)) if part.isdigit() else part  # noqa: E731
    _statements(transactions)[-1]["number"] = plain(number) + (f"/{plain(sequence)}" if sequence else "")
    return result


def _note_opening_balance(transactions, tag, tag_dict, result):
    """`:60F:`/`:60M:`/`:60:`: the statement's first opening balance, as `<date>:<C|D><amount>`."""
    statement = _statements(transactions)[-1]
    balance = result.get(tag.slug)
    day = getattr(balance, "date", None)
    if statement["opened"] is None and day is not None:
        amount = abs(Decimal(balance.amount.amount))
        cents = amount.quantize(Decimal("0.01"))
        shown = format(cents if cents == amount else amount.normalize(), "f")  # `100,0` = `100,00` → 100.00
        mark = "D" if amount and str(balance.status).upper().startswith("D") else "C"  # D0,00 = C0,00
        statement["opened"] = f"{_plain(day).isoformat()}:{mark}{shown}"
    return result


def _note_report_time(transactions, tag, tag_dict, result):
    """MT942 `:13D:` report date and time: the key's date when the statement has no opening balance."""
    when = result.get("date")
    if when is not None:
        _statements(transactions)[-1]["reported"] = dt.datetime(when.year, when.month, when.day, when.hour,
                                                                when.minute).strftime("%Y-%m-%dT%H%M")
    return result


def _note_statement(transactions, tag, tag_dict, result):
    """Each `:61:` remembers its statement: an index into `transactions.statements`."""
    result["statement_index"] = len(_statements(transactions)) - 1
    return result


_DEFAULTS = mt940.models.Transactions.DEFAULT_PROCESSORS
PROCESSORS = {
    "pre_transaction_reference_number": [_open_statement],
    "post_statement_number": [_note_statement_number],
    "post_final_opening_balance": [_note_opening_balance],
    "post_intermediate_opening_balance": [_note_opening_balance],
    "post_opening_balance": [_note_opening_balance],
    "post_date_time_indication": [_note_report_time],
    "pre_statement": [*_DEFAULTS["pre_statement"], _one_transaction_per_61],
    # each entry keeps its own statement's `:25:` (a file may hold statements of several accounts)
    "post_statement": [*_DEFAULTS["post_statement"], transactions_to_transaction("account_identification"),
                       _note_statement],
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
    transactions.statements = []
    transactions.parse(text)
    return transactions


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: list[tuple[logging.Logger, int]] = []


@contextlib.contextmanager
def _library_logging_quiet():
    """mt-940 logs a tag its pattern refuses at ERROR (and the partial matches at INFO) before it raises;
    on the strict attempt that is no error when the dialect reading then succeeds. Raise the `mt940`
    loggers' level for the attempt and put it back afterwards (nested/concurrent attempts share one
    raise: the last one out restores)."""
    global _quiet_depth
    with _quiet_lock:
        if _quiet_depth == 0:
            loggers = [logging.getLogger("mt940")] + [
                logger for name, logger in list(logging.Logger.manager.loggerDict.items())
                if name.startswith("mt940.") and isinstance(logger, logging.Logger) and logger.level]
            _quiet_saved[:] = [(logger, logger.level) for logger in loggers]
            for logger, _ in _quiet_saved:
                logger.setLevel(logging.CRITICAL + 1)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                for logger, level in _quiet_saved:
                    logger.setLevel(level)
                _quiet_saved.clear()


def parse_transactions(data: bytes, file_name: str = "") -> mt940.models.Transactions:
    """The library's parse of one file: with its own tags, else with `DIALECT_TAGS` (see the module doc).
    `.dialect` says which: "standard" or "dialect"."""
    if not data.strip():
        raise BankFileError(f"{file_name}: empty file")
    text = data.decode("utf-8", errors="strict") if _is_utf8(data) else data.decode("cp852")  # mt-940's own fallback: maps every byte
    try:
        with _library_logging_quiet():  # its complaints are reported below only if the dialect fails too
            transactions = _read(text, {})
        transactions.dialect = "standard"
    except Exception as exc:  # noqa: BLE001 - the library raises several kinds; all mean "unreadable"
        try:
            transactions = _read(text, DIALECT_TAGS)
            transactions.dialect = "dialect"
        except Exception:  # noqa: BLE001 - report the standard reading's complaint, not the dialect's
            raise BankFileError(f"{file_name}: not a readable MT940 statement: {type(exc).__name__}: {exc}") from exc
        log.info("%s: read with the MT940 dialect tags (%s); mt-940's standard tags refused it: %s", file_name,
                 ", ".join(f":{type(t).id}: {type(t).__name__}" for t in DIALECT_TAGS.values()), exc)
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
    rows, where = [], []
    for n, t in enumerate(transactions, 1):
        _check_amount(t.data, f"{file_name} entry {n}")
        rows.append(_row(t.data, account, file_name, file_sha256))
        where.append(f"entry {n} (:61: {t.data.get('date')})")
    for row, transaction_id in zip(rows, transaction_ids(transactions, rows), strict=True):
        row["transaction_id"] = transaction_id
    check_rows(rows, file_name, where)
    if len({r["transaction_id"] for r in rows}) != len(rows):  # never, by construction: a merge would drop rows
        raise BankFileError(f"{file_name}: duplicate transaction ids inside one file")
    return rows


def transaction_ids(transactions: mt940.models.Transactions, rows: list[dict]) -> list[str]:
    """One id per entry (see the module doc): its statement's bank references when they identify every
    entry of it, else `MT940:<account>:<:28C:>:<opening balance>:<position in the statement>`."""
    refs = [r["entry_reference"] for r in rows]
    uses = Counter(refs)
    by_statement: dict[int, list[int]] = {}
    for i, t in enumerate(transactions):
        by_statement.setdefault(t.data.get("statement_index", 0), []).append(i)
    statements = getattr(transactions, "statements", None) or []
    ids: list[str] = [""] * len(rows)
    seen: Counter = Counter()  # entries already numbered under a statement key (pages repeating a key)
    for index, entries in sorted(by_statement.items()):
        if all(refs[i] and refs[i].upper() != "NONREF" and uses[refs[i]] == 1 for i in entries):
            for i in entries:
                ids[i] = refs[i]
            continue
        info = statements[index] if index < len(statements) else {}
        number = info.get("number")
        opened = info.get("opened") or info.get("reported") or _fingerprint(rows, entries, transactions)
        key = f"MT940:{rows[entries[0]]['account_iban']}:{'-' if number is None else number}:{opened}"
        for position, i in enumerate(entries, seen[key] + 1):
            ids[i] = f"{key}:{position}"
        seen[key] += len(entries)
    return ids


def _fingerprint(rows: list[dict], entries: list[int], transactions: mt940.models.Transactions) -> str:
    """`#` + 12 hex digits of the statement's `:61:` lines (dates, mark, amount, references): the opening
    balance's stand-in for a statement with neither `:60x:` nor an MT942 `:13D:` time."""
    fields = ("value_date", "booking_date", "credit_debit", "amount", "currency", "entry_reference")
    text = "\n".join("|".join(str(rows[i][f]) for f in fields) + f"|{transactions[i].data.get('customer_reference')}"
                     for i in entries)
    return "#" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _check_amount(d: dict, at: str) -> None:
    if d.get("amount") is None:
        raise BankFileError(f"{at}: :61: without an amount")
    rest = str(d.get("customer_reference") or "")
    if d.get("id") is None and rest.startswith("."):  # the amount stopped at a '.': `43985.66` read as 43985
        raise BankFileError(f"{at}: amount {d['amount'].amount} is followed by {rest[:4]!r}, a '.' decimal "
                            "separator (MT940 uses ','); refused rather than misread")
    # the amount stopped early at a stray character (`2O,5O` read as 2): no decimal comma and no
    # transaction type code after it. A bank that omits the comma still writes the code (Knab: `C500NTRF`).
    text = str(d.get("amount_text") or "")
    if d.get("id") is None and "," not in text:
        raise BankFileError(f"{at}: amount {text!r} has no decimal comma and no transaction type code follows "
                            "it: garbled or cut short; refused rather than misread")


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
