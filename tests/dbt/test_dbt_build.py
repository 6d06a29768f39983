"""dbt build on a raw warehouse, and the mart figures checked against known answers.

- test_build_on_raw_fixture: the hand-made raw fixture (tests/dbt/raw_fixture.py), always runs.
- test_build_on_sandbox_matches_ground_truth: the sandbox company generated, ingested by the four
  connectors and transformed; figures compared with ground_truth.json to the cent (slow).
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from conftest import pg_dsn, query, run_dbt  # noqa: E402
from raw_fixture import AS_OF, EXPECTED, build_raw_fixture

from connectors.marts_file import connect_warehouse, marts_path

pytestmark = pytest.mark.slow

# The mart figures that ground_truth.json's "figures" are compared with.
FIGURES_SQL = {
    "leads": "select count(*) from marts.fct_leads where not is_deleted",
    "converted_leads": "select count(*) from marts.fct_leads where not is_deleted and is_converted",
    "opportunities": "select count(*) from marts.fct_opportunities where not is_deleted",
    "won_opportunities": "select count(*) from marts.fct_opportunities where not is_deleted and is_won",
    "lost_opportunities": "select count(*) from marts.fct_opportunities where not is_deleted and is_lost",
    "won_amount": "select coalesce(sum(amount_reporting), 0) from marts.fct_opportunities where not is_deleted and is_won",
    "invoices": "select count(*) from marts.fct_invoices where not is_deleted",
    "invoiced_total": "select coalesce(sum(total_amount_reporting), 0) from marts.fct_invoices where not is_deleted",
    "receipts": "select count(*) from marts.fct_cash_receipts",
    "collected_total": "select coalesce(sum(amount_reporting), 0) from marts.fct_cash_receipts",
}


def mart_figures(db: Path, names) -> dict:
    return {name: query(db, FIGURES_SQL[name])[0][0] for name in names}


def test_build_on_raw_fixture(tmp_path: Path, dbt_work: Path):
    db = build_raw_fixture(tmp_path / "warehouse.duckdb")
    with connect_warehouse(db, read_only=False) as con:  # marts as a build before the marts file left them
        con.execute("create schema marts; create table marts.fct_leads as select 'stale' as lead_id")
    run = run_dbt(["build"], db, dbt_work, as_of=AS_OF)
    assert run.returncode == 0, run.output[-5000:]

    # the marts are in their own file (connectors/marts_file.py), the warehouse's stale ones gone
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select schema_name from information_schema.schemata "
                           "where catalog_name = current_database() and schema_name = 'marts'").fetchall() == []
    with duckdb.connect(str(marts_path(db)), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_leads where not is_deleted").fetchone() == (EXPECTED["leads"],)

    figures = mart_figures(db, ["leads", "converted_leads", "won_opportunities", "won_amount",
                                "invoiced_total", "collected_total"])
    for name, value in figures.items():
        assert value == EXPECTED[name], (name, value, EXPECTED[name])

    statuses = dict(query(db, "select receipt_id, application_status from marts.fct_cash_receipts"))
    assert statuses == EXPECTED["application_status"]

    # money is exact decimal in every mart, never float
    floats = query(db, "select table_name, column_name, data_type from information_schema.columns "
                       "where table_schema = 'marts' and data_type in ('DOUBLE', 'FLOAT', 'REAL')")
    assert floats == []

    # AR as of the as-of date: the EUR invoice of 110.00 issued 2025-11-01 is 30 days past due
    assert query(db, "select outstanding_amount_reporting, days_past_due from marts.fct_invoices "
                     "where invoice_id = 'I4'") == [(Decimal("123.20"), 30)]
    # the report's ending AR for the as-of month equals open AR in fct_invoices
    (ending_ar,), = query(db, "select ending_ar from marts.rpt_cash_collection where period_month = '2025-12-01'")
    (open_ar,), = query(db, "select sum(outstanding_amount_reporting) from marts.fct_invoices "
                            "where not is_deleted and not is_cancelled")
    assert ending_ar == open_ar == Decimal("123.20")
    # one journey per lead and per lead-less opportunity; the duplicate lead is flagged
    assert query(db, "select count(*) from marts.fct_lead_to_cash") == [(8,)]
    assert query(db, "select lead_id from marts.fct_leads where is_duplicate") == [("00Q000000000004AAA",)]
    # cohort funnel: January's two leads both reached S2, one reached S6
    rows = dict(query(db, "select stage_code, journeys from marts.rpt_funnel_conversion "
                          "where measure_type = 'cohort' and dimension = 'total' and period_month = '2025-01-01'"))
    assert rows == {"S1": 2, "S2": 2, "S3": 1, "S4": 1, "S5": 1, "S6": 1}


def test_back_dated_as_of_ignores_later_cash(tmp_path: Path, dbt_work: Path):
    """As of 2025-04-30 the second EUR receipt (booked 2025-05-20) has not arrived: I2 is open."""
    db = build_raw_fixture(tmp_path / "warehouse.duckdb")
    run = run_dbt(["build"], db, dbt_work, as_of="2025-04-30")
    assert run.returncode == 0, run.output[-5000:]
    rows = query(db, "select applied_amount, outstanding_amount, days_past_due, is_fully_paid "
                     "from marts.fct_invoices where invoice_id = 'I2'")
    assert rows == [(Decimal("1000.00"), Decimal("1200.00"), 11, False)]


def test_a_null_in_a_not_null_column_fails_its_model_and_keeps_the_mart(tmp_path: Path, dbt_work: Path):
    """The marts' not_null checks are contract constraints (no test node each): DuckDB refuses the
    insert, the model fails naming the column, and the mart built before stays as it was."""
    db = build_raw_fixture(tmp_path / "warehouse.duckdb")
    run = run_dbt(["run", "--select", "+fct_invoices"], db, dbt_work, as_of=AS_OF)
    assert run.returncode == 0, run.output[-5000:]
    before = query(db, "select invoice_id, invoice_number from marts.fct_invoices order by invoice_id")
    con = connect_warehouse(db, read_only=False)
    con.execute("update intermediate.int_invoices_collected set invoice_number = null where invoice_id = 'I4'")
    con.close()

    run = run_dbt(["run", "--select", "fct_invoices"], db, dbt_work, as_of=AS_OF)
    assert run.returncode != 0
    assert "NOT NULL constraint failed" in run.output and "invoice_number" in run.output, run.output[-3000:]
    assert query(db, "select invoice_id, invoice_number from marts.fct_invoices order by invoice_id") == before


SANDBOX_FIGURES = ["leads", "converted_leads", "opportunities", "won_opportunities", "lost_opportunities",
                   "won_amount", "invoices", "invoiced_total", "receipts", "collected_total"]


@pytest.mark.extended
def test_build_on_sandbox_matches_ground_truth(tmp_path: Path, dbt_work: Path, monkeypatch):
    from sandbox_pipeline import land_sandbox

    db, truth = land_sandbox(tmp_path, seed=42, scale=int(os.environ.get("LTC_TEST_SCALE", "300")),
                             monkeypatch=monkeypatch)
    run = run_dbt(["build"], db, dbt_work, as_of=truth["as_of"])
    assert run.returncode == 0, run.output[-5000:]

    got = mart_figures(db, SANDBOX_FIGURES)
    want = {n: (Decimal(truth["figures"][n]) if isinstance(truth["figures"][n], str) else truth["figures"][n])
            for n in SANDBOX_FIGURES}
    assert got == want

    # planted anomalies surface where the marts say they should
    anomalies = truth["anomalies"]
    duplicates = {r[0] for r in query(db, "select lead_id from marts.fct_leads where is_duplicate")}
    assert duplicates == set(anomalies["duplicate_leads"])
    status = dict(query(db, "select receipt_id, application_status from marts.fct_cash_receipts"))
    assert {status[r] for r in anomalies["receipts_missing_reference"]} <= {"unidentified"}
    # (a wrong reference may name another customer's real invoice: v1 applies it there, by design)
    assert {status[r] for r in anomalies["overpayments"]} <= {"partially applied"}
    deleted = {r[0] for r in query(db, "select invoice_id from marts.fct_invoices where is_deleted")}
    assert deleted == set(anomalies["deleted_records"]["invoices"])


@pytest.mark.postgres
def test_build_on_postgres_gives_the_same_figures(tmp_path: Path, dbt_work: Path, require_service):
    """The marts are portable: the pg target builds the same figures from the same raw fixture."""
    import uuid

    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(pg_dsn("postgres"), connect_timeout=3)
    except psycopg2.OperationalError as exc:
        require_service(False, f"no Postgres on 127.0.0.1: {exc}")
    admin.autocommit = True
    dbname = f"ltc_dbt_test_{uuid.uuid4().hex[:8]}"
    admin.cursor().execute(f"create database {dbname}")
    try:
        from raw_fixture import build_raw_fixture_pg

        build_raw_fixture_pg(pg_dsn(dbname))
        run = run_dbt(["build"], tmp_path / "unused.duckdb", dbt_work, as_of=AS_OF,
                      extra_env={"DBT_TARGET": "pg", "LTC_PG_DBNAME": dbname})
        assert run.returncode == 0, run.output[-5000:]
        con = psycopg2.connect(pg_dsn(dbname))
        try:
            cur = con.cursor()
            got = {}
            for name in ["leads", "converted_leads", "won_opportunities", "won_amount",
                         "invoiced_total", "collected_total"]:
                cur.execute(FIGURES_SQL[name])
                got[name] = cur.fetchone()[0]
        finally:
            con.close()
        assert got == {k: EXPECTED[k] for k in got}
    finally:
        admin.cursor().execute(f"drop database if exists {dbname} with (force)")
        admin.close()
