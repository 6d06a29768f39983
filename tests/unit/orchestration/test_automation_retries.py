"""Ingest failures: transient ones are retried with a growing wait, the rest fail at once.

The classification is tested on the exceptions the connectors really raise (built through the
connectors' own translation code, or provoked for real: a refused TCP connection, a DuckDB file
locked by another process, a locked SQLite database), wrapped the way `run_ingest` wraps them.
The last tests run the real finance ingest asset in process and count its attempts.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import requests
import sqlalchemy as sa
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest, SalesforceRefusedRequest

from connectors.ingest import IngestError
from connectors.landing import LandingConfigError
from connectors.salesforce.client import SalesforceConfigError
from connectors.salesforce.source import QuotaGuard, _translate
from connectors.values import FileFormatError
from orchestration.defs.automation.retries import (
    MAX_WAIT_S,
    RATE_LIMIT_FACTOR,
    backoff_seconds,
    classify_failure,
    exception_chain,
    redact,
    retry_or_fail,
)

SF_URL = "https://example.my.salesforce.com/services/data/v62.0/query"


def wrapped(inner: BaseException, message: str = "salesforce: failed") -> IngestError:
    """`inner` under an IngestError, chained with `from` as run_ingest does."""
    try:
        try:
            raise inner
        except BaseException as exc:
            raise IngestError(message) from exc
    except IngestError as outer:
        return outer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- permanent: configuration, input, the quota reserve, anything unknown -----------------------

@pytest.mark.parametrize("inner", [
    SalesforceConfigError("SALESFORCE_INSTANCE_URL is not set"),
    LandingConfigError("LTC_ADSPEND_DROP is not set"),
    FileFormatError("statement.xml: not a CAMT.053 document"),
])
def test_configuration_and_input_errors_are_permanent(inner):
    verdict = classify_failure(wrapped(inner))
    assert not verdict.transient
    assert type(inner).__name__ in verdict.reason


def test_an_ingest_error_with_no_cause_is_permanent():
    assert not classify_failure(IngestError("LTC_ERP_URL is not set; set it to the ERP's SQLAlchemy URL")).transient


def test_unknown_exceptions_are_permanent():
    verdict = classify_failure(KeyError("Amount"))
    assert not verdict.transient and "KeyError" in verdict.reason


def test_the_salesforce_quota_reserve_is_permanent_but_request_limit_exceeded_is_transient():
    class Usage:
        used, total = 95, 100

    class Client:
        api_usage = {"api-usage": Usage()}

    with pytest.raises(Exception) as reserve:
        QuotaGuard(10).check(Client(), "Lead")
    assert not classify_failure(wrapped(reserve.value)).transient

    refused = SalesforceRefusedRequest(SF_URL, 403, "Lead", [{"errorCode": "REQUEST_LIMIT_EXCEEDED",
                                                              "message": "TotalRequests Limit exceeded."}])
    verdict = classify_failure(wrapped(_translate("Lead", refused)))
    assert verdict.transient and verdict.delay_factor == RATE_LIMIT_FACTOR


# ---- transient: Salesforce availability, HTTP, network, locks -----------------------------------

def test_salesforce_server_unavailable_after_transport_retries_is_transient():
    outage = SalesforceGeneralError(SF_URL, 503, "Lead", [{"errorCode": "SERVER_UNAVAILABLE",
                                                           "message": "maintenance"}])
    translated = _translate("Lead", outage)
    translated.__cause__ = outage
    verdict = classify_failure(wrapped(translated))
    assert verdict.transient and "SERVER_UNAVAILABLE" in verdict.reason


def test_salesforce_unable_to_lock_row_is_transient_and_a_malformed_query_is_not():
    lock = SalesforceGeneralError(SF_URL, 409, "Lead", [{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "row lock"}])
    assert classify_failure(wrapped(lock)).transient
    bad = SalesforceMalformedRequest(SF_URL, 400, "Lead", [{"errorCode": "INVALID_FIELD", "message": "No such column"}])
    translated = _translate("Lead", bad)
    translated.__cause__ = bad
    verdict = classify_failure(wrapped(translated))
    assert not verdict.transient and verdict.reason == "HTTP 400"


@pytest.mark.parametrize("status,transient", [(500, True), (502, True), (503, True), (504, True), (429, True),
                                              (401, False), (404, False), (422, False)])
def test_http_errors_are_transient_only_for_5xx_and_429(status, transient):
    response = requests.Response()
    response.status_code = status
    assert classify_failure(wrapped(requests.HTTPError(response=response))).transient is transient


def test_a_refused_connection_is_transient():
    with pytest.raises(requests.ConnectionError) as refused:
        requests.get(f"http://127.0.0.1:{free_port()}/", timeout=2)
    verdict = classify_failure(wrapped(refused.value, "marketing: cannot reach the source"))
    assert verdict.transient and "ConnectionError" in verdict.reason


def test_a_certificate_error_is_not_transient():
    assert not classify_failure(wrapped(requests.exceptions.SSLError("certificate verify failed"))).transient


def test_a_duckdb_file_locked_by_another_process_is_transient(tmp_path: Path):
    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r}); con.execute("create table t(a int)")
        print("locked", flush=True); sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(duckdb.IOException) as locked:
            duckdb.connect(str(path))
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    verdict = classify_failure(wrapped(locked.value, "finance ingest failed in step load"))
    assert verdict.transient and "locked" in verdict.reason


def test_a_locked_sqlite_database_is_transient(tmp_path: Path):
    path = tmp_path / "erp.sqlite"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("create table t(a int)")
    writer.execute("begin exclusive")
    try:
        with pytest.raises(sqlite3.OperationalError) as locked:
            sqlite3.connect(path, timeout=0).execute("insert into t values (1)")
    finally:
        writer.execute("rollback")
        writer.close()
    assert classify_failure(wrapped(locked.value, "erp ingest failed in step extract")).transient


def test_a_lost_database_connection_and_a_postgres_deadlock_are_transient():
    lost = sa.exc.OperationalError("select 1", {}, Exception("server closed the connection unexpectedly"),
                                   connection_invalidated=True)
    assert classify_failure(wrapped(lost)).transient

    class DeadlockDetected(Exception):
        pgcode = "40P01"

    assert classify_failure(wrapped(DeadlockDetected("deadlock detected"))).transient

    class UndefinedTable(Exception):
        pgcode = "42P01"

    assert not classify_failure(wrapped(UndefinedTable("relation does not exist"))).transient


def test_our_configuration_error_wins_over_the_transient_error_it_wraps():
    config = SalesforceConfigError("Salesforce login failed; check SALESFORCE_CLIENT_ID")
    config.__cause__ = ConnectionResetError("reset by peer")
    assert not classify_failure(wrapped(config)).transient


def test_the_exception_chain_follows_implicit_context_and_stops_on_cycles():
    a, b = RuntimeError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert list(exception_chain(a)) == [a, b]


# ---- backoff and the exception the op raises ----------------------------------------------------

def test_backoff_doubles_per_retry_and_is_capped():
    assert [backoff_seconds(n, 10) for n in range(4)] == [10, 20, 40, 80]
    assert backoff_seconds(1, 10, factor=6) == 120
    assert backoff_seconds(30, 10) == MAX_WAIT_S


def test_a_transient_failure_with_retries_left_requests_a_retry_with_a_growing_wait():
    exc = wrapped(ConnectionResetError("reset"))
    first = retry_or_fail(exc, 0, max_retries=3, base_delay_s=10)
    third = retry_or_fail(exc, 2, max_retries=3, base_delay_s=10)
    assert isinstance(first, dg.RetryRequested) and isinstance(third, dg.RetryRequested)
    assert (first.seconds_to_wait, third.seconds_to_wait) == (10, 40)
    assert first.max_retries == 3


def test_a_transient_failure_without_retries_left_fails_with_its_message():
    failure = retry_or_fail(wrapped(ConnectionResetError("reset"), "erp: cannot reach the source"), 3,
                            max_retries=3, base_delay_s=10)
    assert isinstance(failure, dg.Failure) and failure.allow_retries is False
    assert failure.description.startswith("erp: cannot reach the source") and "after 3 retries" in failure.description


def test_a_permanent_failure_fails_at_once_with_its_message_and_no_secret():
    exc = IngestError("erp: cannot log in as etl with password hunter2-secret\nstack details")
    failure = retry_or_fail(exc, 0, max_retries=3, base_delay_s=10, secrets=["hunter2-secret"])
    assert isinstance(failure, dg.Failure) and failure.allow_retries is False
    assert failure.description == "erp: cannot log in as etl with password ***"


def test_redaction_covers_a_dsn_password_and_a_webhook_path_on_their_own():
    secrets = ["postgresql://etl:pw-1234@db/erp", "https://hooks.example.com/services/T0K3N", None]
    text = "auth failed (pw-1234) posting to /services/T0K3N via postgresql://etl:pw-1234@db/erp"
    assert redact(text, secrets) == "auth failed (***) posting to *** via ***"


def test_dagster_control_flow_passes_through_unchanged():
    retry = dg.RetryRequested(max_retries=1)
    assert retry_or_fail(retry, 0, max_retries=3, base_delay_s=1) is retry


# ---- the real ingest asset --------------------------------------------------------------------

def _finance_asset():
    from orchestration.defs.ingest.assets import ingest_assets

    return next(a for a in ingest_assets if a.op.name == "ingest_finance")


def _step_events(result, event_type: str):
    return [e for e in result.all_events if e.event_type_value == event_type]


def test_the_finance_ingest_without_a_drop_fails_once_with_the_setting_to_fix(ltc_home: Path):
    result = dg.materialize([_finance_asset()], instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    assert _step_events(result, "STEP_UP_FOR_RETRY") == []
    [failure] = _step_events(result, "STEP_FAILURE")
    description = failure.step_failure_data.user_failure_data.description
    assert "LTC_FINANCE_DROP is not set" in description


def test_the_finance_ingest_retries_a_locked_warehouse_with_growing_waits(ltc_home: Path, monkeypatch):
    drop = ltc_home / "drop"
    drop.mkdir()
    warehouse = ltc_home / "warehouse.duckdb"
    monkeypatch.setenv("LTC_FINANCE_DROP", str(drop))
    monkeypatch.setenv("LTC_DUCKDB_PATH", str(warehouse))
    monkeypatch.setenv("LTC_RETRY_MAX", "2")
    monkeypatch.setenv("LTC_RETRY_DELAY_S", "0.2")
    # each attempt first waits this long for the file (connectors/warehouse_lock.py), then fails
    monkeypatch.setenv("LTC_WAREHOUSE_LOCK_WAIT_S", "0.3")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys
        con = duckdb.connect({str(warehouse)!r}); con.execute("create table t(a int)")
        print("locked", flush=True); sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = dg.materialize([_finance_asset()], instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert not result.success
    retries = _step_events(result, "STEP_UP_FOR_RETRY")
    assert [e.event_specific_data.seconds_to_wait for e in retries] == [0.2, 0.4]
    [failure] = _step_events(result, "STEP_FAILURE")
    description = failure.step_failure_data.user_failure_data.description
    assert "after 2 retries" in description and "locked" in description


def test_a_failed_blocking_check_fails_the_step_without_a_retry(ltc_home: Path):
    """The ingest ops' shape: land, then audit; a failed ERROR check must not re-run the landing."""
    attempts = []

    @dg.multi_asset(specs=[dg.AssetSpec("landed")],
                    check_specs=[dg.AssetCheckSpec("audit", asset="landed", blocking=True)])
    def land(context):
        attempts.append(context.retry_number)
        try:
            yield dg.MaterializeResult(asset_key="landed")
            yield dg.AssetCheckResult(asset_key="landed", check_name="audit", passed=False,
                                      severity=dg.AssetCheckSeverity.ERROR)
        except Exception as exc:
            raise retry_or_fail(exc, context.retry_number, max_retries=3, base_delay_s=0.1) from exc

    result = dg.materialize([land], instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success and attempts == [0]
    assert _step_events(result, "STEP_UP_FOR_RETRY") == []
