"""MT940 and bank-CSV parsers: the wolph/mt940 and php-mt940 real fixtures, and refused bad input.

Fixtures are read in place from `../shared/datasets` relative to the repo (skip when absent).
Policy under test (see the module docstrings): every format refuses a bad file WHOLE, with the file
name and row/line in the reason.

What the MT940 fixtures are checked against (tally in `test_mt940_fixture_tally`, run with -s to see it):
- wolph `.sta` + `.yml` (51): the library's expected output, field by field — 45 land and agree, 6
  fragments without a currency are refused on purpose (`REFUSED`); all 45 read with mt-940's own tags.
- wolph `.txt` (3, no `.yml`) and php-mt940 `.sta` (21, no expected output shipped): the values the two
  projects' own test suites assert, transcribed in `UPSTREAM_ASNB` / `PHP_EXPECTED`, and each statement's
  own balances (`:60x:` + entries = `:62x:`) except upstream's hand-edited samples (`UNBALANCED`).
- the ASN Bank and Zenith Bank files read through the dialect tags (`DIALECT`); php-mt940's old-format
  Rabobank file (`.` decimals) is refused (`UNREADABLE`).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import mt940
import pytest

from connectors.finance.bank_csv import DEFAULT_MAP, parse_bank_csv
from connectors.finance.checks import BankFileError
from connectors.finance.mt940 import DIALECT_TAGS, OPTIONS, parse_mt940, parse_transactions

DATASETS = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"
WOLPH = DATASETS / "bank_mt940_wolph"
PHP = DATASETS / "bank_mt940_phpmt940"
WOLPH_GOLDEN = sorted(p for p in WOLPH.rglob("*.sta") if p.with_suffix(".yml").exists()) if WOLPH.is_dir() else []
needs_wolph = pytest.mark.skipif(not WOLPH_GOLDEN, reason="shared dataset bank_mt940_wolph not available")
needs_php = pytest.mark.skipif(not PHP.is_dir(), reason="shared dataset bank_mt940_phpmt940 not available")

# wolph fragments that have no :60F: (so no currency) or no MT940 tag at all: refused, not landed
REFUSED = {"empty_entry_date.sta", "statement_details.sta", "statement_line.sta", "sparkassen.sta",
           "empty_86.sta", "invalid_statement.sta"}
# fixtures we refuse (quarantine), with the reason: old Rabobank format, amounts with a '.' decimal
# separator, which mt-940 reads as `43985` for `43985.66` (before the entry guard it landed 1 row of 39)
UNREADABLE = {"Rabo/sample.sta": "entry 1: amount 300 is followed by '.00N', a '.' decimal separator"}
# read only through `mt940.DIALECT_TAGS`: ASN Bank (IBAN in the :61: customer reference, name on the
# next line) and Zenith Bank (`:28C: /1`, and no transaction-type code in :61:)
DIALECT = {"Asn/sample.sta", "Zetb/sample.sta", "ASNB/mt940.txt", "ASNB/mt940_with_spaces_for_entry_date.txt"}


def _key(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _all_mt940_files() -> list[Path]:
    return sorted(WOLPH.rglob("*.sta")) + sorted(WOLPH.rglob("*.txt")) + sorted(PHP.rglob("*.sta"))


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
    assert parse_transactions(sta.read_bytes()).dialect == "standard"  # the dialect tags never touch these
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
    refused, dialect = {}, set()
    for path in _all_mt940_files():
        try:
            parse_mt940(path.read_bytes(), path.name)
        except BankFileError as exc:
            assert path.name in str(exc)
            refused[_key(path)] = str(exc)
            continue
        if parse_transactions(path.read_bytes()).dialect != "standard":
            dialect.add(_key(path))
    assert set(refused) == set(UNREADABLE) | {_key(p) for p in WOLPH_GOLDEN if p.name in REFUSED}
    for key, reason in UNREADABLE.items():
        assert reason in refused[key]
    assert dialect == DIALECT


def test_library_options_are_pinned():
    assert mt940.__version__ == "5.1.1"  # DIALECT_TAGS derive from its patterns; re-check them on upgrade
    assert OPTIONS.applicant_iban  # ?31 is the payer account, not glued to the name
    for tag in DIALECT_TAGS.values():
        base = type(tag).__mro__[1]
        assert tag.pattern != base.pattern  # the substitution found its target
        assert tag.slug == base().slug  # so mt-940 runs the base tag's processors (dates, :20: copy)


# --- upstream expectations for fixtures that ship none -------------------------------------------

def _statements(path: Path) -> list[tuple[mt940.models.Transactions, list[dict]]]:
    """The file cut where each statement starts (`:20:`, as php-mt940 does), each parsed on its own."""
    chunks = re.split(rb"(?m)^(?=:20:)", path.read_bytes().replace(b"\r", b""))
    parsed = [(parse_transactions(c, path.name), c) for c in chunks if c.startswith(b":20:")]
    return [(t, parse_mt940(c, path.name) if len(t) else []) for t, c in parsed]


def _balance(t: mt940.models.Transactions, kind: str) -> Decimal | None:
    for key in (f"final_{kind}_balance", f"intermediate_{kind}_balance", f"{kind}_balance"):
        if t.data.get(key) is not None:
            return t.data[key].amount.amount
    return None


def _net(rows: list[dict]) -> Decimal:
    return sum((r["amount"] if r["credit_debit"] == "CRDT" else -r["amount"] for r in rows), Decimal(0))


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


# wolph/mt940 mt940_tests/test_tags.py::test_asnb_tags (library 5.1.x): 8 entries; amounts signed; the
# spaces variant has no entry date on its first and last entry
UPSTREAM_ASNB = {
    "amounts": ["-65.00", "1000.00", "-801.55", "-1.65", "828.72", "-1000.00", "1000.18", "-903.76"],
    "value_dates": ("2020-01-01", "2020-01-31"),
    "first_details": "NL47INGB9999999999 hr gjlm paulissen Betaling sieraden",
}


@needs_wolph
@pytest.mark.parametrize("name, booked", [("mt940.txt", ("2020-01-01", "2020-01-31")),
                                          ("mt940_with_spaces_for_entry_date.txt", (None, None))])
def test_asn_bank_rows_agree_with_wolph_upstream_test(name, booked):
    rows = parse_mt940((WOLPH / "ASNB" / name).read_bytes(), name)
    assert [str(r["amount"] if r["credit_debit"] == "CRDT" else -r["amount"]) for r in rows] == UPSTREAM_ASNB["amounts"]
    assert (rows[0]["value_date"], rows[-1]["value_date"]) == tuple(map(_day, UPSTREAM_ASNB["value_dates"]))
    assert (rows[0]["booking_date"], rows[-1]["booking_date"]) == tuple(map(_day, booked))
    assert rows[0]["transaction_details"] == UPSTREAM_ASNB["first_details"]
    assert rows[0]["currency"] == "EUR" and rows[0]["account_iban"] == "NL81ASNB9999999999"
    assert len({r["transaction_id"] for r in rows}) == len(rows)


# fruitl00p/php-mt940 test/Parser/Banking/Mt940/Engine/<Bank>/ParseTest.php at e3f16c0 (the commit
# PROVENANCE.csv names for these samples), transcribed. statements: how many the file holds;
# deltas: {statement: opening − closing balance}; first: the first entry's (D/C, amount); accounts: per statement;
# dates: {entry of the first statement (-1 = its last): (value date, booking date)}; a date of None
# is "not asserted" for value dates and "none" for booking dates (php-mt940's 0 timestamp).
PHP_EXPECTED = {
    "Abn/sample.sta": dict(statements=4, deltas={0: "210.5"}, first=("D", "7.5")),
    "Abn/sample2.sta": dict(statements=1, dates={0: ("2009-01-01", "2009-01-01"), 1: ("2009-01-01", "2009-01-02"),
                                                 2: ("2009-01-01", "2009-02-01"), 3: ("2009-12-31", "2010-01-01")}),
    "Abn/issue48.sta": dict(statements=1, dates={0: ("2016-12-15", "2016-12-15"), 1: ("2016-12-15", "2016-12-15")}),
    "Asn/sample.sta": dict(statements=7, deltas={0: "2000"}, first=("D", "2000"),
                           dates={0: (None, "2020-01-02"), -1: (None, "2020-01-02")}),
    "Bunq/sample.sta": dict(statements=1, deltas={0: "26.67"}, first=("C", "2"),
                            dates={0: (None, "2019-01-31"), -1: (None, "2019-05-24")}),
    "Hsbc/sample.sta": dict(statements=1, deltas={0: "0"}, first=("D", "20000")),
    "Ing/sample.sta": dict(statements=1, deltas={0: "-3.47"}, first=("C", "25.03"),
                           dates={0: (None, None), -1: (None, "2010-07-21")}),
    "Kbs/sample.sta": dict(statements=1, deltas={0: "-1870"}, first=("D", "80"),
                           dates={0: (None, "2020-12-01"), -1: (None, "2020-12-01")}),
    "Kbs/sample2.sta": dict(statements=1, deltas={0: "-22755"}, dates={0: (None, "2020-10-09"), -1: (None, "2020-10-09")}),
    "Knab/sample.sta": dict(statements=1, deltas={0: "55"}, first=("D", "15")),
    "Knab/sample2.sta": dict(deltas={0: "-567.42"}),
    "Kontist/sample.sta": dict(statements=1, deltas={0: "-395.76"}, first=("C", "50"),
                               dates={0: (None, "2021-02-15"), -1: (None, "2021-02-17")}),
    "Penta/sample.sta": dict(statements=1, deltas={0: "10576.30"}, first=("D", "20"),
                             dates={0: (None, "2020-09-02"), -1: (None, "2020-09-30")}),
    "Rabo/sample2.sta": dict(),  # start −1000.12 / end 2145.23 are '.'-decimal balances: not landed, not compared
    "Spk/sample.sta": dict(statements=4, entries=10, first=("C", None)),
    "Triodos/sample.sta": dict(statements=2, deltas={0: "150", 1: "-59.02"}, accounts=("666666666", "999999999")),
    "Zetb/sample.sta": dict(statements=1, deltas={0: "3743.91"}, first=("C", "220000"),
                            dates={0: (None, "2020-11-30"), -1: (None, "2020-11-30")}),
}


def _check_php_expectations(path: Path, exp: dict) -> None:
    statements = _statements(path)
    rows = [r for _, st in statements for r in st]
    whole = parse_mt940(path.read_bytes(), path.name)
    assert rows == whole  # cutting the file at each :20: changes no row, ids included (they are per statement)
    assert len(statements) == exp.get("statements", len(statements))
    assert len(rows) == exp.get("entries", len(rows))
    for i, delta in exp.get("deltas", {}).items():
        t = statements[i][0]
        assert _balance(t, "opening") - _balance(t, "closing") == Decimal(delta)
    if "first" in exp:
        mark, amount = exp["first"]
        assert rows[0]["credit_debit"] == {"C": "CRDT", "D": "DBIT"}[mark]
        assert amount is None or rows[0]["amount"] == Decimal(amount)
    for (_, st), account in zip(statements, exp["accounts"], strict=True) if "accounts" in exp else ():
        assert {r["account_iban"][-len(account):] for r in st} == {account}  # php-mt940 trims the bank prefix
    first = statements[0][1]
    for i, (value, booked) in exp.get("dates", {}).items():
        assert value is None or first[i]["value_date"] == _day(value)
        assert first[i]["booking_date"] == _day(booked)


@needs_php
@pytest.mark.parametrize("key", sorted(PHP_EXPECTED))
def test_mt940_rows_agree_with_php_mt940_upstream_tests(key):
    _check_php_expectations(PHP / key, PHP_EXPECTED[key])


# upstream test samples whose statements do not balance because they were hand-edited to test something
UNBALANCED = {
    "Abn/sample2.sta": "four copies of one entry re-dated to test year rollover",
    "Hsbc/sample.sta": "balances zeroed",
    "Ing/sample.sta": "last entry duplicated to test an entry date",
    "Knab/sample.sta": "entries from several days under one 60M/62M pair",
    "Knab/sample3.sta": "balances zeroed",
    "Rabo/sample2.sta": "no entries; '.'-decimal balances",
    "Rabo/sample3.sta": "entries re-dated and added",
    "Rabo/sample4.sta": "three entries cut from sample3 under its balances",
}


def _balanced(path: Path) -> bool:
    return all(_balance(t, "opening") is not None and _balance(t, "closing") is not None
               and _balance(t, "opening") + _net(rows) == _balance(t, "closing") for t, rows in _statements(path))


@needs_php
@needs_wolph
def test_every_statement_balances_with_the_rows_we_land():
    """Opening balance + landed entries = closing balance, statement by statement, for every accepted
    fixture without a `.yml`: the files' own check on our amounts and directions."""
    files = [p for p in sorted(PHP.rglob("*.sta")) + sorted(WOLPH.rglob("*.txt")) if _key(p) not in UNREADABLE]
    unbalanced = {_key(p) for p in files if not _balanced(p)}
    assert unbalanced == set(UNBALANCED)


