"""MT940 `transaction_id`: the merge key of raw_finance.bank_transactions (see connectors/finance/mt940.py).

The bug these pin: without bank references the id was `MT940:<account>:<:20:>:<n>`, and ASN Bank
(`:20:0000000000`) and the Sparkassen (`:20:STARTUMS`) write the same `:20:` in every file, so entry 1
of tomorrow's statement got entry 1 of today's id and the merge overwrote it. Also: the library's
ERROR log of the strict parse attempt that the dialect tags then read.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.finance.checks import BankFileError
from connectors.finance.mt940 import parse_mt940, parse_transactions

ACCOUNT = "DE89370400440532013000"
WOLPH = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "bank_mt940_wolph"


def statement(number: str = "1/1", opened: str = "250303", balance: str = "100,00", *, account: str = ACCOUNT,
              ref: str = "STARTUMS", entries=(("C", "10,00", "INV-1"), ("D", "2,50", "FEE")),
              bank_refs=None) -> str:
    """One statement as the sandbox bank writes it (connectors/sandbox/bank_formats.py `to_mt940`: CRLF,
    structured German/SEPA `:86:`), but, like a Sparkasse, without `//` bank references by default."""
    day = dt.datetime.strptime(opened, "%y%m%d").date() + dt.timedelta(days=1)
    lines = [f":20:{ref}", f":25:{account}", f":28C:{number}", f":60F:C{opened}EUR{balance}"]
    net = Decimal(balance.replace(",", "."))
    for n, (mark, amount, purpose) in enumerate(entries):
        reference = f"//{bank_refs[n]}" if bank_refs else ""
        lines.append(f":61:{day:%y%m%d}{day:%m%d}{mark}{amount}{'NTRF' if mark == 'C' else 'NCHG'}NONREF{reference}")
        lines.append(f":86:{'166?00GUTSCHRIFT' if mark == 'C' else '808?00ENTGELT'}?20SVWZ+{purpose}"
                     f"?31DE44500105175407324931?32ACME GMBH")
        net += Decimal(amount.replace(",", ".")) * (1 if mark == "C" else -1)
    lines += [f":62F:C{day:%y%m%d}EUR{net:.2f}".replace(".", ","), "-"]
    return "\r\n".join(lines) + "\r\n"


def ids(text: str, name: str = "a.sta") -> list[str]:
    return [r["transaction_id"] for r in parse_mt940(text.encode(), name)]


# --- different statements never share ids ---------------------------------------------------------

@pytest.mark.parametrize("other", [
    dict(number="2/1", opened="250304", balance="107,50"),  # the next day's statement, as banks send them
    dict(number="2/1"),                                      # only the statement number differs
    dict(number="1/2"),                                      # only the sequence (page) number differs
    dict(opened="250304"),                                   # only the opening date differs (constant :28C:)
    dict(balance="107,50"),                                  # only the opening balance differs
    dict(account="NL81ASNB9999999999"),                      # another account
], ids=["next-day", "number", "sequence", "date", "balance", "account"])
def test_statements_with_one_constant_20_get_disjoint_ids(other):
    first, second = ids(statement()), ids(statement(**other), "b.sta")
    assert len(set(first)) == len(first) == 2 and len(set(second)) == 2
    assert not set(first) & set(second)


def test_the_id_names_account_statement_number_opening_balance_and_position():
    assert ids(statement("00012/001", "250303", "1234,5")) == [
        f"MT940:{ACCOUNT}:12/1:2025-03-03:C1234.50:1", f"MT940:{ACCOUNT}:12/1:2025-03-03:C1234.50:2"]


# --- the same statement again keeps its ids (idempotent merge) ------------------------------------

def test_the_same_file_parsed_twice_and_under_another_name_gets_the_same_ids():
    text = statement()
    assert ids(text, "a.sta") == ids(text, "a.sta") == ids(text, "copy of a.sta")


@pytest.mark.parametrize("resent", [
    statement().replace("\r\n", "\n"),                                # other line endings
    statement(ref="940S250304"),                                      # a new :20: per download
    statement(number="00001/00001"),                                  # zero-padded :28C:
    statement(balance="100,0"),                                       # the balance written shorter
    statement().replace("SVWZ+INV-1", "SVWZ+INV-1 ACME ORDER 77"),    # other :86: text
], ids=["LF", "new-20", "zero-padded-28C", "short-balance", "details"])
def test_a_resent_statement_with_cosmetic_differences_keeps_its_ids(resent):
    assert ids(resent, "resent.sta") == ids(statement())


def test_a_statement_keeps_its_ids_alone_or_bundled_with_others():
    monday, tuesday = statement("1/1", "250303"), statement("2/1", "250304", "107,50")
    assert ids(monday + tuesday) == ids(monday) + ids(tuesday)
    assert ids(tuesday + monday) == ids(tuesday) + ids(monday)


# --- multi-statement files, MT942, no :28C: -------------------------------------------------------

def test_a_continuation_page_repeating_the_key_is_numbered_on():
    """wolph self-provided/raphaelm.sta does this: a second message with the same `:28C:` `1/1` and date."""
    page = statement()
    both = ids(page + page.replace("SVWZ+INV-1", "SVWZ+INV-9"))
    assert both == [f"MT940:{ACCOUNT}:1/1:2025-03-03:C100.00:{n}" for n in (1, 2, 3, 4)]


def test_bank_references_are_used_per_statement_when_no_other_entry_of_the_file_shares_them():
    with_refs = statement("1/1", bank_refs=["R1", "R2"])
    without = statement("2/1", "250304", "107,50")
    assert ids(with_refs + without) == ["R1", "R2", *ids(without)]
    # a transfer between two of the customer's accounts can carry one reference on both statements
    other = statement("7/1", account="NL81ASNB9999999999", bank_refs=["R2", "R3"])
    mixed = ids(with_refs + other)
    assert len(set(mixed)) == 4 and all(i.startswith("MT940:") for i in mixed)


MT942 = """:20:INTRADAY\r
:25:{account}\r
:28C:{number}\r
:34F:EURD0,00\r
:34F:EURC0,00\r
{time}:61:2503030303C10,00NTRFNONREF\r
:86:first\r
:61:2503030303D2,50NCHGNONREF\r
:86:second\r
-\r
"""


def test_mt942_reports_are_keyed_by_their_13d_time():
    morning = MT942.format(account=ACCOUNT, number="5/1", time=":13D:2503031030+0100\r\n")
    evening = MT942.format(account=ACCOUNT, number="5/1", time=":13D:2503031815+0100\r\n")
    assert ids(morning) == [f"MT940:{ACCOUNT}:5/1:2025-03-03T1030:1", f"MT940:{ACCOUNT}:5/1:2025-03-03T1030:2"]
    assert not set(ids(morning)) & set(ids(evening))
    assert ids(morning) == ids(morning.replace("\r\n", "\n"), "again.sta")


def test_without_28c_and_any_date_the_statement_content_keys_the_ids():
    bare = MT942.format(account=ACCOUNT, number="", time="").replace(":28C:\r\n", "")
    other = bare.replace("D2,50", "D3,50")
    first = ids(bare)
    assert first[0].startswith(f"MT940:{ACCOUNT}:-:#") and first[1].endswith(":2")
    assert ids(bare, "again.sta") == first
    assert not set(ids(other)) & set(first)


@pytest.mark.skipif(not WOLPH.is_dir(), reason="shared dataset bank_mt940_wolph not available")
def test_asn_bank_files_differing_only_in_entry_date_spacing_get_the_same_ids():
    """The wolph ASNB pair: one statement series written twice; `:20:` is `0000000000` throughout."""
    plain = parse_mt940((WOLPH / "ASNB" / "mt940.txt").read_bytes(), "mt940.txt")
    spaced = parse_mt940((WOLPH / "ASNB" / "mt940_with_spaces_for_entry_date.txt").read_bytes(), "spaces.txt")
    assert {r["statement_id"] for r in plain} == {"0000000000"}
    assert [r["transaction_id"] for r in plain] == [r["transaction_id"] for r in spaced]
    assert len({r["transaction_id"] for r in plain}) == len(plain) == 8


# --- the strict attempt's library logging ---------------------------------------------------------

ASN_LIKE = statement(bank_refs=["B1", "B2"]).replace("C10,00NTRFNONREF//B1", "C10,00NTRFNL29INGB0006475121\r\nj blom")


def test_a_file_the_dialect_tags_read_logs_no_library_error(caplog):
    caplog.set_level(logging.DEBUG, logger="mt940")
    caplog.set_level(logging.INFO, logger="connectors.finance.mt940")
    assert parse_transactions(ASN_LIKE.encode(), "asn.sta").dialect == "dialect"
    assert not [r for r in caplog.records if r.name.startswith("mt940") and r.levelno >= logging.WARNING]
    ours = [r for r in caplog.records if r.name == "connectors.finance.mt940"]
    assert len(ours) == 1 and ours[0].levelno == logging.INFO
    assert "asn.sta" in ours[0].getMessage() and "dialect" in ours[0].getMessage()
    assert logging.getLogger("mt940").level == logging.DEBUG  # put back after the strict attempt


def test_an_unreadable_file_still_names_the_library_complaint_and_restores_the_level():
    before = logging.getLogger("mt940").level
    with pytest.raises(BankFileError, match="not a readable MT940 statement"):
        parse_mt940(statement().replace(":61:250304", ":61:251304").encode(), "bad.sta")
    assert logging.getLogger("mt940").level == before


# --- landing: both days' statements stay --------------------------------------------------------

def test_two_days_with_one_constant_20_both_land_and_a_resend_changes_nothing(ltc_home, monkeypatch):
    """Day by day, as a bank delivers: each run lands one new file, merged on `transaction_id` into the
    table; with the old ids the second day's rows replaced the first day's."""
    from connectors.ingest import run_ingest
    from connectors.settings import Settings

    drop = ltc_home / "drop"
    drop.mkdir()
    monkeypatch.setenv("LTC_FINANCE_DROP", str(drop))
    monkeypatch.setenv("LTC_FINANCE_SETTLE_S", "0")
    monkeypatch.setenv("LTC_FINANCE_WORKERS", "0")  # parse in this process: tiny files

    def landed():
        con = duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True)
        try:
            return con.execute("select transaction_id, file_name, value_date, amount from "
                               "raw_finance.bank_transactions order by value_date, transaction_id").fetchall()
        finally:
            con.close()

    (drop / "umsatz_2025-03-04.sta").write_text(statement("1/1", "250303"), newline="")
    run_ingest("finance")
    (drop / "umsatz_2025-03-05.sta").write_text(statement("2/1", "250304", "107,50"), newline="")
    run_ingest("finance")
    both = landed()
    assert [(r[1], r[2], r[3]) for r in both] == [
        ("umsatz_2025-03-04.sta", dt.date(2025, 3, 4), Decimal("10.00")),
        ("umsatz_2025-03-04.sta", dt.date(2025, 3, 4), Decimal("2.50")),
        ("umsatz_2025-03-05.sta", dt.date(2025, 3, 5), Decimal("10.00")),
        ("umsatz_2025-03-05.sta", dt.date(2025, 3, 5), Decimal("2.50"))]
    assert len({r[0] for r in both}) == 4
    # the first day re-sent with other bytes (LF, a new :20:): read again (new sha256), merged onto its ids
    (drop / "umsatz_2025-03-04_again.sta").write_text(statement("1/1", "250303", ref="NEU").replace("\r\n", "\n"))
    run_ingest("finance")
    again = landed()
    assert [(r[0], r[2], r[3]) for r in again] == [(r[0], r[2], r[3]) for r in both]
    assert [r[1] for r in again] == ["umsatz_2025-03-04_again.sta"] * 2 + ["umsatz_2025-03-05.sta"] * 2
