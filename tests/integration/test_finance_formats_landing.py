"""All three statement formats land into raw_finance.bank_transactions; a bad file is moved to
quarantine with its reason; a second run on the same drop leaves identical tables."""

from __future__ import annotations

from decimal import Decimal

import duckdb

from connectors.ingest import run_ingest
from connectors.settings import Settings

from bank_samples import CAMT, CSV, MT


def _tables(db):
    con = duckdb.connect(str(db), read_only=True)
    try:
        bank = con.execute("select transaction_id, source_format, amount, currency from raw_finance.bank_transactions "
                           "order by 1").fetchall()
        quarantine = con.execute("select file_name, reason from raw_finance.quarantined_files").fetchall()
    finally:
        con.close()
    return bank, quarantine


def test_three_formats_land_once_and_bad_file_is_moved(ltc_home, monkeypatch):
    drop = ltc_home / "drop"
    (drop / "statements").mkdir(parents=True)
    (drop / "statements" / "a.xml").write_text(CAMT)
    (drop / "statements" / "b.sta").write_text(MT)
    (drop / "statements" / "c.csv").write_text(CSV)
    (drop / "statements" / "broken.xml").write_text("<Document><BkToCstmrStmt><Stmt>")
    (drop / "statements" / "d.csv.part").write_text("half written")
    monkeypatch.setenv("LTC_FINANCE_DROP", str(drop))
    monkeypatch.setenv("LTC_FINANCE_SETTLE_S", "0")
    run_ingest("finance")
    first = _tables(Settings.from_env().duckdb_path)
    run_ingest("finance")
    assert _tables(Settings.from_env().duckdb_path) == first
    bank, quarantine = first
    assert bank == [("B1", "bank_csv", Decimal("30.25"), "USD"), ("C1", "camt053", Decimal("10.00"), "EUR"),
                    ("M1", "mt940", Decimal("20.50"), "GBP")]
    assert [q[0] for q in quarantine] == ["broken.xml"] and "XML" in quarantine[0][1]
    assert not (drop / "statements" / "broken.xml").exists()
    assert (drop / ".quarantine" / "broken.xml").exists()
    assert "broken.xml" in (drop / ".quarantine" / "broken.xml.reason.txt").read_text()
