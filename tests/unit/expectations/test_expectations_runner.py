"""The runner: pandas 3 compatibility, no personal data in results, DuckDB reads, no network."""

from __future__ import annotations

import socket
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from raw_frames import GOOD_FRAMES, lead, sfid

from expectations.runner import MAX_KEYS, read_table_frame, validate_frame, validate_table
from expectations.suites import SUITES_BY_SYSTEM

PII_EMAIL = "jane.private@example.org"


def test_runs_on_pandas_3_string_dtype():
    assert int(pd.__version__.split(".")[0]) >= 3
    df = lead()
    # pandas 3 infers the new string dtype for text columns: GX must cope with it
    assert isinstance(df["status"].dtype, pd.StringDtype)
    spec = SUITES_BY_SYSTEM["salesforce"]["lead"]
    assert validate_frame(df, spec.suite(), spec.key).success

    df.loc[0, "status"] = "Nonsense"
    df.loc[1, "email"] = pd.NA
    summary = validate_frame(df, spec.suite(), spec.key)
    assert summary.failing_keys == {"expect_column_values_to_be_in_set(status)": (df.at[0, "id"],)}


def test_decimal_money_is_compared_exactly():
    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    df = GOOD_FRAMES[("erp", "invoices")]()
    assert df["total_amount"].map(type).eq(Decimal).all()
    df.at[0, "total_amount"] = Decimal("-0.01")
    summary = validate_frame(df, spec.suite(), spec.key)
    assert summary.failing_keys == {"expect_column_values_to_be_between(total_amount)": ("INV-1",)}


def test_pii_in_failing_row_never_appears_in_summary():
    spec = SUITES_BY_SYSTEM["salesforce"]["lead"]
    df = lead()
    df["email"] = df["email"].astype(object)
    df["status"] = df["status"].astype(object)
    df["id"] = df["id"].astype(object)
    df.at[1, "email"] = PII_EMAIL
    df.at[1, "id"] = df.at[0, "id"]  # duplicate key
    df.at[1, "status"] = PII_EMAIL  # PII in a checked column (value set)
    df.at[2, "status"] = None
    summary = validate_frame(df, spec.suite(), spec.key)

    assert not summary.success
    assert df.at[0, "id"] in summary.failing_keys["expect_column_values_to_be_unique(id)"]
    assert summary.failing_keys["expect_column_values_to_be_in_set(status)"] == (df.at[0, "id"],)
    for text in (repr(summary), str(summary), str(vars(summary))):
        assert PII_EMAIL not in text
        assert "jane" not in text.lower()


def test_failing_keys_capped():
    spec = SUITES_BY_SYSTEM["salesforce"]["lead"]
    n = 50
    df = pd.DataFrame(
        {
            "id": [sfid("00Q", i) for i in range(n)],
            "is_deleted": [False] * n,
            "created_date": [pd.Timestamp("2025-01-01T00:00:00Z")] * n,
            "system_modstamp": [pd.Timestamp("2025-01-01T00:00:00Z")] * n,
            "status": ["Bogus"] * n,
            "owner_id": [sfid("005", 1)] * n,
            "is_converted": [False] * n,
        }
    )
    summary = validate_frame(df, spec.suite(), spec.key)
    name = "expect_column_values_to_be_in_set(status)"
    assert summary.unexpected_counts[name] == n
    assert len(summary.failing_keys[name]) == MAX_KEYS


def test_null_key_reported_as_placeholder():
    spec = SUITES_BY_SYSTEM["erp"]["customers"]
    df = GOOD_FRAMES[("erp", "customers")]()
    df["customer_id"] = df["customer_id"].astype(object)
    df.at[2, "customer_id"] = None
    summary = validate_frame(df, spec.suite(), spec.key)
    assert summary.severity == "error"
    assert summary.unexpected_counts["expect_column_values_to_not_be_null(customer_id)"] == 1


