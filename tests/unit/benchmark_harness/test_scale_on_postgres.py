"""The scale benchmark on a Postgres warehouse: the environment it gives the phases, a database per
repeat that is dropped even when a phase fails, raw checks that give the same answer as on DuckDB,
and the reports' DuckDB copy of the marts (reports/warehouse.py) that keeps money exact."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from benchmarks.scale import PLACEHOLDER_PASSWORD, postgres_env, warehouse_env
from connectors.marts_file import connect_warehouse
from connectors.settings import Settings
from postgres_db import ADMIN_DSN, dsn, fresh_database


def test_the_phases_get_dlts_dsn_and_dbts_pg_variables_from_one_dsn():
    env = postgres_env("postgresql://etl:s%40cret@db.internal:6543/ltc_bench_1")
    assert env == {"LTC_WAREHOUSE": "postgres", "LTC_PG_DSN": "postgresql://etl:s%40cret@db.internal:6543/ltc_bench_1",
                   "LTC_PG_HOST": "db.internal", "LTC_PG_PORT": "6543", "LTC_PG_USER": "etl",
                   "LTC_PG_DBNAME": "ltc_bench_1", "DBT_ENV_SECRET_PG_PASSWORD": "s@cret"}


def test_a_dsn_without_password_gets_the_placeholder_dlt_needs():
    env = postgres_env("postgresql://postgres@127.0.0.1:5432/ltc_bench_2")
    assert env["LTC_PG_DSN"] == f"postgresql://postgres:{PLACEHOLDER_PASSWORD}@127.0.0.1:5432/ltc_bench_2"
    assert env["LTC_PG_USER"] == "postgres" and env["LTC_PG_PORT"] == "5432"


def test_duckdb_needs_no_database():
    with warehouse_env("duckdb") as env:
        assert env == {}


def _databases() -> set[str]:
    import psycopg2

    con = psycopg2.connect(ADMIN_DSN, connect_timeout=3)
    try:
        with con.cursor() as cur:
            cur.execute("select datname from pg_database")
            return {r[0] for r in cur.fetchall()}
    finally:
        con.close()


@pytest.fixture
def postgres(require_service):
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        psycopg2.connect(ADMIN_DSN, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        require_service(False, f"no Postgres on 127.0.0.1:5432: {exc}")


@pytest.mark.postgres
def test_each_repeat_gets_a_fresh_database_dropped_even_when_a_phase_fails(postgres):
    import psycopg2

    with pytest.raises(RuntimeError, match="dbt failed"):
        with warehouse_env("postgres") as env:
            name = env["LTC_PG_DBNAME"]
            assert name.startswith("ltc_bench_") and name in _databases()
            con = psycopg2.connect(env["LTC_PG_DSN"])  # a session left open, as a killed phase leaves it
            raise RuntimeError("dbt failed")
    assert name not in _databases()
    con.close()


def _execute(dbname: str, sql: str) -> None:
    import psycopg2

    con = psycopg2.connect(dsn(dbname))
    con.autocommit = True
    try:
        con.cursor().execute(sql)
    finally:
        con.close()


RAW_SQL = """
create schema raw_bench;
create table raw_bench.invoices (invoice_id text, amount numeric(18,2), currency text,
                                 issued_at timestamptz, note interval, secret text);
insert into raw_bench.invoices values
  ('INV-1', 10.10, 'EUR', '2025-01-02 10:00+00', '1 day', 'x'),
  ('INV-2', 20.20, 'EUR', '2025-01-03 10:00+00', null, 'y'),
  ('INV-2', 30.30, 'XXX', null, null, 'z'),
  ('INV-4', null, 'USD', '2025-01-05 10:00+00', null, 'w');
