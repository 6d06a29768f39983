"""The whole lead-to-cash run, in process, through the Dagster job, on a small sandbox company.

This is the walking skeleton's acceptance test: generate → real connectors (fake Salesforce over
HTTP, SQLite ERP, CAMT.053 files, CSV) → GE checks → dbt build + tests → HTML report, and the
report's figures equal the generator's ground truth to the cent.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.marts_file import connect_warehouse
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
    reports = sorted((settings.reports_dir / "latest").glob("ltc_report_*.html"))
    assert reports, "the run published no edition with an executive report"
    return reports[-1]


def _published(settings: Settings) -> dict[str, bytes]:
    """Everything a reader of the reports folder sees: `latest`'s target, its files and the index."""
    latest = settings.reports_dir / "latest"
    seen = {"latest ->": os.readlink(latest).encode(), "index.html": (settings.reports_dir / "index.html").read_bytes()}
    seen.update({f"latest/{p.name}": p.read_bytes() for p in sorted(latest.iterdir())})
    return seen


def _assert_the_edition_holds_every_report(settings: Settings) -> None:
    from chromium import find_chromium

    names = {p.name for p in (settings.reports_dir / "latest").iterdir()}
    as_of = Settings.from_env().as_of.isoformat()
    expected = {f"ltc_report_{as_of}.html", f"cash_collection_{as_of}.html",
                f"contract_reconciliation_{as_of}.html", f"finance_worklists_{as_of}.xlsx", "manifest.json"}
    if find_chromium():
        expected.add(f"ltc_report_{as_of}.pdf")
    assert expected <= names, f"missing from the edition: {sorted(expected - names)}"


