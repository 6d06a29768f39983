"""A first ERP load killed mid-way, then run again, holds every source row once.

The first load into an empty raw table appends instead of merging (`landing.empty_tables`, a
cheaper load). The crash-anywhere test (tests/reliability/test_crash_anywhere.py) found the way that
duplicated keys: a run killed after normalizing left a package that appends; the rerun looked at
the still-empty tables before loading that package, appended its own rows too, and
`raw_erp.customers` held 9 rows for 8 keys. A second way is a kill after an append job committed
and before dlt recorded it: run again, the job appends its rows a second time
(`ingest._rewind_interrupted_appends`). Each is reproduced here at the exact point, with the
ingest in this process and dlt's own storage step raising where the kill would land.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dlt.common.storages.load_package import PackageStorage
from dlt.pipeline.pipeline import Pipeline

from connectors.erp.mapping import CANONICAL
from connectors.ingest import run_ingest
from connectors.settings import Settings


class Killed(BaseException):
    """Stands for the SIGKILL (a BaseException, so no handler of the ingest swallows it)."""


def _keys(entity: str) -> tuple[int, int]:
    """(rows, distinct keys) of one raw ERP table."""
    key = next(iter(CANONICAL[entity]))
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        return con.sql(f"select count(*), count(distinct {key}) from raw_erp.{entity}").fetchall()[0]


def _counts() -> dict[str, tuple[int, int]]:
    return {entity: _keys(entity) for entity in CANONICAL}


def _uncrashed(home: Path, monkeypatch) -> dict[str, tuple[int, int]]:
    """What one complete ingest of the same ERP lands, in a home of its own."""
    with monkeypatch.context() as patch:
        patch.setenv("LTC_HOME", str(home))
        run_ingest("erp")
        return _counts()


def test_a_run_killed_after_normalize_then_run_again_lands_each_row_once(erp, ltc_home, monkeypatch, tmp_path):
    def killed_before_load(self, *args, **kwargs):
        raise Killed("after normalize, before load")

    with monkeypatch.context() as patch:
        patch.setattr(Pipeline, "load", killed_before_load)
        with pytest.raises(Killed):
            run_ingest("erp")
    pipeline_dir = Settings.from_env().dlt_dir / "ltc_erp" / "load" / "normalized"
    assert any(pipeline_dir.iterdir()), "the killed run should leave its normalized package"

    result = run_ingest("erp")
    assert any("left pending" in note for note in result.notes), result.notes
    assert _counts() == _uncrashed(tmp_path / "reference", monkeypatch)


def test_an_append_committed_but_not_recorded_is_not_appended_twice(erp, ltc_home, monkeypatch, tmp_path):
    original = PackageStorage.complete_job
    hit: list[str] = []

    def committed_then_killed(self, load_id, file_name):
        if file_name.startswith("customers.") and not hit:
            hit.append(file_name)
            # the insert committed; the kill lands before dlt wrote down that it did
            self.clear_pending_transition(load_id, file_name)
            raise Killed(file_name)
        return original(self, load_id, file_name)

    with monkeypatch.context() as patch:
        patch.setattr(PackageStorage, "complete_job", committed_then_killed)
        with pytest.raises(Killed):
            run_ingest("erp")
    assert hit, "the load never reached the customers job"
    rows, distinct = _keys("customers")
    assert rows == distinct > 0, "the killed job's insert should have committed"

    result = run_ingest("erp")
    assert any("loaded again" in note and "customers" in note for note in result.notes), result.notes
    assert _counts() == _uncrashed(tmp_path / "reference", monkeypatch)