@needs_php
@needs_wolph
def test_mt940_fixture_tally(capsys):
    """How many fixtures agree with what upstream expects; printed (pytest -s) and pinned."""
    golden_landed = [p for p in WOLPH_GOLDEN if p.name not in REFUSED]
    others = [p for p in _all_mt940_files() if p not in WOLPH_GOLDEN]
    accepted = [p for p in others if _key(p) not in UNREADABLE]
    tally = {
        "wolph golden files": len(WOLPH_GOLDEN), "wolph golden landed": len(golden_landed),
        "wolph golden refused on purpose": len(WOLPH_GOLDEN) - len(golden_landed),
        "other files (wolph .txt + php-mt940)": len(others), "other files accepted": len(accepted),
        "accepted through dialect tags": len(DIALECT), "refused": len(UNREADABLE),
        "accepted files whose statements all balance": sum(_balanced(p) for p in accepted),
        "files checked against upstream test values": len(PHP_EXPECTED) + 2,  # php-mt940 + the wolph ASNB pair
    }
    with capsys.disabled():
        print("\nMT940 fixture tally:", ", ".join(f"{k}: {v}" for k, v in tally.items()))
    assert tally == {
        "wolph golden files": 51, "wolph golden landed": 45, "wolph golden refused on purpose": 6,
        "other files (wolph .txt + php-mt940)": 24, "other files accepted": 23,
        "accepted through dialect tags": 4, "refused": 1,
        "accepted files whose statements all balance": 15,
        "files checked against upstream test values": 19,
    }


MT942_NO_TYPE = """:20:STMT-2
:25:NL00BANK0123456789
:28C:/1
:60F:C250301EUR100,00
:61:2503030303C10,00//B1
:86:first
:61:2503030303D2,50//B2
:86:second
:62F:C250303EUR107,50
-
"""


def test_each_61_is_its_own_entry_even_without_a_transaction_type_code():
    """mt-940 alone would overwrite the first entry with the second (no `NTRF`-style code)."""
    rows = parse_mt940(MT942_NO_TYPE.encode(), "z.sta")
    assert [(r["transaction_id"], r["credit_debit"], r["amount"], r["transaction_details"]) for r in rows] == [
        ("B1", "CRDT", Decimal("10.00"), "first"), ("B2", "DBIT", Decimal("2.50"), "second")]


def test_an_iban_customer_reference_reads_only_through_the_dialect():
    text = MT942_NO_TYPE.replace("C10,00//B1", "C10,00NTRFNL29INGB0006475121\nj blom").replace(":28C:/1", ":28C:1/1")
    t = parse_transactions(text.encode())
    assert t.dialect == "dialect"
    assert (t[0].data["customer_reference"], t[0].data["extra_details"]) == ("NL29INGB0006475121", "j blom")


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
