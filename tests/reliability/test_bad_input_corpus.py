"""Every input of the bad input corpus (`bad_inputs.CORPUS`) gets the outcome its contract names.

Why through `run_ingest` and not the parsers alone: the promise is about what LANDS. So each system
gets ONE real ingest run over a batch holding all its bad inputs next to good ones (a drop folder
for the finance files and the ad-spend exports, a copy of the sandbox ERP for the ERP rows), and
each parametrised case then checks its own input in the warehouse: refused whole (nothing of the
file landed, the file moved to `.quarantine/`, a `quarantined_files` reason naming the file and the
location), or row quarantined (a `quarantined_rows` reason naming file + line or table + key, the
good rows of the same file or table landed), or the run refused (nothing landed), or landed intact.
One run per system keeps the suite fast, and proves that the good inputs of a batch full of bad
ones still land.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from bad_inputs import (BIG, CORPUS, FILE_REFUSED, LANDS, ROW_QUARANTINED, RUN_REFUSED, TABLE_REFUSED, BadInput,
                        corpus_table)
from bank_samples import CAMT, CSV, MT
from connectors.ingest import IngestError, run_ingest

FINANCE = ("bank_csv", "camt053", "mt940")
GOOD_FINANCE = {"good.xml": CAMT, "good.sta": MT, "good.csv": CSV}  # transaction ids C1, M1, B1


def _cases(*systems: str) -> list:
    return [pytest.param(c, id=c.id) for c in CORPUS if c.system in systems]


class Warehouse:
    """Read-only queries on one run's DuckDB file."""

    def __init__(self, path: Path):
        self.path = path

    def rows(self, sql: str, *params) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()


