"""All three statement formats land into raw_finance.bank_transactions; a bad file is moved to
quarantine with its reason; a second run on the same drop leaves identical tables."""

from __future__ import annotations

import shutil
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


def test_a_transaction_in_two_new_files_of_one_run_lands_once_from_the_later_file(ltc_home, monkeypatch):
    """Overlapping statements (a re-sent day inside a weekly file) delivered in the same run."""
    drop = ltc_home / "drop"
    drop.mkdir()
    (drop / "a_daily.xml").write_text(CAMT)
    (drop / "b_weekly.xml").write_text(CAMT.replace("<Id>S1</Id>", "<Id>S1-WEEK</Id>"))
    monkeypatch.setenv("LTC_FINANCE_DROP", str(drop))
    monkeypatch.setenv("LTC_FINANCE_SETTLE_S", "0")
    result = run_ingest("finance")
    con = duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True)
    try:
        rows = con.execute("select transaction_id, statement_id, file_name from raw_finance.bank_transactions").fetchall()
    finally:
        con.close()
    assert rows == [("C1", "S1-WEEK", "b_weekly.xml")]
    assert any("1 transaction(s) came in more than one new file" in n for n in result.notes)


def test_worker_processes_land_exactly_what_one_process_lands(ltc_home, monkeypatch, tmp_path):
    """A big drop is parsed by worker processes beside the ingest process (drop.BankScan); the
    landed table must not depend on that. PARALLEL_MIN_BYTES is lowered so a small drop takes the
    worker path; a bad file among them is still quarantined with its reason."""
    from benchmarks.camt import write_drop

    from connectors.finance import drop as drop_module

    monkeypatch.setattr(drop_module, "PARALLEL_MIN_BYTES", 1)
    start = drop_module._start_in_background

    def start_and_wait(pool, workers):  # deterministic: the workers take files from the first one
        ready = start(pool, workers)
        assert ready.wait(120), "worker processes did not start"
        return ready

    monkeypatch.setattr(drop_module, "_start_in_background", start_and_wait)
    write_drop(tmp_path / "drop", 4000)
    (tmp_path / "drop" / "zz_broken.xml").write_text("<Document><BkToCstmrStmt><Stmt>")
    monkeypatch.setenv("LTC_FINANCE_SETTLE_S", "0")
    landed = {}
    for workers in ("0", "2"):
        folder = tmp_path / f"drop_{workers}"
        shutil.copytree(tmp_path / "drop", folder)
        monkeypatch.setenv("LTC_FINANCE_DROP", str(folder))
        monkeypatch.setenv("LTC_FINANCE_WORKERS", workers)
        monkeypatch.setenv("LTC_HOME", str(tmp_path / f"home_{workers}"))
        notes = run_ingest("finance").notes
        assert any("parsed in worker processes" in n for n in notes) == (workers == "2"), notes
        con = duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True)
        try:
            landed[workers] = (
                con.execute("select * exclude (_dlt_id, _dlt_load_id, _loaded_at) from raw_finance.bank_transactions "
                            "order by transaction_id").fetchall(),
                con.execute("select file_name, reason from raw_finance.quarantined_files").fetchall())
        finally:
            con.close()
    assert len(landed["0"][0]) > 4000
    assert landed["2"] == landed["0"]
    assert [q[0] for q in landed["0"][1]] == ["zz_broken.xml"]