def test_no_network_during_validation(monkeypatch: pytest.MonkeyPatch):
    attempts: list[object] = []

    def refuse(self, address, *args, **kwargs):  # noqa: ANN001
        attempts.append(address)
        raise OSError("network disabled in test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))
    for (system, table), make in GOOD_FRAMES.items():
        spec = SUITES_BY_SYSTEM[system][table]
        assert validate_frame(make(), spec.suite(), spec.key).success
    assert attempts == []
    import os

    assert os.environ["GX_ANALYTICS_ENABLED"] == "false"


# --- DuckDB ------------------------------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema raw_erp")
    con.execute(
        """
        create table raw_erp.invoices (
            invoice_id varchar, invoice_number varchar, customer_id varchar, order_id varchar,
            issue_date date, due_date date, currency varchar,
            net_amount decimal(18,2), tax_amount decimal(18,2), total_amount decimal(18,2),
            status varchar, is_deleted bigint, created_at timestamptz, updated_at timestamptz,
            contact_email varchar, _dlt_load_id varchar, _dlt_id varchar
        )
        """
    )
    con.execute(
        """
        insert into raw_erp.invoices values
        ('INV-1','INV-2025-000001','CUST-1','SO-1','2025-04-03','2025-05-03','GBP',10000.00,2000.00,12000.00,'paid',0,
         '2025-04-03 10:00:00+00','2025-04-03 10:00:00+00', 'a@example.com', '1', 'x1'),
        ('INV-2','INV-2025-000002','CUST-2','SO-2','2025-05-02','2025-04-01','EUR',416.67,83.33,500.00,'open',0,
         '2025-05-02 10:00:00+00','2025-05-02 10:00:00+00', ?, '1', 'x2'),
        ('INV-2','INV-2025-000003','CUST-3','SO-3','2025-06-02','2025-06-02','USD',0.00,0.00,0.00,'cancelled',1,
         '2025-06-02 10:00:00+00','2025-06-02 10:00:00+00', 'c@example.com', '1', 'x3')
        """,
        [PII_EMAIL],
    )
    con.execute('create schema raw_salesforce')
    con.execute('create table raw_salesforce."order" (id varchar)')
    con.close()
    return path


def test_validate_table_reads_duckdb_read_only_and_closes(warehouse: Path):
    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    summary = validate_table(warehouse, "raw_erp.invoices", spec.suite(), spec.key)
    assert not summary.success
    assert summary.row_count == 3
    assert summary.failing_keys["expect_column_values_to_be_unique(invoice_id)"] == ("INV-2",)
    assert summary.failing_keys[
        "expect_column_pair_values_a_to_be_greater_than_b(due_date,issue_date)"
    ] == ("INV-2",)
    assert PII_EMAIL not in repr(summary)
    # the read-only connection is closed: a read-write connection in this process now works
    con = duckdb.connect(str(warehouse))
    con.execute("select 1").fetchall()
    con.close()


def test_validate_table_reads_only_checked_columns_with_decimals(warehouse: Path):
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        df = read_table_frame(con, "raw_erp.invoices", ["invoice_id", "total_amount", "issue_date"])
    finally:
        con.close()
    assert list(df.columns) == ["invoice_id", "issue_date", "total_amount"]
    assert "contact_email" not in df.columns  # unchecked (personal) columns are never loaded
    assert df["total_amount"].map(type).eq(Decimal).all()  # money never becomes float
    assert df["total_amount"].tolist() == [Decimal("12000.00"), Decimal("500.00"), Decimal("0.00")]


def test_validate_table_accepts_open_connection_and_quotes_reserved_names(warehouse: Path):
    spec = SUITES_BY_SYSTEM["salesforce"]["order"]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        summary = validate_table(con, "raw_salesforce.order", spec.suite(), spec.key)
        con.execute("select 1").fetchall()  # caller's connection still usable
    finally:
        con.close()
    assert not summary.success  # empty table with missing columns
    assert "expect_table_row_count_to_be_between" in summary.failed
    assert "expect_table_columns_to_match_set" in summary.failed


def test_validate_table_missing_table(warehouse: Path):
    spec = SUITES_BY_SYSTEM["finance"]["fx_rates"]
    summary = validate_table(warehouse, "raw_finance.fx_rates", spec.suite(), spec.key)
    assert not summary.success
    assert summary.failed == ("table_exists",)
    assert summary.severity == "error"