"""


def _suite():
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx.ExpectationSuite(name="raw_bench__invoices", meta={"key": ["invoice_id"]}, expectations=[
        gxe.ExpectColumnValuesToBeUnique(column="invoice_id", severity="critical"),
        gxe.ExpectColumnValuesToNotBeNull(column="amount", severity="critical"),
        gxe.ExpectColumnValuesToBeOfType(column="amount", type_="Decimal", severity="critical"),
        gxe.ExpectColumnValuesToBeInSet(column="currency", value_set=["EUR", "USD"], severity="critical"),
        gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=25, severity="warning"),
    ])


@pytest.mark.postgres
def test_raw_checks_on_postgres_give_the_duckdb_answer(postgres, require_service, ltc_home: Path, monkeypatch):
    # the benchmark's checks child validates through the pipeline's code (expectations/warehouse.py)
    from connectors.warehouse import duckdb_reader
    from expectations.runner import validate_table
    from expectations.warehouse import checked_columns, validate_warehouse_table

    with fresh_database(require_service, "ltc_bench_checks_test") as dbname:
        _execute(dbname, RAW_SQL)
        monkeypatch.setenv("LTC_WAREHOUSE", "postgres")
        monkeypatch.setenv("LTC_PG_DSN", dsn(dbname))
        settings = Settings.from_env()
        suite = _suite()
        with duckdb_reader(settings, {"raw_bench.invoices": checked_columns(suite, "invoice_id"),
                                      "raw_bench.absent": ["id"]}) as con:
            # only the checked columns are read: never `secret`, never the interval
            copied = [r[0] for r in con.execute("select column_name from information_schema.columns "
                                                "where table_name = 'invoices'").fetchall()]
            # a table Postgres does not have is not created
            left = con.execute("select count(*) from information_schema.tables "
                               "where table_name = 'absent'").fetchone()[0]
        on_postgres = validate_warehouse_table(settings, "raw_bench.invoices", suite, "invoice_id")
        absent = validate_warehouse_table(settings, "raw_bench.absent", _suite(), "invoice_id")

    warehouse = ltc_home / "same.duckdb"
    with connect_warehouse(warehouse, read_only=False) as con:
        con.execute("create schema raw_bench")
        con.execute("create table raw_bench.invoices (invoice_id varchar, amount decimal(18,2), currency varchar,"
                    " issued_at timestamptz, note interval, secret varchar)")
        con.execute("insert into raw_bench.invoices values ('INV-1', 10.10, 'EUR', '2025-01-02 10:00+00', "
                    "interval 1 day, 'x'), ('INV-2', 20.20, 'EUR', '2025-01-03 10:00+00', null, 'y'), "
                    "('INV-2', 30.30, 'XXX', null, null, 'z'), ('INV-4', null, 'USD', '2025-01-05 10:00+00', null, 'w')")
    on_duckdb = validate_table(warehouse, "raw_bench.invoices", _suite(), "invoice_id")

    assert sorted(copied) == ["amount", "currency", "invoice_id"]
    assert on_postgres.failed == on_duckdb.failed and len(on_duckdb.failed) == 4
    assert on_postgres.unexpected_counts == on_duckdb.unexpected_counts
    assert on_postgres.failing_keys == on_duckdb.failing_keys
    assert on_postgres.failing_keys["expect_column_values_to_be_unique(invoice_id)"] == ("INV-2",)
    assert left == 0 and absent.failed == ("table_exists",)


MARTS_SQL = """
create schema marts;
create table marts.fct_invoices (invoice_id text, amount_reporting numeric(18,2), ratio numeric,
                                 as_of_date date, loaded_at timestamptz, span interval);
insert into marts.fct_invoices values
  ('INV-1', 1234567.89, 0.1234567891, '2025-12-31', '2025-12-31 23:00+00', '2 days'),
  ('INV-2', 0.01, null, '2025-12-31', null, null);
create view marts.rpt_total as select sum(amount_reporting) as total from marts.fct_invoices;
create table public.not_a_mart (x int);
"""


@pytest.mark.postgres
def test_the_reports_read_a_duckdb_copy_of_the_marts_that_keeps_money_exact(postgres, require_service,
                                                                             ltc_home: Path, monkeypatch):
    from reports.warehouse import published_marts_path, reporting_warehouse

    with fresh_database(require_service, "ltc_bench_marts_test") as dbname:
        _execute(dbname, MARTS_SQL)
        monkeypatch.setenv("LTC_WAREHOUSE", "postgres")
        monkeypatch.setenv("LTC_PG_DSN", dsn(dbname))
        with reporting_warehouse(Settings.from_env()) as path:
            assert path.parent.parent == ltc_home
            with connect_warehouse(path, read_only=True) as con:
                tables = {r[0] for r in con.execute(
                    "select table_name from information_schema.tables where table_schema = 'marts'").fetchall()}
                types = dict(con.execute("select column_name, data_type from information_schema.columns "
                                         "where table_name = 'fct_invoices'").fetchall())
                rows = con.execute("select * from marts.fct_invoices order by invoice_id").fetchall()
                total = con.execute("select total from marts.rpt_total").fetchone()[0]
        assert not path.exists()  # published: renamed to the published copy
        with duckdb.connect(str(published_marts_path(Settings.from_env())), read_only=True) as con:
            assert con.execute("select total from marts.rpt_total").fetchone()[0] == Decimal("1234567.90")

    assert tables == {"fct_invoices", "rpt_total"}
    assert types["amount_reporting"] == "DECIMAL(18,2)" and types["as_of_date"] == "DATE"
    assert rows[0][:4] == ("INV-1", Decimal("1234567.89"), Decimal("0.1234567891"), dt.date(2025, 12, 31))
    assert rows[0][4] == dt.datetime(2025, 12, 31, 23, tzinfo=dt.timezone.utc)
    assert rows[0][5] == "2 days"  # a type Arrow does not read comes as text
    assert rows[1][1] == Decimal("0.01") and rows[1][2:] == (None, dt.date(2025, 12, 31), None, None)
    assert total == Decimal("1234567.90")
