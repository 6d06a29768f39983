"""GE Data Docs built from `ValidationSummary`s by GX's own site builder: one result per
expectation, a failure shown as failed with its count, no personal value anywhere in the site
(even the value that failed), and nothing that points to another host. The site in a browser
(Chromium, with every request it makes logged): tests/unit/reports/test_docs_site.py."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from mart_fixture import build_marts
from raw_frames import GOOD_FRAMES, sfid

from expectations.core import ValidationSummary, config_label, unique_labels
from expectations.data_docs import (
    SuiteOutcome,
    build_data_docs,
    collect_summaries,
    strip_external,
    to_validation_result,
)
from expectations.suites import MART_SUITES, SUITES_BY_SYSTEM
from reports.docs_site import site_external_references

RUN = dt.date(2026, 1, 1)
RUN_TIME = dt.datetime(2026, 1, 1, 6, 0, tzinfo=dt.timezone.utc)
# A failing row of raw_salesforce.user that is all personal data: its department (a warn-level
# value-set check fails on it) is an e-mail address, its name and e-mails are a person's.
PII_EMAIL = "jane.q.payer@private-mail.example"
PII_NAME = "Jane Quinta Payer"
BAD_USER_ID = sfid("005", 9)
DEPARTMENT_CHECK = "expect_column_values_to_be_in_set(department)"


def _write(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    arrow = pa.Table.from_pandas(df, preserve_index=False)  # noqa: F841 - read by DuckDB below
    con.execute(f"create schema if not exists {table.split('.')[0]}")
    con.execute(f"create or replace table {table} as select * from arrow")


def _user_with_pii() -> pd.DataFrame:
    good = GOOD_FRAMES[("salesforce", "user")]()
    bad = good.iloc[[0]].copy()
    bad["id"] = BAD_USER_ID
    bad["_dlt_id"] = "dlt9"
    bad["username"] = PII_EMAIL
    bad["email"] = PII_EMAIL
    bad["name"] = PII_NAME
    bad["department"] = PII_EMAIL
    return pd.concat([good, bad], ignore_index=True)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    """Every raw table with a suite (good frames) and every mart (balanced), plus the PII row."""
    db = tmp_path_factory.mktemp("data_docs") / "warehouse.duckdb"
    build_marts(db)
    with duckdb.connect(str(db)) as con:
        for (system, table), make in GOOD_FRAMES.items():
            frame = _user_with_pii() if (system, table) == ("salesforce", "user") else make()
            _write(con, f'raw_{system}."{table}"', frame)
    return db


@pytest.fixture(scope="module")
def outcomes(warehouse: Path) -> list[SuiteOutcome]:
    return collect_summaries(warehouse, run_date=RUN)


@pytest.fixture(scope="module")
def site(outcomes, tmp_path_factory) -> Path:
    return build_data_docs(outcomes, tmp_path_factory.mktemp("published") / "data_docs", run_time=RUN_TIME).parent


def _outcome(outcomes, name: str) -> SuiteOutcome:
    return next(o for o in outcomes if o.suite.name == name)


def _validation_page(site: Path, suite_name: str) -> Path:
    pages = list((site / "validations" / suite_name).rglob("*.html"))
    assert len(pages) == 1, pages
    return pages[0]


def _text(html: str) -> str:
    """Visible text, whitespace collapsed (scripts and styles removed)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _files_containing(site: Path, needles: list[str]) -> dict[str, list[str]]:
    found = {}
    for path in site.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            hits = [n for n in needles if n.lower().encode() in data]
            if hits:
                found[str(path.relative_to(site))] = hits
    return found


# --- conversion ------------------------------------------------------------------------------


def test_every_suite_is_validated_and_only_the_planted_row_fails(outcomes):
    expected = {spec.suite().name for specs in SUITES_BY_SYSTEM.values() for spec in specs.values()}
    expected |= {spec.suite().name for spec in MART_SUITES.values()}
    assert {o.suite.name for o in outcomes} == expected
    failed = {o.suite.name: o.summary.failed for o in outcomes if not o.summary.success}
    assert failed == {"raw_salesforce__user": (DEPARTMENT_CHECK,)}
    user = _outcome(outcomes, "raw_salesforce__user").summary
    assert user.unexpected_counts == {DEPARTMENT_CHECK: 1} and user.severity == "warn"


