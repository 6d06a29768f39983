"""The finance drop end to end: an fsspec `memory://` drop (quarantine included), the settle window,
a bank-CSV column map from LTC_FINANCE_CSV_MAP, and `ltc ingest finance` twice → identical tables."""

from __future__ import annotations

import json
import os
import time
import types
import uuid
from decimal import Decimal

import fsspec
import pytest

from connectors.finance import drop as drop_module
from connectors.ingest import run_ingest

from warehouse import query  # noqa: E402 - tests/support
from bank_samples import CAMT, CSV, DEFAULT_LAYOUT, GERMAN, GERMAN_MAP, HIST, MT  # noqa: E402 - tests/support, see tests/conftest.py

BUSINESS = ("transaction_id, source_format, statement_id, account_iban, booking_date, value_date, credit_debit, "
            "amount, currency, end_to_end_id, debtor_name, debtor_iban, remittance_unstructured, transaction_details")


def _camt(ref: str, amount: str = "10.00") -> str:
    return CAMT.replace("<AcctSvcrRef>C1<", f"<AcctSvcrRef>{ref}<").replace(">10.00<", f">{amount}<")


# ---- memory:// drop ---------------------------------------------------------------------------

@pytest.fixture
def memory_drop():
    fs = fsspec.filesystem("memory")
    root = f"/ltc-test-{uuid.uuid4().hex[:8]}/drop"
    fs.makedirs(root, exist_ok=True)
    yield fs, root
    fs.rm(root.rsplit("/", 1)[0], recursive=True)


def test_memory_url_drop_lands_and_quarantines_inside_the_filesystem(ltc_home, monkeypatch, memory_drop):
    fs, root = memory_drop
    fs.pipe_file(f"{root}/statements/a.xml", CAMT.encode())
    fs.pipe_file(f"{root}/statements/b.sta", MT.encode())
    fs.pipe_file(f"{root}/c.csv", CSV.encode())
    fs.pipe_file(f"{root}/statements/broken.xml", b"<Document><BkToCstmrStmt><Stmt>")
    fs.pipe_file(f"{root}/statements/e.xml.part", b"half written")
    fs.pipe_file(f"{root}/fx_rates.csv", b"rate_date,currency,reporting_currency,rate\n2025-03-03,EUR,USD,1.050000\n")
    monkeypatch.setenv("LTC_FINANCE_DROP", f"memory://{root}")
    monkeypatch.setenv("LTC_FINANCE_SETTLE_S", "0")

    run_ingest("finance")
    bank = query("select transaction_id, source_format, amount from raw_finance.bank_transactions order by 1")
    assert bank == [("B1", "bank_csv", Decimal("30.25")), ("C1", "camt053", Decimal("10.00")),
                    ("M1", "mt940", Decimal("20.50"))]
    assert query("select currency, rate from raw_finance.fx_rates") == [("EUR", Decimal("1.050000"))]
    (quarantined,) = query("select file_name, reason from raw_finance.quarantined_files")
    assert quarantined[0] == "broken.xml" and "XML" in quarantined[1]
    # moved within the memory filesystem, with its reason next to it; the .part file left alone
    assert not fs.exists(f"{root}/statements/broken.xml")
    assert fs.cat_file(f"{root}/.quarantine/broken.xml") == b"<Document><BkToCstmrStmt><Stmt>"
    assert b"broken.xml" in fs.cat_file(f"{root}/.quarantine/broken.xml.reason.txt")
    assert fs.exists(f"{root}/statements/e.xml.part")

    # a second run lands nothing new; a new file in the memory drop lands
    fs.pipe_file(f"{root}/statements/f.xml", _camt("C2", "11.00").encode())
    result = run_ingest("finance")
    assert result.rows_loaded.get("bank_transactions") == 1
    assert [r[0] for r in query("select transaction_id from raw_finance.bank_transactions order by 1")] == \
           ["B1", "C1", "C2", "M1"]
    assert len(query("select * from raw_finance.quarantined_files")) == 1


# ---- settle window ----------------------------------------------------------------------------

def test_a_file_modified_during_the_settle_window_waits_for_the_next_run(ltc_home, monkeypatch):
    drop = ltc_home / "drop"
    drop.mkdir()
    old, busy = drop / "old.xml", drop / "busy.xml"
    old.write_text(_camt("OLD"))
    busy.write_text(_camt("BUSY"))
    long_ago = time.time() - 3600
    os.utime(old, (long_ago, long_ago))  # settled long ago; busy.xml was just written (young)
    monkeypatch.setenv("LTC_FINANCE_DROP", str(drop))
    monkeypatch.setenv("LTC_FINANCE_SETTLE_S", "30")  # busy.xml (just written) is young; no real waiting:

    sleeps = []

    def bank_still_writing(seconds):  # the window "passes" at once, and busy.xml was touched meanwhile
        sleeps.append(seconds)
        stamp = time.time() + 1
        os.utime(busy, (stamp, stamp))

    monkeypatch.setattr(drop_module, "time", types.SimpleNamespace(time=time.time, sleep=bank_still_writing))
    run_ingest("finance")
    assert sleeps == [30.0]  # the configured window, waited once per run (not once per resource)
    assert query("select transaction_id from raw_finance.bank_transactions") == [("OLD",)]
    assert not _has_quarantine() or not query("select * from raw_finance.quarantined_files")

    # next run: busy.xml no longer changes during the window → landed; old.xml not landed twice
    sleeps.clear()
    monkeypatch.setattr(drop_module, "time", types.SimpleNamespace(time=time.time, sleep=sleeps.append))
    result = run_ingest("finance")
    assert sleeps == [30.0]
    assert result.rows_loaded.get("bank_transactions") == 1
    assert query("select transaction_id from raw_finance.bank_transactions order by 1") == [("BUSY",), ("OLD",)]


