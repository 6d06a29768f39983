"""LTC_WAREHOUSE=spark lands the same raw tables as Parquet files (dlt's filesystem destination).

No Spark needed: one small sandbox company lands twice, into DuckDB and as Parquet, and every raw
table must be in both with the same rows (count and money totals) and the same exact types, money
as DECIMAL. This is what dbt on Spark reads (tests/spark/test_spark_marts.py goes on from here).
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from benchmarks.spark import generate_company, land, landed_tables
from connectors.landing import LandingConfigError, make_destination
from connectors.marts_file import connect_warehouse
from connectors.settings import Settings

SCALE = 60


@pytest.fixture(scope="module")
def two_landings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("parquet_landing")
    duck, parquet = root / "duckdb_home", root / "spark_home"
    generate_company(duck / "sandbox", SCALE)
    shutil.copytree(duck / "sandbox", parquet / "sandbox")
    land(duck, "duckdb")
    land(parquet, "spark")
    return duck, parquet


def _duckdb_raw_tables(warehouse: Path) -> dict[str, pa.Table]:
    con = connect_warehouse(warehouse, read_only=True)
    try:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema like 'raw_%' and table_schema not like '%\\_staging' escape '\\' "
            "and table_name not like '\\_dlt%' escape '\\'").fetchall()  # dlt's merge copies and own tables out
        return {f"{s}.{t}": con.sql(f'select * from {s}."{t}"').to_arrow_table() for s, t in names}
    finally:
        con.close()


def _data_columns(table: pa.Table) -> set[str]:
    return {c for c in table.column_names if not c.startswith("_dlt_")}


def _parquet(raw: Path, name: str) -> pa.Table:
    schema, table = name.split(".")
    return ds.dataset(str(raw / schema / table), format="parquet").to_table()


def test_every_raw_table_lands_as_parquet_with_the_same_rows_and_exact_types(two_landings):
    duck, parquet = two_landings
    raw = parquet / "raw"  # LTC_RAW_PATH's default, $LTC_HOME/raw
    in_duckdb = {n: t for n, t in _duckdb_raw_tables(duck / "warehouse.duckdb").items() if t.num_rows}
    assert {"raw_erp.invoices", "raw_finance.bank_transactions", "raw_salesforce.opportunity"} <= set(in_duckdb)
    assert set(landed_tables(raw)) == set(in_duckdb)

    money_columns = 0
    for name, expected in in_duckdb.items():
        landed = _parquet(raw, name)
        assert landed.num_rows == expected.num_rows, name
        # dlt's own bookkeeping may differ (`_dlt_root_id` comes with merge, which files do not do)
        assert _data_columns(landed) == _data_columns(expected), name
        for field in expected.schema:
            if field.name not in _data_columns(expected):
                continue
            got = landed.schema.field(field.name).type
            if pa.types.is_timestamp(field.type):  # tz "UTC" in Parquet, "Etc/UTC" from DuckDB
                assert pa.types.is_timestamp(got) and (got.tz is None) == (field.type.tz is None), name
            elif pa.types.is_decimal(field.type):
                money_columns += 1
                assert got == field.type, f"{name}.{field.name}: {got} in Parquet, {field.type} in DuckDB"
                total = sum((v for v in landed.column(field.name).to_pylist() if v is not None), Decimal(0))
                want = sum((v for v in expected.column(field.name).to_pylist() if v is not None), Decimal(0))
                assert total == want, f"{name}.{field.name}"
            else:
                assert not pa.types.is_floating(got) or pa.types.is_floating(field.type), f"{name}.{field.name}"
    assert money_columns >= 5  # amounts of opportunities, invoices, orders, bank lines, ad spend


def test_raw_path_defaults_under_ltc_home(ltc_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LTC_WAREHOUSE", "spark")
    assert Settings.from_env().raw_path == ltc_home.resolve() / "raw"
    monkeypatch.setenv("LTC_RAW_PATH", str(ltc_home / "elsewhere"))
    settings = Settings.from_env()
    assert settings.raw_path == (ltc_home / "elsewhere").resolve()
    make_destination(settings)
    assert settings.raw_path.is_dir()


def test_unknown_warehouse_names_the_choices(ltc_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LTC_WAREHOUSE", "oracle")
    with pytest.raises(LandingConfigError, match="duckdb, postgres or spark"):
        make_destination(Settings.from_env())
