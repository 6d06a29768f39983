"""CAMT.053 (ISO 20022 bank-to-customer statement) parser → bank transaction rows.

Why our own ~150 lines instead of a library: we need exactly the receipt fields the cash
application uses, exact `Decimal` amounts, and to accept every version banks send
(camt.053.001.02 … .08). Element names barely change between versions, so the parser ignores the
XML namespace and looks elements up by local name; the one structural change we handle is v8's
`RltdPties/Dbtr/Pty/Nm` (earlier: `Dbtr/Nm`).

One row per transaction detail (`NtryDtls/TxDtls`): a batched entry (several TxDtls) becomes several
rows with ids `<AcctSvcrRef>-1`, `-2`, … and the detail amounts; a single-detail entry keeps the
entry's id and amount. Anything we cannot read safely (not camt.053, no statement, a bad amount,
more than 2 decimals on a 2-decimal currency) raises `CamtParseError`, which the file-drop source
turns into a quarantine row — a file is never silently dropped.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation
from pathlib import Path

CENT = Decimal("0.01")
# ISO 4217 currencies without minor units; everything else we accept is 2-decimal
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK", "CLP", "VND", "XOF", "XAF"})

COLUMNS = (
    "transaction_id", "file_name", "file_sha256", "statement_id", "account_iban", "account_currency",
    "entry_reference", "booking_date", "value_date", "credit_debit", "amount", "currency",
    "end_to_end_id", "debtor_name", "debtor_iban", "remittance_unstructured",
    "remittance_structured_reference",
)


class CamtParseError(ValueError):
    """The file is not a readable CAMT.053 statement; the message is the quarantine reason."""


# ---- namespace-agnostic element helpers ---------------------------------------------------------

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element | None, name: str) -> list[ET.Element]:
    if el is None:
        return []
    return [c for c in el if _local(c.tag) == name]


def _child(el: ET.Element | None, *path: str) -> ET.Element | None:
    """First element down `path` (local names), or None."""
    for name in path:
        if el is None:
            return None
        el = next((c for c in el if _local(c.tag) == name), None)
    return el


def _text(el: ET.Element | None, *path: str) -> str | None:
    node = _child(el, *path)
    if node is None or node.text is None:
        return None
    value = node.text.strip()
    return value or None


# ---- field readers ----------------------------------------------------------------------------

def _date(el: ET.Element | None) -> dt.date | None:
    """`<Dt>YYYY-MM-DD</Dt>` or `<DtTm>…</DtTm>` (the statement's own calendar date is kept)."""
    if el is None:
        return None
    value = _text(el, "Dt")
    if value:
        return dt.date.fromisoformat(value[:10])
    value = _text(el, "DtTm")
    if value:
        return dt.datetime.fromisoformat(value).date()
    return None


def _amount(el: ET.Element | None, where: str) -> tuple[Decimal, str]:
    if el is None or not (el.text or "").strip():
        raise CamtParseError(f"{where}: missing Amt")
    try:
        value = Decimal(el.text.strip())
    except InvalidOperation as exc:
        raise CamtParseError(f"{where}: amount {el.text.strip()!r} is not a number") from exc
    currency = (el.get("Ccy") or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise CamtParseError(f"{where}: currency {currency!r} is not an ISO 4217 code")
    if value < 0 or not value.is_finite():
        raise CamtParseError(f"{where}: amount {value} must be a positive number (the sign is CdtDbtInd)")
    quantum = Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else CENT
    if value != value.quantize(quantum):
        raise CamtParseError(f"{where}: amount {value} has more decimals than {currency} allows")
    return value.quantize(CENT), currency


def _account_id(acct: ET.Element | None) -> str | None:
    return _text(acct, "Id", "IBAN") or _text(acct, "Id", "Othr", "Id")


def _party_name(party: ET.Element | None) -> str | None:
    # camt.053.001.08 wraps the party in <Pty>; earlier versions put <Nm> directly under it
    return _text(party, "Nm") or _text(party, "Pty", "Nm")


def _detail_fields(tx: ET.Element | None) -> dict:
    rmt = _child(tx, "RmtInf")
    ustrd = [u.text.strip() for u in _children(rmt, "Ustrd") if u.text and u.text.strip()]
    strd_refs = [
        _text(s, "CdtrRefInf", "Ref") for s in _children(rmt, "Strd") if _text(s, "CdtrRefInf", "Ref")
    ]
    parties = _child(tx, "RltdPties")
    return {
        "end_to_end_id": _text(tx, "Refs", "EndToEndId"),
        "debtor_name": _party_name(_child(parties, "Dbtr")),
        "debtor_iban": _account_id(_child(parties, "DbtrAcct")),
        "remittance_unstructured": " ".join(ustrd) or None,
        "remittance_structured_reference": " ".join(strd_refs) or None,
    }


def _detail_amount(tx: ET.Element, where: str) -> tuple[Decimal, str] | None:
    # v2: AmtDtls/TxAmt/Amt; v3+: also TxDtls/Amt directly
    node = _child(tx, "AmtDtls", "TxAmt", "Amt")
    if node is None:
        node = _child(tx, "Amt")
    return _amount(node, where) if node is not None else None


# ---- document walk ----------------------------------------------------------------------------

def _entry_rows(ntry: ET.Element, stmt: dict, index: int) -> list[dict]:
    where = f"statement {stmt['statement_id']} entry {index + 1}"
    amount, currency = _amount(_child(ntry, "Amt"), where)
    credit_debit = _text(ntry, "CdtDbtInd")
    if credit_debit not in ("CRDT", "DBIT"):
        raise CamtParseError(f"{where}: CdtDbtInd {credit_debit!r} is not CRDT or DBIT")
    acct_ref = _text(ntry, "AcctSvcrRef")
    base_id = acct_ref or _text(ntry, "NtryRef") or f"{stmt['statement_id']}/{index + 1}"
    entry = {
        **stmt,
        "entry_reference": acct_ref,
        "booking_date": _date(_child(ntry, "BookgDt")),
        "value_date": _date(_child(ntry, "ValDt")),
        "credit_debit": credit_debit,
    }
    details = [tx for nd in _children(ntry, "NtryDtls") for tx in _children(nd, "TxDtls")]
    if len(details) <= 1:
        return [{**entry, "transaction_id": base_id, "amount": amount, "currency": currency,
                 **_detail_fields(details[0] if details else None)}]
    amounts = [_detail_amount(tx, f"{where} detail {n}") for n, tx in enumerate(details, 1)]
    if any(a is None for a in amounts):
        raise CamtParseError(f"{where}: batched entry with {len(details)} details lacks per-detail amounts")
    return [
        {**entry, "transaction_id": f"{base_id}-{n}", "amount": amt, "currency": ccy, **_detail_fields(tx)}
        for n, (tx, (amt, ccy)) in enumerate(zip(details, amounts), 1)
    ]


def parse_camt053(data: bytes, file_name: str = "", file_sha256: str = "") -> list[dict]:
    """All transaction rows of one CAMT.053 document (columns = `COLUMNS`)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise CamtParseError(f"not well-formed XML: {exc}") from exc
    doc = _child(root, "BkToCstmrStmt") if _local(root.tag) == "Document" else None
    if doc is None:
        raise CamtParseError(f"not a camt.053 document (root {_local(root.tag)!r}, no BkToCstmrStmt)")
    statements = _children(doc, "Stmt")
    if not statements:
        raise CamtParseError("camt.053 document without any Stmt")
    rows: list[dict] = []
    for stmt_el in statements:
        stmt = {
            "file_name": file_name,
            "file_sha256": file_sha256,
            "statement_id": _text(stmt_el, "Id"),
            "account_iban": _account_id(_child(stmt_el, "Acct")),
            "account_currency": _text(stmt_el, "Acct", "Ccy"),
        }
        if not stmt["statement_id"]:
            raise CamtParseError("Stmt without Id")
        for index, ntry in enumerate(_children(stmt_el, "Ntry")):
            rows.extend(_entry_rows(ntry, stmt, index))
    ids = [r["transaction_id"] for r in rows]
    if len(ids) != len(set(ids)):
        raise CamtParseError("duplicate transaction ids (AcctSvcrRef) inside one file")
    return [{c: r.get(c) for c in COLUMNS} for r in rows]


def parse_camt053_file(path: Path, file_sha256: str = "") -> list[dict]:
    return parse_camt053(Path(path).read_bytes(), Path(path).name, file_sha256)

