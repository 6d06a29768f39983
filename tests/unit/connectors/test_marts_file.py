"""The marts' own DuckDB file beside the warehouse (connectors/marts_file.py): its name, how a
warehouse connection reads `marts.<name>` from it, and that it travels with its warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from connectors.marts_file import (
    attach_marts,
    companion_files,
    connect_warehouse,
    copy_warehouse,
    marts_database,
    marts_path,
)


def _warehouse(folder: Path, *, marts: int | None = 1) -> Path:
    """A warehouse with a raw table and, unless `marts` is None, a marts file whose fct_a holds it."""
    path = folder / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw_crm; create table raw_crm.lead as select 7 as id; "
                    "create table main.note as select 'warehouse' as said")
    if marts is not None:
        with duckdb.connect(str(marts_path(path))) as con:
            con.execute(f"create schema marts; create table marts.fct_a as select {marts} as x; "
                        "create table main.note as select 'marts file' as said")
    return path


def test_the_marts_file_is_named_after_its_warehouse(tmp_path: Path):
    assert marts_path(tmp_path / "warehouse.duckdb") == tmp_path / "warehouse.marts.duckdb"
    assert marts_path(tmp_path / "prod.db") == tmp_path / "prod.db.marts.duckdb"
    assert companion_files(tmp_path / "w.duckdb") == [tmp_path / "w.marts.duckdb", tmp_path / "w.marts.duckdb.wal"]


def test_a_warehouse_connection_reads_the_marts_from_their_file_and_the_rest_from_the_warehouse(tmp_path: Path):
    warehouse = _warehouse(tmp_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert attach_marts(con, warehouse)
        assert con.execute("select x from marts.fct_a").fetchone() == (1,)
        assert con.execute("select id from raw_crm.lead").fetchone() == (7,)
        assert con.execute("select said from note").fetchone() == ("warehouse",)  # unqualified: the warehouse's
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("insert into marts.fct_a values (2)")


def test_without_a_marts_file_nothing_is_attached(tmp_path: Path):
    warehouse = _warehouse(tmp_path, marts=None)
    with duckdb.connect(str(warehouse)) as con:
        assert not attach_marts(con, warehouse)
        assert con.execute("select count(*) from duckdb_databases() where not internal").fetchone() == (1,)
    assert marts_database(warehouse) == warehouse
    (tmp_path / "built").mkdir()
    assert marts_database(_warehouse(tmp_path / "built")) == tmp_path / "built" / "warehouse.marts.duckdb"


def test_a_read_write_connection_writes_the_marts_file(tmp_path: Path):
    warehouse = _warehouse(tmp_path)
    con = connect_warehouse(warehouse, read_only=False)
    try:
        con.execute("update marts.fct_a set x = 5")
    finally:
        con.close()
    with duckdb.connect(str(marts_path(warehouse)), read_only=True) as con:
        assert con.execute("select x from marts.fct_a").fetchone() == (5,)


def test_a_copied_warehouse_takes_its_own_marts_and_never_another_builds(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    source = _warehouse(tmp_path / "a", marts=3)
    target = copy_warehouse(source, tmp_path / "b" / "copy.duckdb")
    with connect_warehouse(target) as con:
        assert con.execute("select x, (select id from raw_crm.lead) from marts.fct_a").fetchone() == (3, 7)

    bare = _warehouse(tmp_path / "b", marts=None)  # b/warehouse.duckdb: no marts file
    copy_warehouse(bare, target)  # over the copy above, whose marts file must not survive
    assert not marts_path(target).exists()
    assert marts_database(target) == target
