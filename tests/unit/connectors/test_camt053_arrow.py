"""The CAMT.053 Arrow fast path gives exactly the exact reader's rows, or steps aside.

`camt053_arrow.read_camt053` must never land a row the exact reader (`camt053.parse_camt053` +
`checks.check_rows`) would land differently, nor accept a file it would refuse. Compared on the
genkgo fixtures (shared datasets, skipped where absent), the sandbox company's statements, the
benchmark generator's files and hand-made edge cases.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.finance.camt053 import CamtParseError, parse_camt053
from connectors.finance.camt053_arrow import read_camt053
from connectors.finance.checks import BankFileError, check_rows
from connectors.finance.readers import read_camt
from connectors.finance.schema import BANK_SCHEMA

_CANDIDATES = [Path(__file__).resolve().parents[4] / "shared" / "datasets" / "bank_camt_genkgo",
               Path("/work/shared/datasets/bank_camt_genkgo")]
GENKGO = next((p for p in _CANDIDATES if p.is_dir()), None)
FIXTURES = sorted(GENKGO.glob("*.xml")) if GENKGO else []
NS2 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def _exact(data: bytes) -> list[dict] | None:
    """The exact reader's rows (the columns both paths fill), or None when it refuses the file."""
    try:
        rows = parse_camt053(data, "f.xml", "sha")
        check_rows(rows, "f.xml", lambda i: str(i))
    except (CamtParseError, BankFileError):
        return None
    return [{**r, "source_format": "camt053", "transaction_details": None} for r in rows]


def _assert_same_or_stepped_aside(data: bytes) -> str:
    table = read_camt053(data, "f.xml", "sha")
    expected = _exact(data)
    if table is None:
        return "exact"
    assert expected is not None, "the fast path landed a file the exact reader refuses"
    assert table.schema == BANK_SCHEMA
    assert table.to_pylist() == [{f.name: r.get(f.name) for f in BANK_SCHEMA} for r in expected]
    return "fast"


def _doc(entries: str, ns: str = NS2, stmt_id: str = "S1") -> bytes:
    head = f'<Document xmlns="{ns}">' if ns else "<Document>"
    return (f'<?xml version="1.0"?>{head}<BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr>'
            f"<Stmt><Id>{stmt_id}</Id><Acct><Id><Othr><Id>ACC-1</Id></Othr></Id><Ccy>EUR</Ccy></Acct>{entries}</Stmt>"
            "</BkToCstmrStmt></Document>").encode()


def _entry(amount="10.00", ccy="EUR", cd="CRDT", booked="<Dt>2025-03-01</Dt>", ref="<AcctSvcrRef>R1</AcctSvcrRef>",
           details="") -> str:
    return (f'<Ntry><Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>{cd}</CdtDbtInd><BookgDt>{booked}</BookgDt>'
            f"<ValDt><Dt>2025-03-02</Dt></ValDt>{ref}<NtryDtls>{details}</NtryDtls></Ntry>")


TX = ("<TxDtls><Refs><EndToEndId> E2E-1 </EndToEndId></Refs><RltdPties><Dbtr><Pty><Nm>Acme &amp; Co</Nm></Pty></Dbtr>"
      "<DbtrAcct><Id><IBAN>DE02</IBAN></Id></DbtrAcct></RltdPties>"
      "<RmtInf><Ustrd> INV-1 </Ustrd><Ustrd/><Ustrd>and INV-2</Ustrd><Strd><CdtrRefInf><Ref>RF1</Ref></CdtrRefInf></Strd>"
      "<Strd><CdtrRefInf><Ref>RF2</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>")
BATCH = ('<TxDtls><Refs><EndToEndId>E1</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">4.00</Amt></TxAmt></AmtDtls></TxDtls>'
         '<TxDtls><Amt Ccy="EUR">6.00</Amt><RmtInf><Ustrd>INV-9</Ustrd></RmtInf></TxDtls>')


@pytest.mark.skipif(GENKGO is None, reason="shared dataset bank_camt_genkgo not available")
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_genkgo_fixture_same_rows_on_both_paths(path: Path):
    _assert_same_or_stepped_aside(path.read_bytes())


def test_benchmark_and_sandbox_statements_take_the_fast_path(tmp_path):
    from benchmarks.camt import write_drop
    from connectors.sandbox.generator import generate

    write_drop(tmp_path / "bench", 1200)
    generate(tmp_path / "sandbox", seed=7)
    files = sorted((tmp_path / "bench").glob("*.xml")) + sorted((tmp_path / "sandbox").rglob("*.xml"))
    camt = [p for p in files if b"camt.053" in p.read_bytes()[:400]]
    assert len(camt) >= 3
    assert {_assert_same_or_stepped_aside(p.read_bytes()) for p in camt} == {"fast"}


@pytest.mark.parametrize("entries, ns", [
    (_entry(details=TX), NS2),  # multi-valued remittance, v8-style Pty/Nm, Othr account id, trimming
    (_entry(details=BATCH), "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"),  # batched: ids -1, -2
    (_entry(ref="<NtryRef>N7</NtryRef>") + _entry(ref=""), ""),  # no namespace; NtryRef; statement/i id
    (_entry(amount="1000000000.00"), NS2),  # at the plausible maximum: lands
    (_entry(cd=" CRDT ", amount=" 7.5 "), NS2),  # padded values: trimmed as the exact reader trims
])
def test_fast_path_lands_the_exact_readers_rows(entries, ns):
    assert _assert_same_or_stepped_aside(_doc(entries, ns)) == "fast"


@pytest.mark.parametrize("entries", [
    _entry(amount="10.001"), _entry(amount="-5.00"), _entry(amount="1.5e3"), _entry(amount="1000000000.01"),
    _entry(ccy="XYZ"), _entry(ccy="JPY", amount="1000"), _entry(cd="BOTH"),
    _entry(booked="<DtTm>2025-03-01T10:00:00+01:00</DtTm>"), _entry(booked="<Dt>01.03.2025</Dt>"),
    _entry(details="<TxDtls><RmtInf><Ustrd>line one\nline two</Ustrd></RmtInf></TxDtls>"),
    _entry(details="<TxDtls><RmtInf><Ustrd>private \ue000 use</Ustrd></RmtInf></TxDtls>"),
    _entry(ref="<AcctSvcrRef>R1</AcctSvcrRef>") + _entry(ref="<AcctSvcrRef>R1</AcctSvcrRef>"),  # duplicate ids
    _entry(details='<TxDtls><Amt Ccy="EUR">4.00</Amt></TxDtls><TxDtls/>'),  # batched detail without amount
])
def test_anything_unusual_is_left_to_the_exact_reader(entries):
    assert _assert_same_or_stepped_aside(_doc(entries)) == "exact"


def test_not_camt_or_broken_documents_are_left_to_the_exact_reader():
    for data in (b"", b"<Document><BkToCstmrStmt>", b"<Document><Other/></Document>", _doc(_entry(), stmt_id=" ")):
        assert read_camt053(data) is None


def test_read_camt_names_the_problem_through_the_exact_reader():
    with pytest.raises(BankFileError, match="XYZ"):
        read_camt(_doc(_entry(ccy="XYZ")), "bad.xml", "sha")
    table = read_camt(_doc(_entry(booked="<DtTm>2025-03-01T23:30:00-05:00</DtTm>")), "ok.xml", "sha")
    assert table.column("booking_date").to_pylist() == [dt.date(2025, 3, 1)]
    assert table.column("amount").to_pylist() == [Decimal("10.00")]