def _assert_the_next_dbt_call_parses_partially(scratch: Path, run_id: str) -> None:
    """The run handed its partial-parse state back to the project's target/: a dbt call with the
    run's environment, vars and target now re-parses nothing (each run used to parse it all).

    The state parsed is the run's own (in its target folder), and the project's copy must be at
    least as new: other suites' and workers' runs, side by side in CI, hand theirs back to the same
    project file, parsed with other profiles, so reading that file raced with them (CI, 2026-11-29:
    "Unable to do partial parsing because profile has changed")."""
    from orchestration.defs.transform.dbt import DBT_PROJECT_DIR, dbt_target, dbt_vars_args
    from orchestration.prepare import dbt_executable
    from reports.docs_site import dbt_target_dir

    runs_state = _run_artifact(run_id, "partial_parse.msgpack")
    handed_back = dbt_target_dir() / "partial_parse.msgpack"
    assert handed_back.stat().st_mtime_ns >= runs_state.stat().st_mtime_ns, (
        "the run did not hand its parse state back to the project's target/")
    scratch.mkdir()
    shutil.copy(runs_state, scratch)  # dbt parse rewrites its target folder
    settings = Settings.from_env()  # as the run read it: the sandbox's as-of date included
    vars_args = dbt_vars_args(settings)  # --vars, when the as-of is fixed
    proc = subprocess.run([dbt_executable(), "parse", *vars_args, "--target", dbt_target(settings)],
                          cwd=DBT_PROJECT_DIR, capture_output=True, text=True,
                          env={**os.environ, "DBT_TARGET_PATH": str(scratch),
                               "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)})
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "Unable to do partial parsing" not in proc.stdout, proc.stdout[-2000:]


def test_full_job_materialises_everything_and_the_report_matches_ground_truth(sandbox_run, tmp_path):
    from orchestration.pipeline import run_full_refresh

    settings, truth = sandbox_run
    summary = run_full_refresh(Settings.from_env())

    assert summary.success
    assert {"reports/edition", "reports/mail", "reports/docs"} <= set(summary.materialized)
    assert "marts/fct_lead_to_cash" in summary.materialized
    assert "raw/salesforce/opportunity_history" in summary.materialized
    rows = reconcile_report(_latest_report(settings), truth)
    mismatches = [(name, expected, actual) for name, expected, actual, same in rows if not same]
    assert not mismatches
    assert [name for name, *_ in rows] == list(RECONCILED_FIGURES)
    _assert_funnel_slices_match_ground_truth(settings.duckdb_path, truth["funnel_slices"])
    _assert_the_edition_holds_every_report(settings)
    _assert_dbt_statuses_match_materializations(settings, summary.run_id)
    _assert_the_next_dbt_call_parses_partially(tmp_path / "dbt_target", summary.run_id)


def _run_artifact(run_id: str, name: str) -> Path:
    """A file the run's `dbt build` wrote: dagster-dbt gives each run its own target folder,
    `<dbt target>/ltc_dbt_models-<run id[:7]>-<hash>/`."""
    from reports.docs_site import DBT_OP_NAME, dbt_target_dir

    found = sorted(dbt_target_dir().glob(f"{DBT_OP_NAME}-{run_id[:7]}-*/{name}"))
    assert len(found) == 1, f"expected one {name} for run {run_id}, found {found}"
    return found[0]


def _run_results(run_id: str) -> dict:
    """The `run_results.json` the run's `dbt build` wrote."""
    import json

    return json.loads(_run_artifact(run_id, "run_results.json").read_text())


def _dagster_events(settings: Settings, run_id: str) -> dict[str, set[str]]:
    """Asset keys with a materialization, and with an observation, in the run's event log."""
    import dagster as dg

    from orchestration.instance import get_instance

    instance = get_instance(settings)
    keys = {}
    for name, kind in (("materialized", dg.DagsterEventType.ASSET_MATERIALIZATION),
                       ("observed", dg.DagsterEventType.ASSET_OBSERVATION)):
        records = instance.get_records_for_run(run_id, of_type=kind, limit=100_000).records
        keys[name] = {r.event_log_entry.dagster_event.asset_key.to_user_string() for r in records}
    return keys


def _assert_dbt_statuses_match_materializations(settings: Settings, run_id: str) -> None:
    """Checklist #12 (green run, asset not materialized; dagster#33920, #23109): dbt's own
    run_results.json and the Dagster event log of the same run agree, node by node.
    - every model, seed and snapshot dbt says succeeded has an ASSET_MATERIALIZATION;
    - every selected one (the job selects every dbt asset) has a materialization or an explicit
      no-op record (an observation) — a node dbt never reported on fails this too;
    - none that errored or was skipped has a materialization, and no dbt asset is materialized
      that run_results does not list at all.
    Fails if dagster-dbt drops the event for a status it does not know (`no-op`, `reused`), if a
    model runs outside the build the run made, or if a failed model is shown as fresh."""
    import json

    from orchestration.defs.transform.dbt import dbt_project, ltc_dbt_models, translator

    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    key_of = {uid: translator.get_asset_spec(manifest, uid, dbt_project).key.to_user_string()
              for uid, node in manifest["nodes"].items()
              if node["resource_type"] in ("model", "seed", "snapshot")
              and node["config"].get("materialized") != "ephemeral" and node["config"].get("enabled", True)}
    dbt_keys = {k.to_user_string() for k in ltc_dbt_models.keys}
    assert set(key_of.values()) == dbt_keys, "manifest nodes and the dbt assets disagree"
    status = {r["unique_id"]: r["status"] for r in _run_results(run_id)["results"] if r["unique_id"] in key_of}
    events = _dagster_events(settings, run_id)
    materialized = events["materialized"] & dbt_keys

    succeeded = {key_of[u] for u, s in status.items() if s == "success"}
    not_run = {key_of[u] for u, s in status.items() if s in ("error", "skipped", "fail")}
    unreported = sorted(key_of[u] for u in key_of if u not in status)
    assert not unreported, f"selected dbt nodes with no entry in run_results.json: {unreported[:10]}"
    assert succeeded, "run_results.json reports no successful model"
    assert not succeeded - materialized, f"dbt succeeded, no materialization: {sorted(succeeded - materialized)[:10]}"
    no_record = dbt_keys - materialized - events["observed"]
    assert not no_record, f"selected dbt assets with neither a materialization nor a no-op record: {sorted(no_record)[:10]}"
    assert not not_run & materialized, f"errored/skipped in dbt, yet materialized: {sorted(not_run & materialized)}"
    reported = {key_of[u] for u in status}
    assert materialized <= reported, f"materialized, not in run_results.json: {sorted(materialized - reported)[:10]}"


def _channel_of(lead_source: str) -> str:
    """The shipped channel seed's mapping (a source it does not list is 'Other'), read here from the CSV."""
    import csv

    seed = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "channel_mapping.csv"
    with seed.open(newline="") as fh:
        return {row["lead_source"]: row["channel"] for row in csv.DictReader(fh)}.get(lead_source, "Other")


def _assert_funnel_slices_match_ground_truth(warehouse: Path, truth: dict) -> None:
    """rpt_funnel_conversion by channel, campaign, owner and region, cohort measure summed over the
    months: leads at S1 and converted leads at S4 (the opportunity stage) per slice are the
    generator's own counts; every slice of every dimension is there and nothing else is."""
    expected: dict[tuple[str, str], dict[str, int]] = {}
    for source, counts in truth["lead_source"].items():
        slot = expected.setdefault(("channel", _channel_of(source)), {"leads": 0, "converted": 0})
        for key in slot:
            slot[key] += counts[key]
    for dimension in ("campaign", "owner", "region"):
        expected.update({(dimension, value): counts for value, counts in truth[dimension].items()})
    with connect_warehouse(warehouse, read_only=True) as con:
        rows = con.execute("""
            select dimension, dimension_value,
                   sum(journeys) filter (where stage_code = 'S1'),
                   sum(journeys) filter (where stage_code = 'S4')
            from marts.rpt_funnel_conversion
            where measure_type = 'cohort' and dimension <> 'total'
            group by 1, 2
            having sum(journeys) > 0
        """).fetchall()
    got = {(dimension, value): {"leads": int(leads), "converted": int(converted)}
           for dimension, value, leads, converted in rows}
    assert got == expected


def test_a_warn_check_does_not_block_and_an_error_check_keeps_the_published_report(sandbox_run):
    """Write-audit-publish across two runs. Run 1: an invoice dated in the future fails a
    WARN-level expectation, which annotates and does not block: the run succeeds and publishes.
    Run 2: the raw invoices hold an invoice in a currency that does not exist, an ERROR-level
    expectation, which blocks dbt and the reports in that run: the marts and the edition from run 1
    (`latest`, its files, the index) stay exactly as they were."""
    from orchestration.pipeline import PipelineError, run_full_refresh

    settings, _ = sandbox_run
    with sqlite3.connect(settings.sandbox_dir / "erp.sqlite") as erp:
        erp.execute("update invoices set issue_date = '2099-01-31' "
                    "where invoice_id = (select min(invoice_id) from invoices)")
    summary = run_full_refresh(Settings.from_env())
    assert summary.success
    assert "raw/erp/invoices:great_expectations" in summary.failed_checks  # failed, as a warning
    assert "reports/edition" in summary.materialized

    published = _published(settings)
    marts_sql = "select count(*), sum(total_amount_reporting) from marts.fct_invoices"
    with connect_warehouse(settings.duckdb_path, read_only=True) as con:
        marts_before = con.execute(marts_sql).fetchall()

    # a corrupted raw load: the ERP connector quarantines bad rows itself (unknown currency,
    # negative money, a missing column), so the corruption is put straight into the raw table, as
    # a buggy loader would: an invoice in a currency that does not exist, an ERROR-level expectation
    with connect_warehouse(settings.duckdb_path, read_only=False) as con:
        con.execute("insert into raw_erp.invoices select * replace ('CORRUPT-1' as invoice_id, "
                    "'XYZ' as currency) from raw_erp.invoices limit 1")
    with pytest.raises(PipelineError) as failure:
        run_full_refresh(Settings.from_env())

    assert "raw/erp/invoices:great_expectations" in str(failure.value)
    assert _published(settings) == published, "the last good edition, `latest` or the index was touched"
    with connect_warehouse(settings.duckdb_path, read_only=True) as con:
        assert con.execute(marts_sql).fetchall() == marts_before, "marts were rebuilt from blocked data"
        corrupt = con.execute("select count(*) from raw_erp.invoices where currency = 'XYZ'").fetchone()[0]
    assert corrupt == 1  # still there for someone to look at; it just went no further
