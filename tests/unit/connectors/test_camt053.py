"""CAMT.053 parser against genkgo/camt's real fixtures and their expected (golden) outputs.

The fixtures live in the shared datasets folder and are read in place, never copied into the repo;
the test skips cleanly where that folder is absent.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.finance.camt053 import CamtParseError, parse_camt053, parse_camt053_file

_CANDIDATES = [
    Path(__file__).resolve().parents[4] / "shared" / "datasets" / "bank_camt_genkgo",
    Path("/work/shared/datasets/bank_camt_genkgo"),
]
GENKGO = next((p for p in _CANDIDATES if p.is_dir()), None)
GOLDEN = sorted(GENKGO.glob("camt053*.json")) + sorted(GENKGO.glob("camt53*.json")) if GENKGO else []
needs_genkgo = pytest.mark.skipif(GENKGO is None, reason="shared dataset bank_camt_genkgo not available")


def _entries(node, out):
    """Every serialised genkgo Entry object in the expected-output JSON."""
    if isinstance(node, dict):
        if node.get("__CLASS__") == "Genkgo\\Camt\\DTO\\Entry":
            out.append(node)
        for value in node.values():
            _entries(value, out)
    elif isinstance(node, list):
        for value in node:
            _entries(value, out)
    return out


def _date(obj):
    return obj["0"][:10] if isinstance(obj, dict) else None


def _debtor(detail):
    for party in detail.get("getRelatedParties") or []:
        if isinstance(party, dict) and party["getRelatedPartyType"]["__CLASS__"].endswith("\\Debtor"):
            account = party.get("getAccount") or {}
            return party["getRelatedPartyType"].get("getName"), account.get("getIdentification")
    return None, None


def _expected(entry):
    money = entry["getAmount"]
    detail = entry.get("getTransactionDetail") or {}
    reference = detail.get("getReference") or {}
    remittance = detail.get("getRemittanceInformation") or {}
    creditor_ref = remittance.get("getCreditorReferenceInformation") or {}
    unstructured = remittance.get("getUnstructuredBlock") or {}
    record = entry["getRecord"] if isinstance(entry["getRecord"], dict) else {}
    debtor_name, debtor_iban = _debtor(detail)
    return {
        # genkgo keeps money in minor units, signed by CdtDbtInd; we keep a positive Decimal
        "amount": abs(Decimal(money["getAmount"])) / 100,
        "currency": money["getCurrency"]["getCode"],
        "credit_debit": entry["getCreditDebitIndicator"],
        "booking_date": _date(entry.get("getBookingDate")),
        "value_date": _date(entry.get("getValueDate")),
        "entry_reference": entry.get("getAccountServicerReference"),
        "end_to_end_id": reference.get("getEndToEndId"),
        "debtor_name": debtor_name,
        "debtor_iban": debtor_iban,
        "remittance_unstructured": unstructured.get("getMessage"),
        "remittance_structured_reference": creditor_ref.get("getRef"),
        "statement_id": record.get("getId"),
    }


@needs_genkgo
@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.name)
def test_parser_matches_genkgo_expected_output(golden: Path):
    xml = golden.with_suffix(".xml")
    rows = parse_camt053_file(xml, "sha")
    assert len(rows) == xml.read_text().count("<Ntry>")  # none of these fixtures batch entries
    expected = [_expected(e) for e in _entries(json.loads(golden.read_text()), [])]
    for exp in expected:
        got = [
            {k: (str(v) if k.endswith("_date") and v else v) for k, v in row.items() if k in exp}
            for row in rows
            if row["statement_id"] == exp["statement_id"]
        ]
        assert exp in got, f"{golden.name}: {exp} not in {got}"


@needs_genkgo
def test_parser_reads_every_camt053_version():
    versions = {p.name.split(".")[1] for p in GENKGO.glob("camt053.v*.xml")}
    assert {"v2", "v3", "v4", "v8"} <= versions
    for xml in GENKGO.glob("camt053.v[348].xml"):
        (row,) = parse_camt053_file(xml)
        assert row["amount"] == Decimal("8.85") and row["debtor_name"] == "NAME NAME"


@needs_genkgo
def test_file_without_statement_is_rejected_with_a_reason():
    with pytest.raises(CamtParseError, match="without any Stmt"):
        parse_camt053_file(GENKGO / "camt053.v2.wrong.xml")


def _doc(entries: str, ns: str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02") -> bytes:
    return f"""<?xml version="1.0"?><Document xmlns="{ns}"><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr>
      <Stmt><Id>S1</Id><Acct><Id><IBAN>DE00123</IBAN></Id><Ccy>EUR</Ccy></Acct>{entries}</Stmt>
      </BkToCstmrStmt></Document>""".encode()


BATCH = """<Ntry><Amt Ccy="EUR">300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2025-03-01</Dt></BookgDt>
  <ValDt><Dt>2025-03-02</Dt></ValDt><AcctSvcrRef>REF1</AcctSvcrRef>
  <NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch>
   <TxDtls><Refs><EndToEndId>E1</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">100.00</Amt></TxAmt></AmtDtls>
     <RltdPties><Dbtr><Nm>Acme</Nm></Dbtr></RltdPties><RmtInf><Ustrd>INV-2025-000001</Ustrd></RmtInf></TxDtls>
   <TxDtls><Refs><EndToEndId>E2</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">200.00</Amt></TxAmt></AmtDtls>
     <RmtInf><Strd><CdtrRefInf><Ref>RF18INV2</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>
  </NtryDtls></Ntry>"""


@pytest.mark.parametrize("version", ["02", "04", "08"])
def test_batched_entry_is_split_into_its_transaction_details(version):
    rows = parse_camt053(_doc(BATCH, f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"))
    assert [r["transaction_id"] for r in rows] == ["REF1-1", "REF1-2"]
    assert [r["amount"] for r in rows] == [Decimal("100.00"), Decimal("200.00")]
    assert rows[0]["remittance_unstructured"] == "INV-2025-000001" and rows[0]["debtor_name"] == "Acme"
    assert rows[1]["remittance_structured_reference"] == "RF18INV2"


def test_amount_with_more_than_two_decimals_is_rejected():
    entry = BATCH.replace("300.00", "300.005").replace("<NtryDtls>", "<X>").replace("</NtryDtls>", "</X>")
    with pytest.raises(CamtParseError, match="decimals"):
        parse_camt053(_doc(entry))


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"<Document><BkToCstmrStmt>", "well-formed"),
        (b"<Document><Other/></Document>", "not a camt.053"),
        (_doc('<Ntry><Amt Ccy="EUR">abc</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry>'), "not a number"),
        (_doc('<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>XXXX</CdtDbtInd></Ntry>'), "CdtDbtInd"),
    ],
)
def test_malformed_documents_raise_with_a_reason(data, reason):
    with pytest.raises(CamtParseError, match=reason):
        parse_camt053(data)
