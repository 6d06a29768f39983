"""MT940 and bank-CSV parsers: the wolph/mt940 and php-mt940 real fixtures, and refused bad input.

Fixtures are read in place from `../shared/datasets` relative to the repo (skip when absent).
Policy under test (see the module docstrings): every format refuses a bad file WHOLE, with the file
name and row/line in the reason.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.finance.bank_csv import DEFAULT_MAP, parse_bank_csv
from connectors.finance.checks import BankFileError
from connectors.finance.mt940 import OPTIONS, parse_mt940

DATASETS = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"
WOLPH = DATASETS / "bank_mt940_wolph"
PHP = DATASETS / "bank_mt940_phpmt940"
WOLPH_GOLDEN = sorted(p for p in WOLPH.rglob("*.sta") if p.with_suffix(".yml").exists()) if WOLPH.is_dir() else []
needs_wolph = pytest.mark.skipif(not WOLPH_GOLDEN, reason="shared dataset bank_mt940_wolph not available")

# wolph fragments that have no :60F: (so no currency) or no MT940 tag at all: refused, not landed
REFUSED = {"empty_entry_date.sta", "statement_details.sta", "statement_line.sta", "sparkassen.sta",
           "empty_86.sta", "invalid_statement.sta"}
# php-mt940 / wolph .txt dialects mt-940 cannot read (multi-line :61:, ':28:/1'): quarantined
UNREADABLE = {"Asn/sample.sta", "Zetb/sample.sta", "ASNB/mt940.txt", "ASNB/mt940_with_spaces_for_entry_date.txt"}


def _expected(yml: Path):
    import yaml

    return yaml.load(yml.read_text(), Loader=yaml.UnsafeLoader)  # the fixture is a pickled-object dump


def _norm(value):
    return (str(value).strip() or None) if value is not None else None


@needs_wolph
@pytest.mark.parametrize("sta", WOLPH_GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_mt940_rows_agree_with_wolph_expected_output(sta: Path):
    expected = [t.data for t in _expected(sta.with_suffix(".yml"))]
    if sta.name in REFUSED:
        assert all(not e.get("currency") for e in expected)  # nothing landable was expected either
        with pytest.raises(BankFileError, match=sta.name):
            parse_mt940(sta.read_bytes(), sta.name)
        return
    rows = parse_mt940(sta.read_bytes(), sta.name)
    assert len(rows) == len(expected)
    for row, exp in zip(rows, expected):
        assert row["amount"] == abs(exp["amount"].amount)
        # RC (reversal of a credit) is a debit, RD a credit; mt-940 5.x leaves RC's sign positive
        assert row["credit_debit"] == ("CRDT" if exp["status"].upper() in ("C", "RD") else "DBIT")
        assert row["currency"] == exp["currency"]
        assert row["value_date"] == dt.date(exp["date"].year, exp["date"].month, exp["date"].day)
        if exp.get("entry_date"):
            assert row["booking_date"] == dt.date(exp["entry_date"].year, exp["entry_date"].month, exp["entry_date"].day)
        # text is compared with outer whitespace stripped (we land it trimmed)
        assert row["end_to_end_id"] == _norm(exp.get("end_to_end_reference"))
        assert row["debtor_name"] == _norm(exp.get("applicant_name"))
        assert row["debtor_iban"] == _norm(exp.get("applicant_iban"))
        if "purpose" in exp and exp.get("transaction_code") is not None:
            assert row["remittance_unstructured"] == _norm(exp.get("purpose"))
        else:
            # free-text :86: kept whole; we join its lines with a space, so compare without whitespace
            assert "".join((row["transaction_details"] or "").split()) == \
                   "".join((exp.get("transaction_details") or "").split())
    assert len({r["transaction_id"] for r in rows}) == len(rows)


@needs_wolph
def test_every_readable_fixture_parses_and_the_unreadable_are_refused_by_name():
    files = sorted(WOLPH.rglob("*.sta")) + sorted(WOLPH.rglob("*.txt")) + sorted(PHP.rglob("*.sta"))
    refused = set()
    for path in files:
        try:
            parse_mt940(path.read_bytes(), path.name)
        except BankFileError as exc:
            assert path.name in str(exc)
            refused.add(f"{path.parent.name}/{path.name}")
    assert refused == UNREADABLE | {f"{p.parent.name}/{p.name}" for p in WOLPH_GOLDEN if p.name in REFUSED}


def test_library_options_are_pinned():
    assert OPTIONS.applicant_iban  # ?31 is the payer account, not glued to the name


MT = """:20:STMT-1
:25:DE89370400440532013000
:28C:1/1
:60F:C250301EUR100,00
:61:2503030303C{amount}NTRFNONREF//REF1
:86:166?00GUTSCHRIFT?20EREF+E1SVWZ+INV-1?31DE44500105175407324931?32ACME GMBH
:62F:C250331EUR200,00
-
"""


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"hello world\n", "no MT940 tags"),
    (MT.replace("EUR", "XYZ").format(amount="1,00").encode(), "ISO 4217"),
    (MT.format(amount="5000000000,00").encode(), "plausible maximum"),
    (MT.replace(":61:250303", ":61:251303").format(amount="1,00").encode(), "MT940"),
])
def test_bad_mt940_is_refused_naming_the_file(data, reason):
    with pytest.raises(BankFileError, match=reason) as exc:
        parse_mt940(data, "bad.sta")
    assert "bad.sta" in str(exc.value)


def test_mt940_structured_details_map_to_payer_fields():
    (row,) = parse_mt940(MT.format(amount="100,00").encode(), "ok.sta")
    assert row["transaction_id"] == "REF1" and row["amount"] == Decimal("100.00")
    assert (row["end_to_end_id"], row["debtor_name"], row["debtor_iban"], row["remittance_unstructured"]) == \
           ("E1", "ACME GMBH", "DE44500105175407324931", "INV-1")
    assert row["transaction_details"].startswith("166?00GUTSCHRIFT")


HEADER = ",".join(DEFAULT_MAP["columns"].values())
GOOD = "R1,S1,DE001,2025-03-01,2025-03-02,CRDT,119.12,EUR,E1,Cust 1,DE002,INV-2025-000001"


def _csv(*lines: str, header: str = HEADER) -> bytes:
    return "\n".join([header, *lines]).encode()


def test_bank_csv_lands_decimal_rows():
    (row,) = parse_bank_csv(_csv(GOOD), "b.csv", "sha")
    assert row["amount"] == Decimal("119.12") and isinstance(row["amount"], Decimal)
    assert row["booking_date"] == dt.date(2025, 3, 1) and row["credit_debit"] == "CRDT"
    assert row["debtor_name"] == "Cust 1" and row["entry_reference"] == "R1"


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (_csv(GOOD.rsplit(",", 1)[0], header=HEADER.rsplit(",", 1)[0]), "missing column"),
    (_csv(GOOD + ",x", header=HEADER + ",Extra"), "unexpected column"),
    (_csv(GOOD.replace("119.12", "abc")), "line 2: Amount='abc' is not a number"),
    (_csv(GOOD, GOOD.replace("R1", "R2").replace("119.12", "-5.00")), "line 3.*negative"),
    (_csv(GOOD.replace("119.12", "9999999999.00")), "plausible maximum"),
    (_csv(GOOD.replace(",EUR,", ",EUX,")), "ISO 4217"),
    (_csv(GOOD.replace("2025-03-01", "01.03.2025")), "line 2: Booking Date='01.03.2025' is not a date"),
    (_csv(GOOD.replace("119.12", "119.123")), "decimals"),
])
def test_bad_bank_csv_is_refused_whole_with_line_and_column(data, reason):
    with pytest.raises(BankFileError, match=reason) as exc:
        parse_bank_csv(data, "bad.csv")
    assert "bad.csv" in str(exc.value)