def test_settled_files_are_read_without_waiting(ltc_home, monkeypatch):
    drop = ltc_home / "drop"
    drop.mkdir()
    (drop / "a.xml").write_text(CAMT)
    long_ago = time.time() - 3600
    os.utime(drop / "a.xml", (long_ago, long_ago))
    monkeypatch.setenv("LTC_FINANCE_DROP", str(drop))
    monkeypatch.setenv("LTC_FINANCE_SETTLE_S", "30")
    monkeypatch.setattr(drop_module, "time", types.SimpleNamespace(time=time.time, sleep=lambda s: pytest.fail("slept")))
    run_ingest("finance")
    assert query("select transaction_id from raw_finance.bank_transactions") == [("C1",)]


# ---- custom CSV column map --------------------------------------------------------------------

def test_csv_map_from_the_environment_lands_the_same_values(ltc_home, monkeypatch):
    monkeypatch.setenv("LTC_FINANCE_SETTLE_S", "0")
    landed = {}
    for name, text, csv_map in (("german", GERMAN, GERMAN_MAP), ("default", DEFAULT_LAYOUT, None)):
        home = ltc_home / name
        (home / "drop").mkdir(parents=True)
        (home / "drop" / f"{name}.csv").write_text(text, encoding="utf-8")
        monkeypatch.setenv("LTC_HOME", str(home))
        monkeypatch.setenv("LTC_FINANCE_DROP", str(home / "drop"))
        if csv_map:
            (home / "map.json").write_text(json.dumps(csv_map))
            monkeypatch.setenv("LTC_FINANCE_CSV_MAP", str(home / "map.json"))
        else:
            monkeypatch.delenv("LTC_FINANCE_CSV_MAP", raising=False)
        run_ingest("finance")
        landed[name] = query(f"select {BUSINESS} from raw_finance.bank_transactions order by 1")
        assert not query("select * from raw_finance.quarantined_files") if _has_quarantine() else True
    assert landed["german"] == landed["default"]
    assert [r[7] for r in landed["german"]] == [Decimal("1234.56"), Decimal("12.50")]


def _has_quarantine() -> bool:
    return bool(query("select 1 from information_schema.tables where table_schema = 'raw_finance' "
                       "and table_name = 'quarantined_files'"))


# ---- `ltc ingest finance` twice ---------------------------------------------------------------

def test_ltc_ingest_finance_twice_leaves_identical_tables(ltc_home, monkeypatch, capsys):
    from orchestration.cli import main

    drop = ltc_home / "drop"
    (drop / "statements").mkdir(parents=True)
    (drop / "statements" / "a.xml").write_text(CAMT)
    (drop / "statements" / "b.sta").write_text(MT)
    (drop / "statements" / "c.csv").write_text(CSV)
    (drop / "statements" / "copy-of-a.xml").write_text(CAMT)  # same bytes, other name: lands once
    (drop / "statements" / "broken.csv").write_text("not,a\nbank,export\n")
    (drop / "eurofxref-hist.xml").write_text(HIST)
    (drop / "fx_rates.csv").write_text("rate_date,currency,reporting_currency,rate\n2025-03-03,EUR,USD,1.050000\n")
    monkeypatch.setenv("LTC_FINANCE_DROP", str(drop))
    monkeypatch.setenv("LTC_FINANCE_SETTLE_S", "0")

    def tables():
        return {
            # nothing new in the second run: every column, dlt's included, stays as it was
            "bank": query("select * exclude (_dlt_id) from raw_finance.bank_transactions order by transaction_id"),
            "quarantine": query("select * from raw_finance.quarantined_files order by file_sha256"),
            # FX files are re-read every run (they grow): the merged rates must not change
            "fx": query("select rate_date, currency, reporting_currency, rate from raw_finance.fx_rates order by 1, 2, 3"),
        }

    assert main(["ingest", "finance"]) == 0
    first = tables()
    assert main(["ingest", "finance"]) == 0
    assert tables() == first
    assert [r[0] for r in first["bank"]] == ["B1", "C1", "M1"]
    assert [r[2] for r in first["quarantine"]] == [first["quarantine"][0][2]] and len(first["quarantine"]) == 1
    assert len(first["fx"]) == 6
    assert capsys.readouterr().out.count("ingested finance") == 2
