"""benchmarks/incremental.py's mart hash: independent of row order, exact for decimals, blind only
to what it is told to ignore, and its diff names the differing rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import benchmarks.incremental as inc


def _warehouse(path: Path, rows: list[tuple], *, table: str = "fct_demo") -> Path:
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(f"create table marts.{table} (id varchar, amount decimal(18, 2), ratio double, day date)")
    con.executemany(f"insert into marts.{table} values (?, ?, ?, ?)", rows)
    con.close()
    return path


ROWS = [("a", "10.00", 0.1 + 0.2, "2026-01-01"), ("b", "20.01", 1 / 3, None), ("b", "20.01", 1 / 3, None)]


@pytest.fixture
def marts(monkeypatch):
    monkeypatch.setattr(inc, "mart_names", lambda: ["fct_demo"])


def test_same_rows_in_another_order_hash_alike(tmp_path, marts):
    a = _warehouse(tmp_path / "a.duckdb", ROWS)
    b = _warehouse(tmp_path / "b.duckdb", list(reversed(ROWS)))
    result = inc.compare(a, b)["fct_demo"]
    assert result["equal"] and result["rows_incremental"] == 3


def test_a_cent_or_a_duplicate_row_more_is_a_difference(tmp_path, marts):
    a = _warehouse(tmp_path / "a.duckdb", ROWS)
    cent = _warehouse(tmp_path / "c.duckdb", [("a", "10.01", 0.1 + 0.2, "2026-01-01"), *ROWS[1:]])
    fewer = _warehouse(tmp_path / "f.duckdb", ROWS[:2])
    result = inc.compare(a, cent)["fct_demo"]
    assert result["equal"] is False
    assert result["diff"]["only_incremental"] == result["diff"]["only_rebuild"] == 1
    assert result["diff"]["only_rebuild_sample"][0]["amount"] == "10.01"
    assert inc.compare(a, fewer)["fct_demo"]["diff"] == {
        "only_incremental": 1,  # the duplicate row, as compared (the double rounded)
        "only_incremental_sample": [{"id": "b", "amount": "20.01", "ratio": round(1 / 3, inc.DOUBLE_PLACES), "day": None}],
        "only_rebuild": 0, "only_rebuild_sample": []}


def test_doubles_compare_rounded_and_excluded_columns_not_at_all(tmp_path, marts, monkeypatch):
    a = _warehouse(tmp_path / "a.duckdb", ROWS)
    b = _warehouse(tmp_path / "b.duckdb", [("a", "10.00", 0.3, "2026-01-01"), *ROWS[1:]])  # 0.1 + 0.2 != 0.3
    assert inc.compare(a, b)["fct_demo"]["equal"]
    later = _warehouse(tmp_path / "l.duckdb", [("a", "10.00", 0.3, "2026-01-02"), *ROWS[1:]])
    assert inc.compare(a, later)["fct_demo"]["equal"] is False
    monkeypatch.setitem(inc.EXCLUDED_COLUMNS, "fct_demo", {"day": "written by the run"})
    assert inc.compare(a, later)["fct_demo"]["equal"]


def test_excluded_marts_and_missing_ones_are_never_equal(tmp_path, monkeypatch):
    monkeypatch.setattr(inc, "mart_names", lambda: ["fct_demo", "rpt_source_freshness"])
    a = _warehouse(tmp_path / "a.duckdb", ROWS)
    b = _warehouse(tmp_path / "b.duckdb", ROWS)
    result = inc.compare(a, b)
    assert result["rpt_source_freshness"]["equal"] is None and "wall clock" in result["rpt_source_freshness"]["excluded"]
    monkeypatch.setattr(inc, "mart_names", lambda: ["fct_missing"])
    assert inc.compare(a, b)["fct_missing"]["equal"] is False
