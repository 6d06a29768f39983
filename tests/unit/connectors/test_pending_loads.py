"""`pending_loads` / `refuse_half_applied_loads` (connectors/ingest.py), on real tiny dlt pipelines.

The dbt asset calls them before dbt runs, so a load that dlt applied to some raw tables and not
others (a kill in the load step) never reaches the marts. These tests prove the check can fail
(a real load interrupted after one table's job committed) and can pass (a clean load, a package
normalized but not loaded yet, a home where nothing was ever ingested, where it creates nothing).
"""

from __future__ import annotations

import dlt
import pytest
from dlt.common.storages.load_package import PackageStorage

from connectors.ingest import HalfAppliedLoad, pending_loads, refuse_half_applied_loads
from connectors.landing import make_pipeline
from connectors.settings import Settings


class Interrupted(Exception):
    """Stands for the SIGKILL: raised right after dlt committed the first table's load job."""


@dlt.source(name="salesforce")
def _tiny():
    @dlt.resource(write_disposition="replace")
    def account():
        yield [{"id": i, "name": f"a{i}"} for i in range(3)]

    @dlt.resource(write_disposition="replace")
    def contact():
        yield [{"id": i, "account_id": i % 3} for i in range(5)]

    return account, contact


@pytest.fixture
def settings(ltc_home) -> Settings:
    return Settings.from_env()


def _interrupt_after_first_job(monkeypatch) -> None:
    """Make dlt's loader stop (an exception) just after it moved its first job to completed_jobs:
    that table is committed in the warehouse, the others are not, as after a kill."""
    original = PackageStorage.complete_job

    def complete_then_die(self, load_id, file_name):
        original(self, load_id, file_name)
        raise Interrupted(file_name)

    monkeypatch.setattr(PackageStorage, "complete_job", complete_then_die)


def test_nothing_ingested_nothing_pending_and_nothing_created(settings):
    assert pending_loads(settings) == {}
    refuse_half_applied_loads(settings)
    assert not settings.dlt_dir.exists(), "the check must not create pipeline folders"


def test_a_clean_load_is_not_pending(settings):
    make_pipeline("salesforce", settings).run(_tiny())
    assert pending_loads(settings) == {}
    refuse_half_applied_loads(settings)
    # and it created no folder for the systems never ingested
    assert sorted(p.name for p in settings.dlt_dir.iterdir()) == ["ltc_salesforce"]


def test_a_package_normalized_but_not_loaded_changed_nothing_and_is_not_pending(settings):
    pipeline = make_pipeline("salesforce", settings)
    pipeline.extract(_tiny())
    pipeline.normalize()
    assert pipeline.list_normalized_load_packages(), "the package should wait in load/normalized"
    assert pending_loads(settings) == {}  # the warehouse still holds only complete loads


def test_a_load_interrupted_after_one_table_is_pending_until_loaded(settings, monkeypatch):
    pipeline = make_pipeline("salesforce", settings)
    pipeline.extract(_tiny())
    pipeline.normalize()
    (load_id,) = pipeline.list_normalized_load_packages()
    with monkeypatch.context() as patch:
        _interrupt_after_first_job(patch)
        with pytest.raises(Exception) as failed:
            pipeline.load(workers=1)
    assert any(isinstance(e, Interrupted) for e in _chain(failed.value)), failed.value

    assert pending_loads(settings) == {"salesforce": [load_id]}
    with pytest.raises(HalfAppliedLoad) as refused:
        refuse_half_applied_loads(settings)
    message = str(refused.value)
    assert "dbt was not run" in message and f"salesforce (package {load_id})" in message
    assert "`ltc ingest salesforce`" in message

    pipeline.load()  # what the next ingest does first (`_finish_pending`)
    assert pending_loads(settings) == {}
    refuse_half_applied_loads(settings)


def _chain(exc: BaseException):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__
