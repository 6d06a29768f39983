"""The bad input corpus (issue 9, item 3): every malformed input we feed the connectors, as data.

Why a module of its own: the corpus is a table (id, system, how it is built, the outcome its
contract names, a fragment the reason must carry), read by `test_bad_input_corpus.py` to build the
inputs and check the outcomes, and by `corpus_table()` to print it as markdown for the issue note:

    cd /work/main && .venv/bin/python tests/reliability/bad_inputs.py

Outcomes (the contract of each input):
- `file refused`: a bank statement is one balanced document, so the WHOLE file is refused: nothing of it
  lands, it moves to the drop's `.quarantine/` and `quarantined_files` holds a reason naming the file
  and the line / entry / element; the good files of the same run land.
- `row quarantined`: an ad-spend row or an ERP row: that row goes to `quarantined_rows` with a reason
  naming the file and line (ad spend) or table and key (ERP); the good rows of the same file or table land.
- `table refused`: an ERP table lacks a mapped column under a mapping that says `on_missing_column:
  skip_table` (the sandbox's): that table does not land, `quarantined_rows` holds one row for it
  (row_key `*`) naming table and column, and the other tables land.
- `run refused`: the same drift under `on_missing_column: error`: the run stops with an error naming
  table and column, and nothing of that run lands.
- `lands`: tolerated by contract (UTF-8 with a BOM, UTF-16 XML that declares itself, a 10 MB remittance,
  an extra ad-spend column): the row lands exactly as delivered.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # bank_samples, also when run as a script

from bank_samples import CAMT, MT  # noqa: E402

from connectors.finance.bank_csv import DEFAULT_MAP  # noqa: E402

FILE_REFUSED, ROW_QUARANTINED, RUN_REFUSED, LANDS = "file refused", "row quarantined", "run refused", "lands"
TABLE_REFUSED = "table refused"
BIG = 10 * 2**20  # a "huge field": 10 MiB in one cell


@dataclass(frozen=True)
class BadInput:
    id: str
    system: str  # bank_csv | camt053 | mt940 | ad_spend | erp
    how: str  # how the input is built, one line for the table
    outcome: str
    fragment: str  # must appear in the reason (with the file name / key)
    build: Callable[[], bytes] | None = None  # file inputs: the file's bytes
    sql: tuple[str, ...] = field(default=())  # ERP inputs: statements run on a copy of the sandbox ERP
    key: str = ""  # ERP inputs: the row key the reason names

    @property
    def file_name(self) -> str:
        ext = {"bank_csv": "csv", "camt053": "xml", "mt940": "sta", "ad_spend": "csv"}.get(self.system)
        return f"{self.id}.{ext}" if ext else ""


def _noise(seed: int, n: int = 4096) -> bytes:
    """Seeded random bytes (binary garbage), never valid UTF-8 for any seed used here."""
    return bytes(random.Random(f"noise-{seed}").randrange(128, 256) for _ in range(n))


# ---- bank CSV (the sandbox bank's layout, connectors.finance.bank_csv.DEFAULT_MAP) ----------------

CSV_HEADER = list(DEFAULT_MAP["columns"].values())
_CSV_ROW = {"Bank Reference": "B1", "Statement": "S3", "Account IBAN": "US001", "Booking Date": "2025-03-03",
            "Value Date": "", "Credit/Debit": "CRDT", "Amount": "30.25", "Currency": "USD", "End-to-End ID": "",
            "Counterparty Name": "Payer", "Counterparty Account": "", "Remittance Information": "INV-3"}


def csv_row(ref: str, **values: str) -> dict:
    return {**_CSV_ROW, "Bank Reference": ref, **values}


def bank_csv(*rows: dict, header: list[str] | None = None, encoding: str = "utf-8", bom: bytes = b"") -> bytes:
    """A bank CSV with a good first row (`<id>-ok`) plus `rows`: the bad row is never the only one."""
    header = header or CSV_HEADER
    lines = [",".join(header)] + [",".join(str(r.get(h, "")) for h in header) for r in rows]
    return bom + ("\n".join(lines) + "\n").encode(encoding)


def _csv(case: str, **bad: str) -> Callable[[], bytes]:
    return lambda: bank_csv(csv_row(f"{case}-ok"), csv_row(f"{case}-bad", **bad))


# ---- CAMT.053 (tests/support/bank_samples.CAMT: one statement S1, one entry) ---------------------

def camt(ref: str, **swap: str) -> str:
    """The sample statement with its entry reference `ref` and literal text replacements."""
    text = CAMT.replace("<AcctSvcrRef>C1<", f"<AcctSvcrRef>{ref}<")
    for old, new in swap.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def _camt(case: str, old: str, new: str) -> Callable[[], bytes]:
    return lambda: camt(case).replace(old, new).encode()


def _two_entries(case: str, second_ref: str) -> bytes:
    """Two entries in one statement; the second with `second_ref` as its AcctSvcrRef."""
    doc = camt(case)
    start, end = doc.index("<Ntry>"), doc.index("</Ntry>") + len("</Ntry>")
    entry = doc[start:end].replace(f">{case}<", f">{second_ref}<")
    return (doc[:end] + entry + doc[end:]).encode()


def _huge_camt() -> bytes:
    rmt = f"<NtryDtls><TxDtls><RmtInf><Ustrd>INV-{'9' * BIG}</Ustrd></RmtInf></TxDtls></NtryDtls>"
    return camt("camt_huge_remittance").replace("</AcctSvcrRef>", "</AcctSvcrRef>" + rmt).encode()


# ---- MT940 (bank_samples.MT: one statement, one :61: of 20,50 GBP, bank reference M1) -----------

def mt(ref: str, old: str = "", new: str = "") -> str:
    text = MT.replace("//M1", f"//{ref}")
    if old:
        assert old in text, old
        text = text.replace(old, new)
    return text


def _mt(case: str, old: str = "", new: str = "", encoding: str = "utf-8") -> Callable[[], bytes]:
    return lambda: mt(case, old, new).encode(encoding)


# ---- ad spend (our generic export shape) ---------------------------------------------------------

AD_HEADER = ["date", "campaign_id", "campaign_name", "channel", "impressions", "clicks", "spend", "currency"]
_AD_ROW = {"date": "2025-01-01", "campaign_id": "C1", "campaign_name": "Camp", "channel": "Paid Search",
           "impressions": "100", "clicks": "10", "spend": "12.50", "currency": "USD"}


def ad_csv(*rows: dict, header: list[str] | None = None, encoding: str = "utf-8") -> bytes:
    header = header or AD_HEADER
    lines = [",".join(header)] + [",".join(str(r.get(h, "")) for h in header) for r in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


def ad_row(campaign: str, **values: str) -> dict:
    return {**_AD_ROW, "campaign_id": campaign, **values}


def _ad(case: str, **bad: str) -> Callable[[], bytes]:
    """A good row (campaign `<id>-ok`, which must land) then the bad one (line 3)."""
    return lambda: ad_csv(ad_row(f"{case}-ok"), ad_row(f"{case}-bad", **bad))


# ---- the corpus ----------------------------------------------------------------------------------

CORPUS: list[BadInput] = [
    # bank CSV: refused whole, reason names the file and the line
    BadInput("csv_empty", "bank_csv", "0 bytes", FILE_REFUSED, "empty file", lambda: b""),
    BadInput("csv_utf16", "bank_csv", "valid rows encoded UTF-16", FILE_REFUSED, "not UTF-8",
             lambda: bank_csv(csv_row("csv_utf16"), encoding="utf-16")),
    BadInput("csv_latin1", "bank_csv", "payer 'Müller' encoded latin-1", FILE_REFUSED, "not UTF-8",
             lambda: bank_csv(csv_row("csv_latin1", **{"Counterparty Name": "Müller"}), encoding="latin-1")),
    BadInput("csv_bom", "bank_csv", "UTF-8 with a byte-order mark", LANDS, "",
             lambda: bank_csv(csv_row("csv_bom"), bom=b"\xef\xbb\xbf")),
    BadInput("csv_binary", "bank_csv", "4 KiB of random bytes", FILE_REFUSED, "not UTF-8", lambda: _noise(1)),
    BadInput("csv_missing_column", "bank_csv", "schema drift: Currency column dropped", FILE_REFUSED,
             "line 1: missing column(s) ['Currency']",
             lambda: bank_csv(csv_row("x"), header=[h for h in CSV_HEADER if h != "Currency"])),
    BadInput("csv_extra_column", "bank_csv", "schema drift: an unmapped Balance column", FILE_REFUSED,
             "line 1: unexpected column(s) ['Balance']",
             lambda: bank_csv(csv_row("x", Balance="9.00"), header=[*CSV_HEADER, "Balance"])),
    BadInput("csv_amount_text", "bank_csv", "schema drift: Amount 'thirty'", FILE_REFUSED,
             "line 3: Amount='thirty' is not a number", _csv("csv_amount_text", Amount="thirty")),
    BadInput("csv_ragged_row", "bank_csv", "a row with one cell missing", FILE_REFUSED,
             "line 3: 11 fields, header has 12",
             lambda: bank_csv(csv_row("csv_ragged_row-ok")) + b"B9,S3,US001,2025-03-03,,CRDT,1.00,USD,,P,\n"),
    BadInput("csv_unbalanced_quote", "bank_csv", "an opening quote never closed, mid-file", FILE_REFUSED,
             "line 4: not readable as CSV (unexpected end of data)",
             lambda: bank_csv(csv_row("csv_unbalanced_quote-ok"), csv_row("q1", **{"Remittance Information": '"INV-3'}),
                              csv_row("q2"))),
    BadInput("csv_feb30", "bank_csv", "Booking Date 2026-02-30", FILE_REFUSED,
             "line 3: Booking Date='2026-02-30' is not a date", _csv("csv_feb30", **{"Booking Date": "2026-02-30"})),
    BadInput("csv_year_0001", "bank_csv", "Booking Date 0001-01-01", FILE_REFUSED,
             "line 3: date 0001-01-01", _csv("csv_year_0001", **{"Booking Date": "0001-01-01"})),
    BadInput("csv_year_9999", "bank_csv", "Value Date 9999-12-31", FILE_REFUSED,
             "line 3: date 2025-03-03 / 9999-12-31", _csv("csv_year_9999", **{"Value Date": "9999-12-31"})),
    BadInput("csv_negative", "bank_csv", "Amount -30.25 on a CRDT row", FILE_REFUSED,
             "line 3: amount -30.25 is negative", _csv("csv_negative", Amount="-30.25")),
    BadInput("csv_unknown_currency", "bank_csv", "Currency XYZ", FILE_REFUSED,
             "line 3: currency 'XYZ' is not an ISO 4217 code", _csv("csv_unknown_currency", Currency="XYZ")),
    BadInput("csv_duplicate_ids", "bank_csv", "two rows with Bank Reference D1", FILE_REFUSED,
             "duplicate transaction ids", lambda: bank_csv(csv_row("D1"), csv_row("D1", Amount="5.00"))),
    BadInput("csv_huge_cell", "bank_csv", "a 10 MiB remittance cell", FILE_REFUSED,
             "line 3: not readable as CSV (field larger than field limit",
             _csv("csv_huge_cell", **{"Remittance Information": "x" * BIG})),
    BadInput("csv_thousands_separator", "bank_csv", 'Amount "1,234.56"', FILE_REFUSED,
             "line 3: Amount='1,234.56' has a comma", _csv("csv_thousands_separator", Amount='"1,234.56"')),
    BadInput("csv_three_decimals", "bank_csv", "Amount 30.255", FILE_REFUSED,
             "line 3: amount 30.255 has more decimals than USD allows", _csv("csv_three_decimals", Amount="30.255")),
    BadInput("csv_bad_direction", "bank_csv", "Credit/Debit 'XX'", FILE_REFUSED,
             "line 3: credit/debit 'XX' is not CRDT or DBIT", _csv("csv_bad_direction", **{"Credit/Debit": "XX"})),
    BadInput("csv_absurd_amount", "bank_csv", "Amount 5000000000.00", FILE_REFUSED,
             "line 3: amount 5000000000.00 is above the plausible maximum",
             _csv("csv_absurd_amount", Amount="5000000000.00")),
    BadInput("csv_empty_booking_date", "bank_csv", "Booking Date empty", FILE_REFUSED,
             "line 3: Booking Date is empty", _csv("csv_empty_booking_date", **{"Booking Date": ""})),

    # CAMT.053: refused whole, reason names the file and the statement / entry / element
    BadInput("camt_truncated", "camt053", "the document cut in half", FILE_REFUSED, "not well-formed XML",
             lambda: camt("camt_truncated").encode()[: len(CAMT) // 2]),
    BadInput("camt_whitespace", "camt053", "only whitespace", FILE_REFUSED, "not well-formed XML", lambda: b"  \n"),
    BadInput("camt_binary", "camt053", "4 KiB of random bytes", FILE_REFUSED, "not well-formed XML", lambda: _noise(2)),
    BadInput("camt_latin1_declared_utf8", "camt053", "payer 'Müller' in latin-1 bytes, declared UTF-8",
             FILE_REFUSED, "not well-formed XML",
             lambda: camt("camt_latin1", **{"</AcctSvcrRef>": "</AcctSvcrRef><AddtlNtryInf>Müller</AddtlNtryInf>"})
             .encode("latin-1")),
    BadInput("camt_utf16", "camt053", "UTF-16 with a BOM (XML declares its own encoding)", LANDS, "",
             lambda: camt("camt_utf16").replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
             .encode("utf-16")),
    BadInput("camt_bom", "camt053", "UTF-8 with a byte-order mark", LANDS, "",
             lambda: b"\xef\xbb\xbf" + camt("camt_bom").encode()),
    BadInput("camt_wrong_document", "camt053", "a camt.052 report (BkToCstmrAcctRpt)", FILE_REFUSED,
             "not a camt.053 document", _camt("camt_wrong_document", "BkToCstmrStmt", "BkToCstmrAcctRpt")),
    BadInput("camt_no_statement", "camt053", "BkToCstmrStmt without Stmt", FILE_REFUSED,
             "camt.053 document without any Stmt",
             lambda: b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
                     b"<GrpHdr/></BkToCstmrStmt></Document>"),
    BadInput("camt_missing_amount", "camt053", "Ntry without Amt", FILE_REFUSED, "statement S1 entry 1: missing Amt",
             _camt("camt_missing_amount", '<Amt Ccy="EUR">10.00</Amt>', "")),
    BadInput("camt_amount_text", "camt053", "schema drift: Amt 'ten'", FILE_REFUSED,
             "statement S1 entry 1: amount 'ten' is not a number", _camt("camt_amount_text", ">10.00<", ">ten<")),
    BadInput("camt_negative", "camt053", "Amt -10.00", FILE_REFUSED,
             "statement S1 entry 1: amount -10.00 must be a positive number", _camt("camt_negative", ">10.00<", ">-10.00<")),
    BadInput("camt_unknown_currency", "camt053", 'Amt Ccy="XYZ"', FILE_REFUSED,
             "statement S1 transaction camt_unknown_currency: currency 'XYZ' is not an ISO 4217 code",
             _camt("camt_unknown_currency", 'Ccy="EUR">10.00', 'Ccy="XYZ">10.00')),
    BadInput("camt_feb30", "camt053", "BookgDt 2026-02-30", FILE_REFUSED,
             "statement S1 entry 1: BookgDt '2026-02-30' is not an ISO 8601 date",
             _camt("camt_feb30", "2025-03-01</Dt></BookgDt>", "2026-02-30</Dt></BookgDt>")),
    BadInput("camt_year_0001", "camt053", "BookgDt 0001-01-01", FILE_REFUSED,
             "statement S1 transaction camt_year_0001: date 0001-01-01",
             _camt("camt_year_0001", "2025-03-01</Dt></BookgDt>", "0001-01-01</Dt></BookgDt>")),
    BadInput("camt_year_9999", "camt053", "ValDt 9999-12-31", FILE_REFUSED,
             "statement S1 transaction camt_year_9999: date 2025-03-01 / 9999-12-31",
             _camt("camt_year_9999", "2025-03-01</Dt></ValDt>", "9999-12-31</Dt></ValDt>")),
    BadInput("camt_duplicate_ids", "camt053", "two entries with AcctSvcrRef camt_duplicate_ids", FILE_REFUSED,
             "duplicate transaction ids", lambda: _two_entries("camt_duplicate_ids", "camt_duplicate_ids")),
    BadInput("camt_three_decimals", "camt053", "Amt 10.005", FILE_REFUSED,
             "statement S1 entry 1: amount 10.005 has more decimals than EUR allows",
             _camt("camt_three_decimals", ">10.00<", ">10.005<")),
    BadInput("camt_bad_direction", "camt053", "CdtDbtInd XXXX", FILE_REFUSED,
             "statement S1 entry 1: CdtDbtInd 'XXXX' is not CRDT or DBIT", _camt("camt_bad_direction", ">CRDT<", ">XXXX<")),
    BadInput("camt_statement_without_id", "camt053", "Stmt without Id", FILE_REFUSED, "Stmt without Id",
             _camt("camt_statement_without_id", "<Id>S1</Id>", "")),
    BadInput("camt_huge_remittance", "camt053", "a 10 MiB Ustrd", LANDS, "", _huge_camt),

    # MT940: refused whole, reason names the file and the entry (or the library's complaint)
    BadInput("mt_empty", "mt940", "a line break only", FILE_REFUSED, "empty file", lambda: b"\r\n"),
    BadInput("mt_binary", "mt940", "4 KiB of random bytes", FILE_REFUSED, "no MT940 tags found", lambda: _noise(3)),
    BadInput("mt_utf16", "mt940", "the statement encoded UTF-16", FILE_REFUSED, "no MT940 tags found",
             _mt("mt_utf16", encoding="utf-16")),
    BadInput("mt_truncated", "mt940", "cut inside the :61: line", FILE_REFUSED,
             "not a readable MT940 statement", lambda: mt("mt_truncated").encode()[:60]),
    BadInput("mt_garbled_amount", "mt940", ":61: amount 2O,5O (letter O for zero)", FILE_REFUSED,
             "entry 1: amount '2' has no decimal comma", _mt("mt_garbled_amount", "C20,50NTRF", "C2O,5ONTRF")),
    BadInput("mt_dot_decimal", "mt940", ":61: amount 20.50 (old Rabobank '.')", FILE_REFUSED,
             "entry 1: amount '20' has no decimal comma",
             _mt("mt_dot_decimal", "C20,50NTRF", "C20.50NTRF")),
    BadInput("mt_feb30", "mt940", ":61: value date 260230", FILE_REFUSED, "day is out of range for month",
             _mt("mt_feb30", ":61:2503020302", ":61:2602300230")),
    BadInput("mt_unknown_currency", "mt940", ":60F:/:62F: currency XYZ", FILE_REFUSED,
             "entry 1 (:61: 2025-03-02): currency 'XYZ' is not an ISO 4217 code", _mt("mt_unknown_currency", "GBP", "XYZ")),
    BadInput("mt_no_amount", "mt940", ":61: without an amount", FILE_REFUSED, "not a readable MT940 statement",
             _mt("mt_no_amount", "C20,50NTRF", "CNTRF")),
    BadInput("mt_latin1_payer", "mt940", "payer 'MÜLLER' in latin-1 bytes", LANDS, "",
             _mt("mt_latin1_payer", "PAYER", "MÜLLER", encoding="latin-1")),

    # ad spend: a bad row is quarantined with file + line, the good row of the same file lands
    BadInput("ad_negative_spend", "ad_spend", "spend -5.00", ROW_QUARANTINED, "line 3: spend='-5.00': negative spend",
             _ad("ad_negative_spend", spend="-5.00")),
    BadInput("ad_unknown_currency", "ad_spend", "currency XYZ", ROW_QUARANTINED,
             "line 3: currency='XYZ': unknown currency", _ad("ad_unknown_currency", currency="XYZ")),
    BadInput("ad_feb30", "ad_spend", "date 2026-02-30", ROW_QUARANTINED,
             "line 3: date='2026-02-30': not a date in the form 2025-01-31", _ad("ad_feb30", date="2026-02-30")),
    BadInput("ad_year_0001", "ad_spend", "date 0001-01-01", ROW_QUARANTINED,
             "line 3: date='0001-01-01': date 0001-01-01 is outside", _ad("ad_year_0001", date="0001-01-01")),
    BadInput("ad_year_9999", "ad_spend", "date 9999-12-31", ROW_QUARANTINED,
             "line 3: date='9999-12-31': date 9999-12-31 is outside", _ad("ad_year_9999", date="9999-12-31")),
    BadInput("ad_changed_type", "ad_spend", "schema drift: impressions 'many'", ROW_QUARANTINED,
             "line 3: impressions='many': not a whole number", _ad("ad_changed_type", impressions="many")),
    BadInput("ad_three_decimals", "ad_spend", "spend 12.505", ROW_QUARANTINED,
             "line 3: spend='12.505': not a number with at most 2 decimals", _ad("ad_three_decimals", spend="12.505")),
    BadInput("ad_absurd_spend", "ad_spend", "spend 9999999999", ROW_QUARANTINED, "line 3: spend='9999999999': absurd spend",
             _ad("ad_absurd_spend", spend="9999999999")),
    BadInput("ad_clicks_over_impressions", "ad_spend", "clicks 500 > impressions 100", ROW_QUARANTINED,
             "line 3: more clicks (500) than impressions (100)", _ad("ad_clicks_over_impressions", clicks="500")),
    BadInput("ad_ragged_row", "ad_spend", "a row with one cell missing", ROW_QUARANTINED,
             "line 3: 7 cells, the header has 8",
             lambda: ad_csv(ad_row("ad_ragged_row-ok")) + b"2025-01-01,ad_ragged_row-bad,Camp,Paid,1,1,1.00\n"),
    BadInput("ad_missing_key", "ad_spend", "campaign_id empty", ROW_QUARANTINED, "line 3: campaign_id is required",
             lambda: ad_csv(ad_row("ad_missing_key-ok"), ad_row(""))),
    BadInput("ad_huge_cell", "ad_spend", "a 10 MiB campaign_name cell", ROW_QUARANTINED,
             "line 3: not readable as CSV (field larger than field limit",
             _ad("ad_huge_cell", campaign_name="x" * BIG)),
    # ad spend: a file that cannot be read as any shape is refused whole
    BadInput("ad_empty", "ad_spend", "0 bytes", FILE_REFUSED, "empty file", lambda: b""),
    BadInput("ad_utf16", "ad_spend", "a good export encoded UTF-16", FILE_REFUSED, "not UTF-8 text",
             lambda: ad_csv(ad_row("ad_utf16"), encoding="utf-16")),
    BadInput("ad_latin1", "ad_spend", "campaign 'Café' encoded latin-1", FILE_REFUSED, "not UTF-8 text",
             lambda: ad_csv(ad_row("ad_latin1", campaign_name="Café"), encoding="latin-1")),
    BadInput("ad_binary", "ad_spend", "4 KiB of random bytes", FILE_REFUSED, "not UTF-8 text", lambda: _noise(4)),
    BadInput("ad_missing_column", "ad_spend", "schema drift: currency column dropped", FILE_REFUSED,
             "line 1: missing columns ['currency']",
             lambda: ad_csv(ad_row("ad_missing_column"), header=AD_HEADER[:-1])),
    BadInput("ad_duplicate_columns", "ad_spend", "two spend columns", FILE_REFUSED, "line 1: duplicate columns ['spend']",
             lambda: ad_csv(ad_row("ad_duplicate_columns"), header=[*AD_HEADER, "spend"])),
    BadInput("ad_no_header", "ad_spend", "rows without any header", FILE_REFUSED, "no known ad-spend header",
             lambda: b"2025-01-01,C1,Camp,Paid Search,100,10,12.50,USD\n"),
    BadInput("ad_extra_column", "ad_spend", "schema drift: an extra 'Ad Group' column", LANDS, "",
             lambda: ad_csv(ad_row("ad_extra_column", **{"Ad Group": "AG-7"}), header=[*AD_HEADER, "Ad Group"])),

    # ERP (sandbox SQLite): the bad row is quarantined with table + key + column, the rest lands
    BadInput("erp_feb30", "erp", "invoices.issue_date '2026-02-30'", ROW_QUARANTINED,
             "issue_date='2026-02-30': date not in YYYY-MM-DD form",
             sql=("update invoices set issue_date = '2026-02-30' where invoice_id = (select min(invoice_id) from invoices)",),
             key="select min(invoice_id) from invoices"),
    BadInput("erp_year_0001", "erp", "invoices.due_date '0001-01-01'", ROW_QUARANTINED,
             "due_date='0001-01-01': date outside 1900-01-01..2099-12-31",
             sql=("update invoices set due_date = '0001-01-01' where invoice_id = (select max(invoice_id) from invoices)",),
             key="select max(invoice_id) from invoices"),
    BadInput("erp_year_9999", "erp", "sales_orders.order_date '9999-12-31'", ROW_QUARANTINED,
             "order_date='9999-12-31': date outside 1900-01-01..2099-12-31",
             sql=("update sales_orders set order_date = '9999-12-31' where order_id = (select min(order_id) from sales_orders)",),
             key="select min(order_id) from sales_orders"),
    BadInput("erp_unknown_currency", "erp", "sales_orders.currency 'XYZ'", ROW_QUARANTINED,
             "currency='XYZ': unknown currency",
             sql=("update sales_orders set currency = 'XYZ' where order_id = (select max(order_id) from sales_orders)",),
             key="select max(order_id) from sales_orders"),
    BadInput("erp_negative_line", "erp", "invoice_lines.net_amount -1", ROW_QUARANTINED,
             "net_amount='-1': negative amount",
             sql=("update invoice_lines set net_amount = -1 where invoice_line_id = "
                  "(select min(invoice_line_id) from invoice_lines)",),
             key="select min(invoice_line_id) from invoice_lines"),
    BadInput("erp_three_decimals", "erp", "sales_order_lines.unit_price '10.005'", ROW_QUARANTINED,
             "unit_price='10.005': more than 2 decimals",
             sql=("update sales_order_lines set unit_price = '10.005' where order_line_id = "
                  "(select min(order_line_id) from sales_order_lines)",),
             key="select min(order_line_id) from sales_order_lines"),
    BadInput("erp_bad_flag", "erp", "invoices.is_deleted 7", ROW_QUARANTINED, "is_deleted='7': flag must be 0 or 1",
             sql=("update invoices set is_deleted = 7 where invoice_id = "
                  "(select invoice_id from invoices order by invoice_id limit 1 offset 1)",),
             key="select invoice_id from invoices order by invoice_id limit 1 offset 1"),
    BadInput("erp_changed_type", "erp", "schema drift: sales_order_lines.quantity 'lots'", ROW_QUARANTINED,
             "quantity='lots'",
             sql=("update sales_order_lines set quantity = 'lots' where order_line_id = "
                  "(select max(order_line_id) from sales_order_lines)",),
             key="select max(order_line_id) from sales_order_lines"),
    BadInput("erp_huge_text", "erp", "customers.name of 10 MiB", LANDS, "",
             sql=(f"update customers set name = printf('%.{BIG}c', 'x') where customer_id = "
                  "(select min(customer_id) from customers)",),
             key="select min(customer_id) from customers"),
    BadInput("erp_missing_column", "erp", "schema drift: invoices.due_date dropped (sandbox mapping: skip_table)",
             TABLE_REFUSED, "source table invoices lacks mapped column(s) due_date → invoices.due_date",
             sql=("alter table invoices drop column due_date",)),
    BadInput("erp_missing_column_strict", "erp", "the same drift under a mapping with on_missing_column: error",
             RUN_REFUSED, "source table invoices lacks mapped column(s) due_date → invoices.due_date",
             sql=("alter table invoices drop column due_date",)),
]


def corpus_table(cases: list[BadInput] | None = None) -> str:
    """The corpus as a markdown table (input, system, how it is built, outcome, reason fragment)."""
    lines = ["| # | input | system | how it is built | outcome | the reason says |", "|---|---|---|---|---|---|"]
    for n, c in enumerate(cases or CORPUS, 1):
        name = c.file_name or c.id
        says = c.fragment.replace("|", "\\|") if c.fragment else "–"
        lines.append(f"| {n} | `{name}` | {c.system} | {c.how.replace('|', '/')} | {c.outcome} | {says} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(corpus_table())