def test_a_summary_becomes_one_gx_result_per_expectation_with_counts_only(outcomes):
    from great_expectations.core.run_identifier import RunIdentifier

    outcome = _outcome(outcomes, "raw_salesforce__user")
    result = to_validation_result(outcome.suite, outcome.summary, batch=outcome.batch,
                                  run_id=RunIdentifier("t", RUN_TIME))
    labels = unique_labels([config_label(e.configuration) for e in outcome.suite.expectations])
    assert len(result.results) == len(labels) == outcome.summary.evaluated
    by_label = dict(zip(labels, result.results))
    assert [label for label, r in by_label.items() if not r.success] == [DEPARTMENT_CHECK]
    failing = by_label[DEPARTMENT_CHECK].result
    assert failing == {"unexpected_count": 1, "element_count": 4, "unexpected_percent": 25.0}
    for r in result.results:  # counts and shares, never values or keys
        assert set(r.result) <= {"unexpected_count", "element_count", "unexpected_percent"}
    assert result.success is False
    assert result.statistics["unsuccessful_expectations"] == 1
    assert BAD_USER_ID not in str(result.to_json_dict())  # not even the failing key


def test_a_missing_table_fails_every_expectation_with_the_reason():
    from great_expectations.core.run_identifier import RunIdentifier

    spec = SUITES_BY_SYSTEM["erp"]["invoices"]
    suite = spec.suite()
    summary = ValidationSummary(suite_name=suite.name, success=False, evaluated=0,
                                failed=("table_exists",), severity="error")
    result = to_validation_result(suite, summary, batch="raw_erp.invoices", run_id=RunIdentifier("t", RUN_TIME))
    assert len(result.results) == len(suite.expectations)
    assert not any(r.success for r in result.results)
    assert {r.exception_info["exception_message"] for r in result.results} == {"the table does not exist"}


def test_skipped_and_errored_expectations_are_reported_as_such():
    from great_expectations.core.run_identifier import RunIdentifier

    suite = SUITES_BY_SYSTEM["salesforce"]["user"].suite()
    labels = [config_label(e.configuration) for e in suite.expectations]
    skipped, errored = DEPARTMENT_CHECK, labels[0]
    summary = ValidationSummary(suite_name=suite.name, success=False, evaluated=len(labels) - 1,
                                failed=(errored,), errored=(errored,), skipped=(skipped,), severity="error",
                                row_count=3)
    result = to_validation_result(suite, summary, batch="raw_salesforce.user", run_id=RunIdentifier("t", RUN_TIME))
    assert len(result.results) == len(labels) - 1  # the skipped one did not run
    assert result.meta["batch_markers"]["skipped_expectations"] == [skipped]
    first = result.results[0]
    assert not first.success and first.exception_info["raised_exception"] and "unexpected_count" not in first.result


# --- the site --------------------------------------------------------------------------------


def test_the_site_has_a_page_per_suite_and_the_failure_shows_as_failed(site: Path, outcomes):
    index = (site / "index.html").read_text(encoding="utf-8")
    for o in outcomes:
        assert (site / "expectations" / f"{o.suite.name}.html").is_file()
        assert o.suite.name in _text(index)  # the index table is static HTML, not filled by JS
    page = _text(_validation_page(site, "raw_salesforce__user").read_text(encoding="utf-8"))
    assert "Status: Failed" in page and "Unsuccessful Expectations 1" in page
    assert "25% unexpected" in page  # the failing expectation's count, as a share
    passed = _text(_validation_page(site, "raw_erp__invoices").read_text(encoding="utf-8"))
    assert "Status: Succeeded" in passed and "Unsuccessful Expectations 0" in passed


def test_no_personal_value_appears_anywhere_in_the_site(site: Path, warehouse: Path):
    with duckdb.connect(str(warehouse), read_only=True) as con:  # the values are there to leak
        assert con.execute("select count(*) from raw_salesforce.user where department = ?",
                           [PII_EMAIL]).fetchone() == (1,)
    assert _files_containing(site, [PII_EMAIL, PII_NAME, "private-mail", "Quinta"]) == {}


