"""The ERP connector against the sandbox ERP (SQLite) and the same data under other names in Postgres.

What it pins: the mapping file makes another ERP configuration, not code (Postgres + the second
mapping lands the very same canonical tables as SQLite + the default one); bad rows are quarantined
with a reason naming table, row and column while the good rows land; schema drift stops loudly;
incremental reads with a lookback; deletes through the soft-delete column and through the key
reconciliation; and a second run on the same input leaves identical tables.
"""

from __future__ import annotations

import sqlite3
import uuid
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.erp.mapping import CANONICAL, DEFAULT_MAPPING, load_mapping
from connectors.ingest import IngestError, run_ingest
from connectors.settings import Settings

ALT_MAPPING = DEFAULT_MAPPING.with_name("erp_alt_postgres.yml")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
LOAD_COLUMNS = ("_dlt_load_id", "_dlt_id", "_loaded_at")


def _sql(query: str, home: Path | None = None):
    db = (home / "warehouse.duckdb") if home else Settings.from_env().duckdb_path
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(query).fetchall()


def _snapshot(home: Path | None = None) -> dict[str, list[tuple]]:
    """Every canonical raw table without dlt's per-load columns, ordered by key."""
    out = {}
    for entity, cols in CANONICAL.items():
        key = next(iter(cols))
        out[entity] = _sql(f"select * exclude ({', '.join(LOAD_COLUMNS)}) from raw_erp.{entity} order by {key}", home)
    return out


