"""CAMT.053 fast path: libxml2 + libxslt flatten the document, Arrow types and checks it.

Why a second reader next to `camt053.py`: the exact reader walks the tree in Python, one element
and one dict at a time, and at 100k entries that was most of a run (15 s of a 23 s landing on the
2-core benchmark machine; benchmarks/camt.py). Here no Python runs per entry (seconds per 100k
entries, same machine):

1. lxml parses the bytes (libxml2: ~1.0 s for 66 MB, where the stdlib's expat tree took 6.4 s);
2. one XSLT (compiled once per namespace, i.e. per camt.053 version) writes one delimited line per
   transaction detail — batched entries split, entry fields repeated on each detail (~2 s);
3. `pyarrow.csv` reads those lines as strings and `pyarrow.compute` trims, types (DECIMAL(18,2),
   date32) and checks them (~0.5 s).

The exact reader stays the reference. This one gives up — returns None, and the caller runs the
exact reader — on anything it does not handle identically: a value with a line break or our private
separator characters, a date that is not plain `YYYY-MM-DD`, an amount that is not plain
`digits[.d[d]]`, a zero-decimal currency, an unknown currency, a missing date, amount or CdtDbtInd, an
amount above the plausible maximum, duplicate ids, a document that is not camt.053. So every error
message is still the exact reader's, and `tests/unit/connectors/test_camt053_arrow.py` checks both
readers give the same rows on every fixture.
"""

from __future__ import annotations

import functools
import io
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from lxml import etree

from connectors.finance.camt053 import ZERO_DECIMAL_CURRENCIES as CAMT_ZERO_DECIMAL
from connectors.finance.checks import (DEFAULT_MAX_AMOUNT, EARLIEST_DATE, LATEST_DATE, ZERO_DECIMAL_CURRENCIES,
                                       iso4217)
from connectors.finance.schema import BANK_SCHEMA

# Private-use characters as separators: no bank writes them, and a document that contains one is
# left to the exact reader (checked on the input bytes). They become ASCII control characters,
# which XML 1.0 text can never contain, before pyarrow reads the lines.
FIELD, RECORD, MULTI = "\ue000", "\ue001", "\ue002"
_FIELD_B, _RECORD_B, _MULTI_B = (c.encode() for c in (FIELD, RECORD, MULTI))

# The fields the XSLT writes per transaction detail, in order. `*_alt` is the element the exact
# reader falls back to when the first is blank (`_text(a) or _text(b)`); Arrow picks, not XSLT: a
# `normalize-space()` test per field doubled the transform time.
STATEMENT = ("statement_id", "account_iban", "account_iban_alt", "account_currency")
ENTRY = ("acct_svcr_ref", "ntry_ref", "entry_index", "booking_date", "booking_date_alt", "value_date",
         "value_date_alt", "credit_debit")
DETAIL = ("detail_index", "amount", "currency", "end_to_end_id", "debtor_name", "debtor_name_alt",
          "debtor_iban", "debtor_iban_alt", "remittance_unstructured", "remittance_structured_reference")
FIELDS = STATEMENT + ENTRY + DETAIL
_AMOUNT = r"^[0-9]{1,16}(\.[0-9]{1,2})?$"
_DATE_LEN = 10
# remove_blank_text: whitespace-only text between elements (every pretty-printed file is full of
# it) is not data, and walking past it made the transform 1.6x slower (0.93 s → 0.58 s per 30k entries)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_comments=True,
                          remove_blank_text=True)


def _values(*paths: str) -> str:
    return FIELD.join(f'<xsl:value-of select="{path}"/>' for path in paths)


def _joined(nodes: str, value: str) -> str:
    """Every node's value, separated by MULTI (the exact reader joins the non-blank ones with a space)."""
    return (f'<xsl:for-each select="{nodes}"><xsl:if test="position() &gt; 1">{MULTI}</xsl:if>'
            f'<xsl:value-of select="{value}"/></xsl:for-each>')


def _statement(p: str) -> str:
    return _values(f"{p}Id", f"{p}Acct/{p}Id/{p}IBAN", f"{p}Acct/{p}Id/{p}Othr/{p}Id", f"{p}Acct/{p}Ccy")


def _entry(p: str) -> str:
    """`$i` is the entry's position in its statement (the exact reader's fallback id `<statement>/<i>`)."""
    return _values(f"{p}AcctSvcrRef", f"{p}NtryRef", "$i", f"{p}BookgDt/{p}Dt", f"{p}BookgDt/{p}DtTm",
                   f"{p}ValDt/{p}Dt", f"{p}ValDt/{p}DtTm", f"{p}CdtDbtInd")


