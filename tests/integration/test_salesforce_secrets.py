"""Salesforce credentials never leak into anything the platform writes, prints or logs.

Why this test exists: an access token, a connected app's client secret or a user's password +
security token in a log line, a dlt trace, the warehouse or a Dagster event would hand the CRM to
whoever can read that artifact (CI logs, the Dagster UI, a shared DuckDB file, a support bundle).
`Settings` keeps secrets out of its repr, but the secrets also travel through simple-salesforce,
requests, dlt and Dagster, each of which logs, pickles or stores things of its own. So for every
credential variant the connector supports (`connectors/salesforce/client.py`):

* access token (used as the session id as is),
* OAuth client credentials (client id + client secret → session token),
* username + password + security token (SOAP login → session token),

the test sets distinctive secret values (`S3cr3t-…-<uuid>`; the fake issues a distinctive session
token too), runs the ingest — `run_ingest`, the CLI's `ltc ingest salesforce`, and once by materialising the
Dagster assets `raw/salesforce/*` on an instance under LTC_HOME — with every logger at DEBUG, and then looks for each secret
in: captured logs (messages, arguments, exceptions), stdout/stderr at file-descriptor level, the
`IngestResult`, every file under LTC_HOME (raw bytes, gzip-decompressed, every text column of every
table in the DuckDB file, dlt's compressed pipeline state), and every event of the Dagster run.

It also fails the login on purpose (wrong access token, client secret, password) and revokes the
session mid-run (from the third object's query on, every query answers 401 INVALID_SESSION_ID, also
after re-authenticating): the error must carry no secret, not even down its exception chain (which
`ltc --verbose` and Dagster's failure events print), and a wrong credential must give an
`IngestError` naming the variable(s) to fix.

The plain sandbox fake accepts any client secret and any password, so `StrictFake` below checks
them as Salesforce does; a run that succeeds therefore proves the secret really was presented.
"""

from __future__ import annotations

import html
import re
import uuid
from base64 import b64decode
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from secret_scan import assert_no_leaks, capture_all_logs
from secret_scan import exception_text as _exception_text
from secret_scan import hits as _hits

from connectors.ingest import IngestError, run_ingest
from connectors.sandbox.fake_salesforce import FakeSalesforce
from connectors.sandbox.generator import generate
from connectors.settings import Settings

pytestmark = pytest.mark.timeout(300)

METHODS = ("access_token", "client_credentials", "password")
USERNAME = "integration.user@sandbox.example"  # not a secret


def _secret(kind: str) -> str:
    return f"S3cr3t-{kind}-{uuid.uuid4().hex}"