def _sqlite(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as con:
        for statement in statements:
            con.execute(statement)


# ---- the default mapping on SQLite ----------------------------------------------------------------

def test_sandbox_lands_every_canonical_entity_with_exact_money_and_lines_summing_to_headers(erp):
    result = run_ingest("erp")
    with sqlite3.connect(erp) as con:
        for entity in CANONICAL:
            assert _sql(f"select count(*) from raw_erp.{entity}") == [con.execute(f"select count(*) from {entity}").fetchone()]
    assert result.rows_loaded.get("quarantined_rows") is None
    mismatched = _sql("""select count(*) from raw_erp.invoices i join (select invoice_id, sum(net_amount) n, sum(tax_amount) t,
                         sum(total_amount) s from raw_erp.invoice_lines group by 1) l using (invoice_id)
                         where l.n <> i.net_amount or l.t <> i.tax_amount or l.s <> i.total_amount""")
    assert mismatched == [(0,)]
    assert _sql("""select count(*) from raw_erp.sales_orders o join (select order_id, sum(net_amount) n
                   from raw_erp.sales_order_lines group by 1) l using (order_id) where l.n <> o.net_amount""") == [(0,)]
    types = dict(_sql("select column_name, data_type from information_schema.columns where table_schema='raw_erp' "
                      "and table_name='invoice_lines'"))
    assert types["net_amount"] == "DECIMAL(18,2)" and types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert _sql("select count(*) from raw_erp.credit_notes c join raw_erp.invoices i using (invoice_id) "
                "where i.is_deleted = 1 and c.total_amount = i.total_amount") == _sql("select count(*) from raw_erp.credit_notes")


def test_second_run_on_the_same_input_leaves_identical_tables(erp):
    run_ingest("erp")
    first = _snapshot()
    second = run_ingest("erp")
    assert _snapshot() == first
    assert sum(second.rows_loaded.values()) <= 3 * len(CANONICAL)  # only the lookback window is re-read


def test_bad_rows_are_quarantined_with_a_reason_and_the_good_rows_land(erp):
    with sqlite3.connect(erp) as con:
        ids = [r[0] for r in con.execute("select invoice_id from invoices order by invoice_id limit 6")]
        total = con.execute("select count(*) from invoices").fetchone()[0]
    _sqlite(erp,
            f"update invoices set due_date = '31/12/2025' where invoice_id = '{ids[0]}'",
            f"update invoices set total_amount = -5 where invoice_id = '{ids[1]}'",
            f"update invoices set currency = 'ABC' where invoice_id = '{ids[2]}'",
            f"update invoices set net_amount = 'twelve' where invoice_id = '{ids[3]}'",
            f"update invoices set tax_amount = 1e13 where invoice_id = '{ids[4]}'",
            f"update invoices set issue_date = '2025-13-45' where invoice_id = '{ids[5]}'",
            "alter table invoices add column legacy_flag TEXT",  # an extra column: ignored, named in the notes
            "delete from credit_notes")  # an empty table
    result = run_ingest("erp")
    assert _sql("select count(*) from raw_erp.invoices") == [(total - 6,)]
    reasons = dict(_sql("select row_key, reason from raw_erp.quarantined_rows where entity = 'invoices'"))
    assert set(reasons) == set(ids)
    assert "due_date='31/12/2025': date not in YYYY-MM-DD form" in reasons[ids[0]]
    assert "negative amount" in reasons[ids[1]] and "unknown currency" in reasons[ids[2]]
    assert "net_amount='twelve': not a number" in reasons[ids[3]] and "absurd amount" in reasons[ids[4]]
    assert reasons[ids[0]].startswith(f"invoices row invoice_id='{ids[0]}'")
    raw = _sql(f"select raw_values from raw_erp.quarantined_rows where row_key = '{ids[0]}'")[0][0]
    assert '"due_date": "31/12/2025"' in raw
    assert any("legacy_flag" in n and "ignored" in n for n in result.notes)
    assert "legacy_flag" not in {c for (c,) in _sql("select column_name from information_schema.columns "
                                                     "where table_schema='raw_erp' and table_name='invoices'")}
    assert result.rows_loaded.get("credit_notes", 0) == 0  # an empty table is not an error


def test_sqlite_rows_whose_cursor_is_not_a_timestamp_are_quarantined_and_do_not_poison_the_cursor(erp):
    """SQLite keeps anything in a DATETIME column. 'yesterday' compared as text sorts after every
    '2025-…' and would become the saved cursor (every later change missed); an integer is no
    timestamp either. Those rows are quarantined with their reason; the others land."""
    with sqlite3.connect(erp) as con:
        ids = [r[0] for r in con.execute("select invoice_id from invoices order by invoice_id limit 3")]
        total = con.execute("select count(*) from invoices").fetchone()[0]
    _sqlite(erp, f"update invoices set updated_at = 'yesterday' where invoice_id = '{ids[0]}'",
            f"update invoices set updated_at = 1700000000 where invoice_id = '{ids[1]}'")
    run_ingest("erp")
    landed = {k for (k,) in _sql("select invoice_id from raw_erp.invoices")}
    assert len(landed) == total - 2 and ids[2] in landed and not {ids[0], ids[1]} & landed
    reasons = dict(_sql("select row_key, reason from raw_erp.quarantined_rows where entity = 'invoices'"))
    assert set(reasons) == {ids[0], ids[1]}
    assert "updated_at='yesterday': not a timestamp" in reasons[ids[0]]
    assert "updated_at='1700000000': not a timestamp" in reasons[ids[1]]
    # fixed at the source (a real timestamp after the others): the next run lands it
    _sqlite(erp, f"update invoices set updated_at = (select datetime(max(updated_at), '+1 hour') from invoices "
                 f"where invoice_id <> '{ids[0]}' and typeof(updated_at) = 'text') where invoice_id = '{ids[0]}'")
    run_ingest("erp")
    assert ids[0] in {k for (k,) in _sql("select invoice_id from raw_erp.invoices")}


def test_a_mapped_column_missing_from_the_source_is_a_clear_config_error(erp, tmp_path, monkeypatch):
    strict = tmp_path / "strict.yml"
    strict.write_text(DEFAULT_MAPPING.read_text().replace("on_missing_column: skip_table", "on_missing_column: error"))
    monkeypatch.setenv("LTC_ERP_MAPPING", str(strict))
    _sqlite(erp, "alter table deliveries rename column shipped_date to ship_dt")
    with pytest.raises(IngestError, match=r"source table deliveries lacks mapped column\(s\) shipped_date → deliveries.shipped_date"):
        run_ingest("erp")
    bad = tmp_path / "bad.yml"
    bad.write_text(DEFAULT_MAPPING.read_text().replace("      due_date: due_date", "      due_dt: due_date"))
    monkeypatch.setenv("LTC_ERP_MAPPING", str(bad))
    with pytest.raises(IngestError, match=r"entity 'invoices' maps unknown canonical column\(s\) \['due_dt'\]"):
        run_ingest("erp")


def test_default_mapping_skips_a_drifted_table_loudly_and_lands_the_rest(erp):
    _sqlite(erp, "alter table invoices rename column due_date to due_on")
    result = run_ingest("erp")
    assert "invoices" not in result.rows_loaded and result.rows_loaded["sales_orders"] > 0
    assert any("invoices NOT landed" in n and "due_date" in n for n in result.notes)
    assert _sql("select entity, row_key from raw_erp.quarantined_rows") == [("invoices", "*")]


def test_incremental_reads_with_a_lookback_and_soft_deletes(erp, monkeypatch):
    run_ingest("erp")
    with sqlite3.connect(erp) as con:
        newest = con.execute("select max(updated_at) from invoices").fetchone()[0]
        late, deleted = [r[0] for r in con.execute("select invoice_id from invoices where is_deleted = 0 order by invoice_id limit 2")]
    # a late-committed change stamped 100 s before the saved cursor: inside the 300 s lookback
    _sqlite(erp, f"update invoices set status = 'disputed', updated_at = datetime('{newest}', '-100 seconds') where invoice_id = '{late}'",
            f"update invoices set is_deleted = 1, updated_at = datetime('{newest}', '+1 hour') where invoice_id = '{deleted}'")
    run_ingest("erp")
    assert _sql(f"select status from raw_erp.invoices where invoice_id = '{late}'") == [("disputed",)]
    assert _sql(f"select is_deleted from raw_erp.invoices where invoice_id = '{deleted}'") == [(1,)]
    # without a lookback the same kind of change below the cursor is not seen (why the lookback exists)
    monkeypatch.setenv("LTC_ERP_LOOKBACK_S", "0")
    _sqlite(erp, f"update invoices set status = 'again', updated_at = datetime('{newest}', '-100 seconds') where invoice_id = '{late}'")
    run_ingest("erp")
    assert _sql(f"select status from raw_erp.invoices where invoice_id = '{late}'") == [("disputed",)]


def test_hard_deletes_are_flagged_by_key_reconciliation_and_cleared_when_the_key_returns(erp):
    run_ingest("erp")
    with sqlite3.connect(erp) as con:
        row = con.execute("select * from deliveries order by delivery_id limit 1").fetchone()
    _sqlite(erp, f"delete from deliveries where delivery_id = '{row[0]}'")
    result = run_ingest("erp")
    assert _sql(f"select count(*) from raw_erp.deliveries where delivery_id = '{row[0]}' and _deleted_in_source_at is not null") == [(1,)]
    assert _sql("select count(*) from raw_erp.deliveries where _deleted_in_source_at is not null") == [(1,)]
    assert any("1 row(s) gone from the source" in n for n in result.notes)
    with sqlite3.connect(erp) as con:
        con.execute(f"insert into deliveries values ({', '.join('?' * len(row))})", row)
    run_ingest("erp")
    assert _sql("select count(*) from raw_erp.deliveries where _deleted_in_source_at is not null") == [(0,)]


# ---- the second mapping on Postgres ---------------------------------------------------------------

def _pg_available() -> bool:
    try:
        import psycopg2

        psycopg2.connect(PG_ADMIN, connect_timeout=3).close()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture
def pg_erp(require_service, sandbox_erp):
    """A fresh Postgres database holding the sandbox ERP under the second mapping's names."""
    require_service(_pg_available(), "Postgres on 127.0.0.1:5432")
    from connectors.erp.postgres_copy import copy_sqlite_to_postgres, pg_database

    with pg_database(f"ltc_erp_test_{uuid.uuid4().hex[:10]}") as dsn:
        copy_sqlite_to_postgres(sandbox_erp, dsn, load_mapping(ALT_MAPPING))
        yield dsn


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["pyarrow", "connectorx"])
def test_postgres_under_other_names_lands_the_same_tables_as_sqlite(ltc_home, pg_erp, sandbox_erp, tmp_path, monkeypatch,
                                                                    backend):
    if backend == "connectorx":
        pytest.importorskip("connectorx")
    homes = {}
    for name, url, mapping in (("sqlite", f"sqlite:///{sandbox_erp}", None),
                               ("postgres", pg_erp, str(ALT_MAPPING))):
        homes[name] = tmp_path / name
        monkeypatch.setenv("LTC_HOME", str(homes[name]))
        monkeypatch.setenv("LTC_ERP_URL", url)
        monkeypatch.setenv("LTC_ERP_BACKEND", backend if name == "postgres" else "pyarrow")
        if mapping:
            monkeypatch.setenv("LTC_ERP_MAPPING", mapping)
        run_ingest("erp")
    sqlite_tables, pg_tables = _snapshot(homes["sqlite"]), _snapshot(homes["postgres"])
    for entity in CANONICAL:
        assert pg_tables[entity] == sqlite_tables[entity], entity
    assert sum(r[10] for r in pg_tables["invoices"]) > Decimal(0)
    # a drifted column in a mapping that says `error` stops the run, naming table and column
    import psycopg2

    with psycopg2.connect(pg_erp) as con, con.cursor() as cur:
        cur.execute("alter table erp_alt.rechnung drop column re_due_date")
    with pytest.raises(IngestError, match=r"rechnung lacks mapped column\(s\) due_date → rechnung.re_due_date"):
        run_ingest("erp")