def test_the_pii_check_would_see_a_value_that_gx_rendered(outcomes, tmp_path: Path):
    """Control for the test above: a GX result that did hold the failing values (as GX's own
    engine reports them by default) puts them in the page, and the search finds them."""
    from expectations import data_docs

    outcome = _outcome(outcomes, "raw_salesforce__user")
    original = data_docs.to_validation_result

    def leaky(suite, summary, **kwargs):
        result = original(suite, summary, **kwargs)
        for r in result.results:
            if not r.success:
                r.result.update(partial_unexpected_list=[PII_EMAIL],
                                partial_unexpected_counts=[{"value": PII_EMAIL, "count": 1}])
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(data_docs, "to_validation_result", leaky)
        leaked = build_data_docs([outcome], tmp_path / "leaky", run_time=RUN_TIME).parent
    assert _files_containing(leaked, [PII_EMAIL])


def test_a_missing_table_gets_a_page_that_says_so(outcomes, tmp_path: Path):
    """GX logs a page it fails to render and carries on; the builder refuses such a site, so a
    missing table (every expectation failed with a reason, no traceback) must render."""
    outcome = _outcome(outcomes, "raw_erp__invoices")
    missing = ValidationSummary(suite_name=outcome.suite.name, success=False, evaluated=0,
                                failed=("table_exists",), severity="error")
    site = build_data_docs([SuiteOutcome(outcome.suite, outcome.batch, missing)], tmp_path / "dd",
                           run_time=RUN_TIME).parent
    page = _text(_validation_page(site, "raw_erp__invoices").read_text(encoding="utf-8"))
    assert "Status: Failed" in page and "Successful Expectations 0" in page
    assert page.count("the table does not exist") >= len(outcome.suite.expectations)


def test_suites_without_outcomes_get_suite_pages_only(tmp_path: Path):
    from expectations.data_docs import suites_only

    outcomes = suites_only()
    site = build_data_docs(outcomes, tmp_path / "dd", run_time=RUN_TIME).parent
    assert {p.stem for p in (site / "expectations").glob("*.html")} == {o.suite.name for o in outcomes}
    assert not list(site.glob("validations/**/*.html"))


def test_nothing_in_the_site_points_to_another_host(site: Path):
    assert site_external_references(site) == {}
    # GX's stock templates do (control): the CDN tags the offline views remove
    from great_expectations.render.view import DefaultJinjaPageView

    stock = DefaultJinjaPageView().env.loader.get_source(DefaultJinjaPageView().env, "js_script_imports.j2")[0]
    assert "https://code.jquery.com" in stock
    assert "https://" not in strip_external('<script src="https://code.jquery.com/j.js"></script>'
                                            '<link rel="stylesheet" href="//cdn.example/x.css">'
                                            "<style>a { background: url('https://x.example/l.png') }</style>")


def test_building_the_site_opens_no_network_connection(outcomes, tmp_path: Path, monkeypatch):
    import socket

    attempts = []
    real_connect = socket.socket.connect

    def recording_connect(sock, address):
        attempts.append(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    with socket.create_server(("127.0.0.1", 0)) as server, socket.socket() as probe:  # the recorder works
        probe.connect(server.getsockname())
    assert len(attempts) == 1
    attempts.clear()
    build_data_docs(outcomes, tmp_path / "dd", run_time=RUN_TIME)
    assert attempts == []


def test_a_refused_site_leaves_the_published_one_in_place(outcomes, tmp_path: Path):
    target = tmp_path / "data_docs"
    build_data_docs(outcomes[:2], target, run_time=RUN_TIME)
    before = sorted(p.relative_to(target) for p in target.rglob("*.html"))

    def refuse(staging: Path) -> None:
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError, match="refused"):
        build_data_docs(outcomes, target, run_time=RUN_TIME, verify=refuse)
    assert sorted(p.relative_to(target) for p in target.rglob("*.html")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["data_docs"]  # no staging directory left behind