class StrictFake(FakeSalesforce):
    """The sandbox fake, checking client id + secret and username + password + security token as
    Salesforce does, and able to revoke the session at the n-th queryAll of a run."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.client_id: str | None = None
        self.client_secret: str | None = None
        self.username: str | None = None
        self.password: str | None = None
        self.security_token: str | None = None
        self.logins: list[str] = []  # successful logins, by grant
        self.revoke_at_query: int | None = None
        self._queries = 0

    def handle(self, method, raw_path, headers, body):
        if self.revoke_at_query is not None and "/queryAll" in raw_path:
            with self._lock:
                self._queries += 1
                if self._queries == self.revoke_at_query:
                    # this query and every later one, also after re-authenticating (simple_salesforce
                    # itself re-logs in a password session on 401 a few times before giving up)
                    self.fail_next(401, "INVALID_SESSION_ID", "Session expired or invalid", path="/query", times=100)
        return super().handle(method, raw_path, headers, body)

    def _token(self, body, headers):
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, secret = b64decode(auth[6:]).decode("utf-8", "replace").partition(":")
            form.setdefault("client_id", client_id)
            form.setdefault("client_secret", secret)
        if form.get("grant_type") == "client_credentials":
            if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}, {}
            self.logins.append("client_credentials")
        return super()._token(body, headers)

    def _soap_login(self, body):
        text = body.decode("utf-8", "replace")
        user = re.search(r"<(?:\w+:)?username>([^<]*)</", text)
        password = re.search(r"<(?:\w+:)?password>([^<]*)</", text)
        given = (html.unescape(user.group(1)) if user else None, html.unescape(password.group(1)) if password else None)
        if given != (self.username, f"{self.password}{self.security_token}"):
            return super()._soap_login(b"")  # Salesforce's INVALID_LOGIN fault
        self.logins.append("password")
        return super()._soap_login(body)


# ---- leak detection: tests/support/secret_scan.py (shared with tests/reliability/test_secrets.py)

# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def org_dir(tmp_path_factory) -> Path:
    """A small sandbox company, outside LTC_HOME (its files are the org's, not ours)."""
    out = tmp_path_factory.mktemp("org")
    generate(out, seed=7, scale=60)
    return out


@pytest.fixture
def all_logs(monkeypatch):
    """Every log record at DEBUG, dlt's included (its logger does not propagate to root)."""
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    with capture_all_logs() as logs:
        yield logs


class Auth:
    """One credential variant configured in the environment and in the fake."""

    def __init__(self, method: str, fake: StrictFake, secrets: dict[str, str]):
        self.method, self.fake, self.secrets = method, fake, secrets


def _configure(method: str, fake: StrictFake, monkeypatch, *, wrong: bool = False) -> dict[str, str]:
    """Set `method`'s variables to fresh secrets the fake expects (with `wrong`: the password, client
    secret or token in the environment is another one). Returns every secret in play, by kind."""
    secrets = {"session token": fake.access_token}  # what the org issues after a login
    in_env = []

    def setenv(name: str, kind: str, *, may_be_wrong: bool = True) -> str:
        expected = secrets[kind] = _secret(kind.replace(" ", "-"))
        value = expected
        if wrong and may_be_wrong:
            value = secrets[f"wrong {kind}"] = _secret(f"wrong-{kind.replace(' ', '-')}")
        monkeypatch.setenv(name, value)
        in_env.append(value)
        return expected

    if method == "access_token":
        fake.access_token = secrets["session token"] = setenv("SALESFORCE_ACCESS_TOKEN", "access token")
    elif method == "client_credentials":
        fake.client_id = setenv("SALESFORCE_CLIENT_ID", "client id", may_be_wrong=False)
        fake.client_secret = setenv("SALESFORCE_CLIENT_SECRET", "client secret")
    else:
        fake.username = USERNAME
        monkeypatch.setenv("SALESFORCE_USERNAME", USERNAME)
        fake.password = setenv("SALESFORCE_PASSWORD", "password")
        fake.security_token = setenv("SALESFORCE_SECURITY_TOKEN", "security token", may_be_wrong=False)
    # the project itself treats exactly these values as secrets (kept out of repr, `secrets()`)
    configured = Settings.from_env()
    assert sorted(configured.secrets()) == sorted(in_env)
    assert not _hits(secrets, repr(configured), "repr(Settings)")
    return secrets


@pytest.fixture(params=METHODS)
def auth(request, ltc_home, org_dir, monkeypatch) -> Auth:
    fake = StrictFake(org_dir, batch_size=200, access_token=_secret("session-token"))
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", fake.start())
    try:
        yield Auth(request.param, fake, _configure(request.param, fake, monkeypatch))
    finally:
        fake.stop()


# ---- successful runs -------------------------------------------------------------------------


def test_ingest_and_cli_leak_no_secret(auth, ltc_home, all_logs, capfd):
    from orchestration.cli import main

    result = run_ingest("salesforce")
    assert result.rows_loaded.get("lead", 0) > 0
    assert main(["ingest", "salesforce"]) == 0  # the incremental run, through the CLI's printing
    out, err = capfd.readouterr()
    assert "ingested salesforce" in out
    if auth.method != "access_token":
        assert auth.fake.logins == [auth.method, auth.method], "the fake did not check the configured secret"
    assert any("/queryAll" in r for r in auth.fake.requests)
    names = {r.name for r in all_logs.records}
    assert all_logs.dlt_logger in names and "urllib3.connectionpool" in names, f"log capture is broken: {names}"
    assert_no_leaks(auth.secrets, ltc_home, all_logs.records, out, err,
                    ("IngestResult", repr(result)), ("IngestResult.notes", "\n".join(result.notes)))


@pytest.mark.parametrize("auth", ["password"], indirect=True)
def test_dagster_materialization_leaks_no_secret(auth, ltc_home, all_logs, capfd, monkeypatch):
    import dagster as dg
    from dagster._serdes import serialize_value

    from orchestration.defs.ingest.assets import ingest_assets, raw_asset_key
    from orchestration.instance import get_instance

    settings = Settings.from_env()
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))  # get_instance sets it; undo after
    salesforce = next(a for a in ingest_assets if any(k.path[:2] == ["raw", "salesforce"] for k in a.keys))
    keys = sorted(salesforce.keys, key=lambda k: k.to_user_string())
    assert raw_asset_key("salesforce", "lead") in keys
    with get_instance(settings) as instance:  # SQLite storage under $LTC_HOME/dagster, as `ltc run` uses
        # the raw assets only: the GE checks in the same step read the warehouse, not the credentials
        result = dg.materialize([salesforce], instance=instance, raise_on_error=False,
                                selection=dg.AssetSelection.assets(*keys).without_checks())
        assert result.success
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        assert materialized == set(keys)
        records = instance.get_records_for_run(result.run_id).records
        assert records
        events = [serialize_value(r.event_log_entry) for r in records]
        run = serialize_value(instance.get_run_by_id(result.run_id))
    assert auth.fake.logins == ["password"]
    out, err = capfd.readouterr()
    assert_no_leaks(auth.secrets, ltc_home, all_logs.records, out, err,
                    ("the Dagster run record", run), *[("a Dagster event", e) for e in events])


