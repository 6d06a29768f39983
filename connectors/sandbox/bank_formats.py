"""Give the sandbox company's bank all three statement formats: CAMT.053, MT940 and bank CSV.

The generator writes one CAMT.053 file per account and month (`finance/statements/camt053_<CCY>_<YYYY-MM>.xml`).
`split_formats` re-issues a subset of them in another format and REMOVES the CAMT original, so each
transaction is delivered exactly once and the cash landed is unchanged (the default: the GBP
account as MT940, the EUR account's even months as bank CSV, everything else stays CAMT.053).

The converted files carry the same transaction ids (the CAMT `AcctSvcrRef` becomes the MT940 bank
reference `//…` and the CSV "Bank Reference"), end-to-end ids, payer names and accounts, dates and
remittance text, so everything downstream (cash application, ground truth) is unchanged. MT940
details use the German/SEPA structured `:86:` (`?20` `EREF+…SVWZ+…`, `?31` payer account, `?32/?33`
payer name), which is what `connectors.finance.mt940` reads back.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

from connectors.finance.bank_csv import DEFAULT_MAP
from connectors.finance.camt053 import parse_camt053

CSV_FIELDS = DEFAULT_MAP["columns"]


def _chunks(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _balances(data: bytes) -> dict[str, tuple[Decimal, str, str]]:
    """OPBD/CLBD → (signed amount, currency, date) from the CAMT file."""
    out = {}
    for bal in ET.fromstring(data).iter():
        if bal.tag.rsplit("}", 1)[-1] != "Bal":
            continue
        local = {el.tag.rsplit("}", 1)[-1]: el for el in bal.iter()}
        amt = local["Amt"]
        sign = -1 if (local["CdtDbtInd"].text or "") == "DBIT" else 1
        out[local["Cd"].text] = (sign * Decimal(amt.text), amt.get("Ccy"), local["Dt"].text if "Dt" in local else "")
    return out


def _mt_amount(value: Decimal) -> str:
    return f"{abs(value):.2f}".replace(".", ",")


def _mt_balance(tag: str, bal: tuple[Decimal, str, str]) -> str:
    amount, ccy, day = bal
    return f":{tag}:{'D' if amount < 0 else 'C'}{day[2:4]}{day[5:7]}{day[8:10]}{ccy}{_mt_amount(amount)}"


def to_mt940(data: bytes, statement_number: int) -> str:
    """One CAMT.053 statement file as an MT940 message."""
    rows = parse_camt053(data)
    bal = _balances(data)
    first = rows[0] if rows else None
    stmt_id = first["statement_id"] if first else "EMPTY"
    lines = [f":20:{stmt_id[:16]}", f":25:{first['account_iban'] if first else ''}",
             f":28C:{statement_number}/1", _mt_balance("60F", bal["OPBD"])]
    for r in rows:
        v, b = r["value_date"], r["booking_date"]
        mark = "C" if r["credit_debit"] == "CRDT" else "D"
        kind = "NTRF" if mark == "C" else "NCHG"
        lines.append(f":61:{v:%y%m%d}{b:%m%d}{mark}{_mt_amount(r['amount'])}{kind}NONREF//{r['transaction_id']}")
        purpose = ""
        if r["end_to_end_id"]:
            purpose += f"EREF+{r['end_to_end_id']}"
        if r["remittance_unstructured"]:
            purpose += f"SVWZ+{r['remittance_unstructured'].replace('?', ' ')}"
        details = ["166?00GUTSCHRIFT" if mark == "C" else "808?00ENTGELT"]
        details += [f"?{20 + i}{chunk}" for i, chunk in enumerate(_chunks(purpose, 27)[:10])]
        if r["debtor_iban"]:
            details.append(f"?31{r['debtor_iban']}")
        if r["debtor_name"]:
            details += [f"?{32 + i}{chunk}" for i, chunk in enumerate(_chunks(r["debtor_name"], 27)[:2])]
        lines.append(":86:" + details[0])
        lines.extend(details[1:])
    lines += [_mt_balance("62F", bal["CLBD"]), "-"]
    return "\r\n".join(lines) + "\r\n"


def to_bank_csv(data: bytes) -> str:
    rows = parse_camt053(data)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS.values())
    for r in rows:
        w.writerow(["" if r[k] is None else (f"{r[k]:.2f}" if k == "amount" else str(r[k])) for k in CSV_FIELDS])
    return buf.getvalue()


def split_formats(finance_dir: Path, mt940_currencies=("GBP",), csv_currencies=("EUR",), csv_months=(2, 4, 6, 8, 10, 12)) -> dict:
    """Re-issue part of `<finance_dir>/statements/*.xml` as MT940 / bank CSV (originals removed).

    Returns {"mt940": n_files, "bank_csv": n_files, "camt053": n_files_left}."""
    folder = Path(finance_dir) / "statements"
    counts = {"mt940": 0, "bank_csv": 0, "camt053": 0}
    numbers: dict[str, int] = {}
    for path in sorted(folder.glob("camt053_*.xml")):
        _, ccy, month = path.stem.split("_")
        numbers[ccy] = numbers.get(ccy, 0) + 1
        data = path.read_bytes()
        if ccy in mt940_currencies:
            path.with_name(f"mt940_{ccy}_{month}.sta").write_text(to_mt940(data, numbers[ccy]), encoding="utf-8")
            path.unlink()
            counts["mt940"] += 1
        elif ccy in csv_currencies and int(month[5:7]) in csv_months:
            path.with_name(f"bank_{ccy}_{month}.csv").write_text(to_bank_csv(data), encoding="utf-8")
            path.unlink()
            counts["bank_csv"] += 1
        else:
            counts["camt053"] += 1
    return counts