def _detail(p: str, tx: str, index: str, amount: str) -> str:
    """The detail fields of `tx` (a path prefix from the context node, '' for the context itself)."""
    party = f"{tx}{p}RltdPties/{p}"
    return FIELD.join([
        _values(index, amount, f"{amount}/@Ccy", f"{tx}{p}Refs/{p}EndToEndId", f"{party}Dbtr/{p}Nm",
                f"{party}Dbtr/{p}Pty/{p}Nm", f"{party}DbtrAcct/{p}Id/{p}IBAN", f"{party}DbtrAcct/{p}Id/{p}Othr/{p}Id"),
        _joined(f"{tx}{p}RmtInf/{p}Ustrd", "."),
        _joined(f"{tx}{p}RmtInf/{p}Strd", f"{p}CdtrRefInf/{p}Ref"),
    ])


@functools.lru_cache(maxsize=16)
def _stylesheet(ns: str) -> etree.XSLT:
    """One compiled XSLT per document namespace (XPath 1.0 cannot match 'any namespace' cheaply).

    Statement fields are written once per statement into `$s`, entry fields once per entry into
    `$e`, and repeated from there on every row. A batched entry is one with more than one TxDtls;
    its details carry their own amount (`AmtDtls/TxAmt/Amt`, else `Amt`, as the exact reader)."""
    p = "c:" if ns else ""
    declare = f' xmlns:c="{ns}"' if ns else ""
    single = _detail(p, f"{p}NtryDtls/{p}TxDtls/", "0", f"{p}Amt")
    batched = (f'<xsl:choose><xsl:when test="{p}AmtDtls/{p}TxAmt/{p}Amt">'
               f'{_detail(p, "", "position()", f"{p}AmtDtls/{p}TxAmt/{p}Amt")}</xsl:when>'
               f'<xsl:otherwise>{_detail(p, "", "position()", f"{p}Amt")}</xsl:otherwise></xsl:choose>')
    xslt = f"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"{declare}>
<xsl:output method="text" encoding="UTF-8"/>
<xsl:template match="/">
<xsl:for-each select="{p}Document/{p}BkToCstmrStmt/{p}Stmt">
<xsl:variable name="s">{_statement(p)}{FIELD}</xsl:variable>
<xsl:for-each select="{p}Ntry">
<xsl:variable name="i" select="position()"/>
<xsl:variable name="e">{_entry(p)}{FIELD}</xsl:variable>
<xsl:choose>
<xsl:when test="{p}NtryDtls/{p}TxDtls[2] or ({p}NtryDtls[2] and count({p}NtryDtls/{p}TxDtls) &gt; 1)">
<xsl:for-each select="{p}NtryDtls/{p}TxDtls"><xsl:value-of select="$s"/><xsl:value-of select="$e"/>{batched}{RECORD}</xsl:for-each>
</xsl:when>
<xsl:otherwise><xsl:value-of select="$s"/><xsl:value-of select="$e"/>{single}{RECORD}</xsl:otherwise>
</xsl:choose>
</xsl:for-each>
</xsl:for-each>
</xsl:template>
</xsl:stylesheet>"""
    return etree.XSLT(etree.XML(xslt.encode()))


def _document_namespace(data: bytes) -> tuple[etree._Element, str] | None:
    """The parsed root and its namespace, or None for anything the exact reader should judge."""
    if _FIELD_B in data or _RECORD_B in data or _MULTI_B in data:
        return None
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        return None
    if root.getroottree().docinfo.internalDTD is not None:  # custom entities: ET expands them, we would not
        return None
    name = etree.QName(root)
    ns = name.namespace or ""
    p = f"{{{ns}}}" if ns else ""
    doc = root.find(p + "BkToCstmrStmt") if name.localname == "Document" else None
    statements = doc.findall(p + "Stmt") if doc is not None else []
    if not statements or any(not (s.findtext(p + "Id") or "").strip() for s in statements):
        return None
    return root, ns


def _lines(root: etree._Element, ns: str) -> pa.Table | None:
    """The XSLT output read into string columns (`FIELDS`), or None when a value had a line break."""
    out = bytes(_stylesheet(ns)(root))
    if b"\n" in out or b"\r" in out:
        return None
    if not out:
        return pa.table({f: pa.array([], pa.string()) for f in FIELDS})
    text = out.replace(_RECORD_B, b"\n").replace(_FIELD_B, b"\x1f")
    try:
        return _read_lines(text)
    except pa.ArrowInvalid:  # a value longer than pyarrow's 1 MB block (a 10 MB remittance): the exact reader
        return None


def _read_lines(text: bytes) -> pa.Table:
    return pacsv.read_csv(
        io.BytesIO(text),
        read_options=pacsv.ReadOptions(column_names=list(FIELDS)),
        parse_options=pacsv.ParseOptions(delimiter="\x1f", quote_char=False, escape_char=False,
                                         ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types={f: pa.string() for f in FIELDS},
                                             strings_can_be_null=False))


def _nullable(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """Trimmed, with '' as NULL: the exact reader's `_text`."""
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _joined_values(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """A MULTI-separated list → its non-blank values joined by a space (per row, only where there is
    more than one value: a few rows in a real file)."""
    multi = pc.match_substring(arr, MULTI)
    if not pc.any(multi).as_py():
        return _nullable(arr)
    values = arr.to_pylist()
    for i in pc.indices_nonzero(multi).to_pylist():
        values[i] = " ".join(v.strip() for v in values[i].split(MULTI) if v.strip())
    return _nullable(pa.chunked_array([pa.array(values, pa.string())]))


def _dates(arr: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """`YYYY-MM-DD` → date32; None if any non-empty value is anything else."""
    present = pc.is_valid(arr)
    if not pc.all(pc.or_kleene(pc.invert(present), pc.equal(pc.utf8_length(arr), _DATE_LEN))).as_py():
        return None
    parsed = pc.strptime(arr, format="%Y-%m-%d", unit="s", error_is_null=True)
    if parsed.null_count != arr.null_count:
        return None
    dates = pc.cast(parsed, pa.date32())
    # Arrow's strptime rolls an impossible day over (2026-02-30 -> 2026-03-02): the exact reader refuses it
    if not pc.all(pc.or_kleene(pc.invert(present), pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), arr))).as_py():
        return None
    bounds = pc.min_max(dates).as_py()
    if bounds["min"] is not None and (bounds["min"] < EARLIEST_DATE or bounds["max"] > LATEST_DATE):
        return None
    return dates


