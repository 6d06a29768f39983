"""The whole lead-to-cash run, in process, through the Dagster job, on a small sandbox company.

This is the walking skeleton's acceptance test: generate → real connectors (fake Salesforce over
HTTP, SQLite ERP, CAMT.053 files, CSV) → GE checks → dbt build + tests → HTML report, and the
report's figures equal the generator's ground truth to the cent.
"""

from __future__ import annotations

import os
import sqlite3
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.sandbox import generate
from connectors.settings import Settings
from orchestration.cli import RECONCILED_FIGURES, reconcile_report, serving_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture
def sandbox_run(ltc_home: Path):
    settings = Settings.from_env()
    truth = generate(settings.sandbox_dir, seed=7, scale=400)
    with serving_sandbox(settings):
        yield settings, truth


def _latest_report(settings: Settings) -> Path:
    reports = sorted(settings.reports_dir.glob("ltc_report_*.html"))
    assert reports, "the run wrote no report"
    return reports[-1]


def test_full_job_materialises_everything_and_the_report_matches_ground_truth(sandbox_run):
    from orchestration.pipeline import run_full_refresh

    settings, truth = sandbox_run
    summary = run_full_refresh(Settings.from_env())

    assert summary.success
    assert "reports/ltc_report" in summary.materialized
    assert "marts/fct_lead_to_cash" in summary.materialized
    assert "raw/salesforce/opportunity_history" in summary.materialized
    rows = reconcile_report(_latest_report(settings), truth)
    mismatches = [(name, expected, actual) for name, expected, actual, same in rows if not same]
    assert not mismatches
    assert [name for name, *_ in rows] == list(RECONCILED_FIGURES)


def test_a_failing_blocking_check_stops_dbt_and_the_report(sandbox_run):
    from orchestration.pipeline import PipelineError, run_full_refresh

    settings, _ = sandbox_run
    # Schema drift in the ERP: the invoices' due date is renamed, so the landed table lacks a
    # column the model needs. That is an ERROR-level expectation, which must block.
    with sqlite3.connect(settings.sandbox_dir / "erp.sqlite") as erp:
        erp.execute("alter table invoices rename column due_date to due_on")
    with pytest.raises(PipelineError) as failure:
        run_full_refresh(Settings.from_env())

    assert "raw/erp/invoices:great_expectations" in str(failure.value)
    assert not list(settings.reports_dir.glob("ltc_report_*.html")), "the report must not be published"
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        marts = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts'"
        ).fetchall()[0][0]
    assert marts == 0, "no mart may be built from data that failed a blocking check"