# ---- failures ---------------------------------------------------------------------------------


def _fail_login(method: str, org_dir: Path, monkeypatch) -> tuple[BaseException, dict[str, str], StrictFake]:
    """Configure `method` with a wrong secret; return what `run_ingest` raised, and call the CLI once."""
    from orchestration.cli import main

    fake = StrictFake(org_dir, batch_size=200, access_token=_secret("session-token"))
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", fake.start())
    try:
        secrets = _configure(method, fake, monkeypatch, wrong=True)
        with pytest.raises(Exception) as failure:
            run_ingest("salesforce")
        assert main(["ingest", "salesforce"]) == 1
    finally:
        fake.stop()
    assert fake.logins == []
    return failure.value, secrets, fake


@pytest.mark.parametrize("method", METHODS)
def test_wrong_credentials_leak_no_secret(method, ltc_home, org_dir, all_logs, capfd, monkeypatch):
    exc, secrets, _ = _fail_login(method, org_dir, monkeypatch)
    out, err = capfd.readouterr()
    assert "ltc: error:" in err
    assert_no_leaks(secrets, ltc_home, all_logs.records, out, err,
                    ("the error", str(exc)), ("the error's chain and traceback", _exception_text(exc)),
                    expect_files=False)  # a failed login may stop before anything is written


WHAT_TO_FIX = {
    "access_token": ("SALESFORCE_ACCESS_TOKEN",),
    "client_credentials": ("SALESFORCE_CLIENT_SECRET",),
    "password": ("SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN"),
}


@pytest.mark.parametrize("method", [
    "access_token",
    "client_credentials",
    "password",
])
def test_wrong_credentials_error_says_what_to_fix(method, ltc_home, org_dir, all_logs, capfd, monkeypatch):
    exc, _, _ = _fail_login(method, org_dir, monkeypatch)
    _, err = capfd.readouterr()
    assert isinstance(exc, IngestError), f"{type(exc).__name__} escaped run_ingest: {exc}"
    assert "\n" not in str(exc)
    assert all(name in str(exc) for name in WHAT_TO_FIX[method]), str(exc)
    cli = [line for line in err.splitlines() if line.startswith("ltc: error:")]
    assert len(cli) == 1 and all(name in cli[0] for name in WHAT_TO_FIX[method]), err


def test_session_revoked_mid_run_fails_without_the_token(auth, ltc_home, all_logs, capfd):
    auth.fake.revoke_at_query = 3  # from the third object's query on, every query answers 401
    with pytest.raises(IngestError) as failure:
        run_ingest("salesforce")
    out, err = capfd.readouterr()
    exc = failure.value
    assert "again after re-authenticating once" in str(exc)
    assert "SALESFORCE_ACCESS_TOKEN" in str(exc) and "re-run" in str(exc)
    assert sum("/queryAll" in r for r in auth.fake.requests) >= 4  # 3 objects, then the resumed query
    if auth.method != "access_token":
        assert len(auth.fake.logins) >= 2  # the login, and at least one re-login with the secret
    assert_no_leaks(auth.secrets, ltc_home, all_logs.records, out, err,
                    ("the error", str(exc)), ("the error's chain and traceback", _exception_text(exc)))