def _transaction_ids(c: dict) -> pa.ChunkedArray:
    """`<AcctSvcrRef or NtryRef or statement/i>`, with `-<n>` for the n-th detail of a batched entry."""
    fallback = pc.binary_join_element_wise(c["statement_id"], c["entry_index"], "/")
    base = pc.coalesce(c["acct_svcr_ref"], c["ntry_ref"], fallback)
    batched = pc.not_equal(c["detail_index"], "0")
    return pc.if_else(batched, pc.binary_join_element_wise(base, c["detail_index"], "-"), base)


def _checked(c: dict, max_amount: Decimal) -> dict | None:
    """Typed amount, currency and dates, or None when any row needs the exact reader's judgement."""
    amount_text = c["amount"]
    if amount_text.null_count or not pc.all(pc.match_substring_regex(amount_text, _AMOUNT)).as_py():
        return None
    currency = pc.utf8_upper(pc.utf8_trim_whitespace(c["currency"]))
    plain = sorted(iso4217() - ZERO_DECIMAL_CURRENCIES - CAMT_ZERO_DECIMAL)
    if not pc.all(pc.is_in(currency, value_set=pa.array(plain))).as_py():
        return None
    if not pc.all(pc.is_in(c["credit_debit"], value_set=pa.array(["CRDT", "DBIT"]))).as_py():
        return None
    amount = pc.cast(amount_text, pa.decimal128(18, 2))
    if pc.any(pc.greater(amount, pa.scalar(max_amount, pa.decimal128(18, 2)))).as_py():
        return None
    booking, value = _dates(c["booking_date"]), _dates(c["value_date"])
    if booking is None or value is None or pc.any(pc.and_(pc.is_null(booking), pc.is_null(value))).as_py():
        return None
    return {"amount": amount, "currency": currency, "booking_date": booking, "value_date": value}


def read_camt053(data: bytes, file_name: str = "", file_sha256: str = "",
                 max_amount: Decimal = DEFAULT_MAX_AMOUNT) -> pa.Table | None:
    """The bank rows of one CAMT.053 document as an Arrow table (`BANK_SCHEMA`), or None: then the
    exact reader (`camt053.parse_camt053` + `checks.check_rows`) decides, and names the problem."""
    parsed = _document_namespace(data)
    if parsed is None:
        return None
    lines = _lines(*parsed)
    if lines is None:
        return None
    if lines.num_rows == 0:  # statements without entries
        return BANK_SCHEMA.empty_table()
    c = {f: _nullable(lines[f]) for f in FIELDS if not f.startswith("remittance_")}
    for f in ("account_iban", "booking_date", "value_date", "debtor_name", "debtor_iban"):
        c[f] = pc.coalesce(c[f], c.pop(f + "_alt"))
    c["amount"], c["detail_index"] = pc.utf8_trim_whitespace(lines["amount"]), lines["detail_index"]
    for f in ("remittance_unstructured", "remittance_structured_reference"):
        c[f] = _joined_values(lines[f])
    typed = _checked(c, max_amount)
    if typed is None:
        return None
    c.update(typed)
    c["transaction_id"] = _transaction_ids(c)
    if pc.count_distinct(c["transaction_id"]).as_py() != lines.num_rows:
        return None
    n = lines.num_rows
    c.update(entry_reference=c["acct_svcr_ref"], file_name=pa.repeat(file_name, n),
             file_sha256=pa.repeat(file_sha256, n), source_format=pa.repeat("camt053", n),
             transaction_details=pa.nulls(n, pa.string()))
    return pa.table([pc.cast(c[f.name], f.type) for f in BANK_SCHEMA], schema=BANK_SCHEMA)