def _isolated_run(home: Path, env: dict[str, str], system: str):
    """`run_ingest(system)` in its own LTC_HOME with only `env` set; (result or IngestError, warehouse)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("LTC_", "SALESFORCE_")) and name != "LTC_REQUIRE_SERVICES":
                mp.delenv(name)
        mp.setenv("LTC_HOME", str(home))
        for name, value in env.items():
            mp.setenv(name, value)
        try:
            outcome = run_ingest(system)
        except IngestError as exc:
            outcome = exc
    return outcome, Warehouse(home / "warehouse.duckdb")


# ---- one run per system ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def finance_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_finance")
    drop = root / "drop"
    drop.mkdir()
    for name, text in GOOD_FINANCE.items():
        (drop / name).write_text(text)
    for case in CORPUS:
        if case.system in FINANCE:
            (drop / case.file_name).write_bytes(case.build())
    result, wh = _isolated_run(root / "home", {"LTC_FINANCE_DROP": str(drop), "LTC_FINANCE_SETTLE_S": "0"}, "finance")
    assert not isinstance(result, Exception), result
    return drop, wh


@pytest.fixture(scope="module")
def marketing_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_marketing")
    drop = root / "adspend"
    drop.mkdir()
    for case in CORPUS:
        if case.system == "ad_spend":
            (drop / case.file_name).write_bytes(case.build())
    result, wh = _isolated_run(root / "home", {"LTC_ADSPEND_DROP": str(drop)}, "marketing")
    assert not isinstance(result, Exception), result
    return drop, wh


@pytest.fixture(scope="module")
def sandbox_erp(tmp_path_factory) -> Path:
    from connectors.sandbox.generator import generate

    root = tmp_path_factory.mktemp("bad_erp_sandbox")
    generate(root, seed=5, scale=150, bank_formats=False)
    return root / "erp.sqlite"


def _erp_copy(sandbox_erp: Path, folder: Path, cases: list[BadInput]) -> tuple[Path, dict[str, str]]:
    """A copy of the sandbox ERP with `cases` applied; {case id: the key of the row it broke}."""
    folder.mkdir(parents=True)
    db = folder / "erp.sqlite"
    shutil.copy(sandbox_erp, db)
    keys = {}
    with sqlite3.connect(db) as con:
        for case in cases:
            if case.key:
                keys[case.id] = con.execute(case.key).fetchone()[0]  # before the change: the key is unchanged
            for statement in case.sql:
                con.execute(statement)
    return db, keys


@pytest.fixture(scope="module")
def erp_run(sandbox_erp, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_erp")
    cases = [c for c in CORPUS if c.system == "erp" and c.outcome in (ROW_QUARANTINED, LANDS)]
    db, keys = _erp_copy(sandbox_erp, root / "source", cases)
    result, wh = _isolated_run(root / "home", {"LTC_ERP_URL": f"sqlite:///{db}"}, "erp")
    assert not isinstance(result, Exception), result
    return db, keys, wh


# ---- finance: a bad statement file is refused whole --------------------------------------------------

def _landed_files(wh: Warehouse) -> set[str]:
    return {f for (f,) in wh.rows("select distinct file_name from raw_finance.bank_transactions")}


def test_good_statement_files_in_the_bad_batch_land(finance_run):
    _, wh = finance_run
    landed = dict(wh.rows("select transaction_id, amount from raw_finance.bank_transactions "
                          "where file_name like 'good.%'"))
    assert landed == {"C1": Decimal("10.00"), "M1": Decimal("20.50"), "B1": Decimal("30.25")}


@pytest.mark.parametrize("case", _cases(*FINANCE))
def test_bad_statement_file(case: BadInput, finance_run):
    drop, wh = finance_run
    reasons = dict(wh.rows("select file_name, reason from raw_finance.quarantined_files"))
    if case.outcome == LANDS:
        assert case.file_name not in reasons
        landed = wh.rows("select transaction_id, amount, length(remittance_unstructured), debtor_name "
                         "from raw_finance.bank_transactions where file_name = ?", case.file_name)
        assert [(r[0], r[1]) for r in landed] == [(case.id, {"camt053": Decimal("10.00"), "mt940": Decimal("20.50"),
                                                              "bank_csv": Decimal("30.25")}[case.system])]
        if case.id == "camt_huge_remittance":
            assert landed[0][2] == len("INV-") + BIG  # not truncated
        return
    assert case.outcome == FILE_REFUSED
    reason = reasons.get(case.file_name)
    assert reason is not None, f"{case.file_name} was not quarantined"
    assert case.file_name in reason and case.fragment in reason, reason
    assert case.file_name not in _landed_files(wh)  # atomic: not one row of it
    assert not (drop / case.file_name).exists()
    assert (drop / ".quarantine" / case.file_name).read_bytes() == case.build()
    assert case.fragment in (drop / ".quarantine" / f"{case.file_name}.reason.txt").read_text()


# ---- ad spend: a bad row is quarantined, the good row of its file lands -----------------------------

@pytest.mark.parametrize("case", _cases("ad_spend"))
def test_bad_ad_spend_input(case: BadInput, marketing_run):
    drop, wh = marketing_run
    files = dict(wh.rows("select file_name, reason from raw_marketing.quarantined_files"))
    landed = {c for (c,) in wh.rows("select campaign_id from raw_marketing.ad_spend where file_name = ?",
                                    case.file_name)}
    if case.outcome == ROW_QUARANTINED:
        bad = wh.rows("select line, reason from raw_marketing.quarantined_rows where file_name = ?", case.file_name)
        assert len(bad) == 1, bad
        line, reason = bad[0]
        assert line == 3 and case.file_name in reason and case.fragment in reason, reason
        assert landed == {f"{case.id}-ok"}  # the good row of the same file landed, the bad one did not
        assert "1 row(s) quarantined (1 landed)" in files[case.file_name]
    elif case.outcome == FILE_REFUSED:
        assert case.file_name in files[case.file_name] and case.fragment in files[case.file_name], files[case.file_name]
        assert landed == set()
    else:
        assert case.outcome == LANDS and case.file_name not in files
        assert wh.rows("select campaign_id, spend, ad_group from raw_marketing.ad_spend where file_name = ?",
                       case.file_name) == [(case.id, Decimal("12.50"), "AG-7")]


# ---- ERP: a bad row is quarantined with table, key and column; the rest lands ------------------------

ERP_TABLES = {"invoices": "invoice_id", "sales_orders": "order_id", "invoice_lines": "invoice_line_id",
              "sales_order_lines": "order_line_id", "customers": "customer_id"}


def _table_of(case: BadInput) -> str:
    return next(t for t in ERP_TABLES if f"from {t}" in case.key)


@pytest.mark.parametrize("case", [p for p in _cases("erp") if p.values[0].outcome in (ROW_QUARANTINED, LANDS)])
def test_bad_erp_row(case: BadInput, erp_run):
    source, keys, wh = erp_run
    table, key = _table_of(case), keys[case.id]
    key_column = ERP_TABLES[table]
    quarantined = wh.rows("select row_key, reason from raw_erp.quarantined_rows where source_table = ?", table)
    landed = {k for (k,) in wh.rows(f"select {key_column} from raw_erp.{table}")}
    with sqlite3.connect(source) as con:
        in_source = {k for (k,) in con.execute(f"select {key_column} from {table}")}
    broken = {k for k, _ in quarantined}
    if case.outcome == LANDS:
        assert key in landed and key not in broken
        assert wh.rows(f"select length(name) from raw_erp.{table} where {key_column} = ?", key) == [(BIG,)]
        return
    reason = dict(quarantined).get(key)
    assert reason is not None, f"{table} {key} not quarantined: {quarantined}"
    assert reason.startswith(f"{table} row {key_column}={key!r}") and case.fragment in reason, reason
    assert key not in landed
    assert landed == in_source - broken  # every other row of the table landed


def _case(outcome: str) -> BadInput:
    (case,) = [c for c in CORPUS if c.system == "erp" and c.outcome == outcome]
    return case


def test_erp_schema_drift_under_skip_table_refuses_that_table_and_lands_the_rest(sandbox_erp, tmp_path):
    case = _case(TABLE_REFUSED)
    db, _ = _erp_copy(sandbox_erp, tmp_path / "source", [case])
    result, wh = _isolated_run(tmp_path / "home", {"LTC_ERP_URL": f"sqlite:///{db}"}, "erp")
    assert not isinstance(result, Exception), result
    assert wh.rows("select row_key, source_table from raw_erp.quarantined_rows where entity = 'invoices'") == [
        ("*", "invoices")]
    (reason,) = wh.rows("select reason from raw_erp.quarantined_rows where entity = 'invoices'")[0]
    assert case.fragment in reason, reason
    assert not wh.rows("select 1 from information_schema.tables where table_schema = 'raw_erp' "
                       "and table_name = 'invoices'")
    with sqlite3.connect(db) as con:
        orders = con.execute("select count(*) from sales_orders").fetchone()
    assert wh.rows("select count(*) from raw_erp.sales_orders") == [orders]


def test_erp_schema_drift_under_on_missing_column_error_refuses_the_run(sandbox_erp, tmp_path):
    from connectors.erp.mapping import DEFAULT_MAPPING

    case = _case(RUN_REFUSED)
    db, _ = _erp_copy(sandbox_erp, tmp_path / "source", [case])
    strict = tmp_path / "strict.yml"
    strict.write_text(DEFAULT_MAPPING.read_text().replace("on_missing_column: skip_table", "on_missing_column: error"))
    result, wh = _isolated_run(tmp_path / "home", {"LTC_ERP_URL": f"sqlite:///{db}", "LTC_ERP_MAPPING": str(strict)},
                               "erp")
    assert isinstance(result, IngestError) and case.fragment in str(result), result
    assert not wh.path.exists() or not wh.rows(
        "select 1 from information_schema.tables where table_schema = 'raw_erp' and table_name = 'invoices'")


# ---- the corpus itself -----------------------------------------------------------------------------

def test_the_corpus_is_big_varied_and_printable():
    assert len(CORPUS) >= 50 and len({c.id for c in CORPUS}) == len(CORPUS)
    assert {c.system for c in CORPUS} == {"bank_csv", "camt053", "mt940", "ad_spend", "erp"}
    assert all(c.fragment for c in CORPUS if c.outcome != LANDS)
    table = corpus_table()
    assert table.count("\n") == len(CORPUS) + 1 and "| `csv_huge_cell.csv` | bank_csv |" in table
