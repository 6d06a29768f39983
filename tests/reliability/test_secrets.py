"""No credential the platform reads ever reaches a log, an artifact, the warehouse or a report.

Why this test exists (issue 9 item 6; reliability-and-performance.md §8 and checklist row 16):
finance mails the reports, CI keeps its logs, support bundles copy LTC_HOME, and anyone with the
Dagster UI reads the event log. A secret in any of them hands a source system to its reader. The
connectors keep secrets out of `repr()`, but they also travel through simple-salesforce, requests,
SQLAlchemy, connectorx, dlt, dbt (which sees the whole environment), Great Expectations, Dagster
and smtplib, each of which logs, pickles or stores things of its own.

So the whole refresh runs once, through the CLI (`ltc --verbose run`: DEBUG everywhere) on the
sandbox company at 250 leads, with a distinctive fake value for every credential the platform
reads (`Settings.secrets()` must list nothing unplanted, so a new credential cannot be forgotten):

* in use by the run: the Salesforce access token (the fake only answers it), the HubSpot token,
  the ERP database password (the sandbox ERP copied into the local Postgres server, which trusts
  any password; without Postgres the ERP stays on SQLite and the password is only present), the
  SMTP password (the report is mailed through a loopback SMTP server that checks the login);
* present in the environment only (another credential variant wins, or the feature is off):
  Salesforce client secret, password and security token, `LTC_PG_DSN`'s password,
  `DBT_ENV_SECRET_PG_PASSWORD`, the Dagster Postgres password, the deprecated alert SMTP
  password, the alert webhook's token and the AWS keys s3fs would read for an `s3://` drop.

Then every form of every secret (plain, URL-encoded, base64: tests/support/secret_scan.py) is
searched for in: the log records, the console (file-descriptor level), every file under LTC_HOME
(warehouse text columns and dlt state, the Dagster instance's event log and compute logs, the
published HTML/XLSX/PDF, the GE Data Docs, the dbt docs), the run's dbt target and log folder and
the project's shared dbt target/ and logs/, every event of the Dagster run and the mail sent.
Zero hits. tests/integration/test_salesforce_secrets.py covers each Salesforce login variant and
failed logins in depth; this test covers the whole pipeline.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest
import yaml
from secret_scan import capture_all_logs, file_leaks, hits, log_leaks
from smtp_sink import smtp_sink

from connectors.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SEED, SCALE = 7, 250
MARKER = "S3cr3t"  # every planted value starts with it, so a reader of a failure sees it is ours
SMTP_USER = "reports-bot"  # a user name, not a secret
REPO = Path(__file__).resolve().parents[2]
# Loggers of this test's own stand-in servers, not of the platform: aiosmtpd logs the AUTH
# exchange it receives (the password, base64) at DEBUG, as any mail server's debug log would.
TEST_SERVERS_LOGS = ("mail.log",)
DBT_PROJECT = REPO / "dbt_project"


def _secret(kind: str, special: str = "") -> str:
    # `special`: characters that a URL must encode, so an un-decoded or re-encoded copy is caught too
    return f"{MARKER}-{kind}-{special}{uuid.uuid4().hex}"


def _plant() -> dict[str, str]:
    """A fresh value per credential, by a readable kind (the environment variable or its part)."""
    return {
        "SALESFORCE_ACCESS_TOKEN": _secret("sf-access-token"),
        "SALESFORCE_CLIENT_ID": _secret("sf-client-id"),
        "SALESFORCE_CLIENT_SECRET": _secret("sf-client-secret"),
        "SALESFORCE_PASSWORD": _secret("sf-password"),
        "SALESFORCE_SECURITY_TOKEN": _secret("sf-security-token"),
        "LTC_MARKETING_API_TOKEN": _secret("hubspot-token"),
        "LTC_ERP_URL password": _secret("erp-password", "p@ss:w/rd#%+"),
        "LTC_PG_DSN password": _secret("pg-dsn-password", "p@ss/"),
        "DBT_ENV_SECRET_PG_PASSWORD": _secret("dbt-pg-password"),
        "LTC_DAGSTER_PG_PASSWORD": _secret("dagster-pg-password"),
        "LTC_SMTP_PASSWORD": _secret("smtp-password"),
        "LTC_ALERT_SMTP_PASSWORD": _secret("alert-smtp-password"),
        "LTC_ALERT_WEBHOOK_URL token": _secret("webhook-token"),
        "AWS_ACCESS_KEY_ID": _secret("aws-key-id").upper(),
        "AWS_SECRET_ACCESS_KEY": _secret("aws-secret-key"),
        "AWS_SESSION_TOKEN": _secret("aws-session-token"),
    }


# ---- the one run ---------------------------------------------------------------------------------


@dataclass
class SecretRun:
    home: Path
    secrets: dict[str, str]
    settings_secrets: list[str]
    console: str
    records: list
    run_id: str
    dagster_texts: list[tuple[str, str]]
    dbt_copy: Path  # the run's dbt target/log folder and the project's shared dbt files, copied
    mails: list[bytes]
    smtp_logins: list[tuple[str, str]]
    sf_requests: list[str]
    hubspot_requests: int
    erp_on_postgres: bool
    landed: dict[str, int] = field(default_factory=dict)


class _SmtpLogin:
    """aiosmtpd authenticator: accepts only the planted SMTP password, records every attempt."""

    def __init__(self, password: str) -> None:
        self.password, self.logins = password, []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        ok = (login, password) == (SMTP_USER, self.password)
        return AuthResult(success=ok, handled=ok)


@contextmanager
def _console_to(path: Path):
    """Send the console to `path`: file descriptors 1 and 2 (subprocesses such as dbt, C
    libraries) and Python's sys.stdout/sys.stderr (which pytest replaces with its own files)."""
    import sys
    from contextlib import redirect_stderr, redirect_stdout

    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "wb") as sink, open(sink.fileno(), "w", buffering=1, closefd=False,
                                         encoding="utf-8", errors="replace") as text:
        os.dup2(sink.fileno(), 1), os.dup2(sink.fileno(), 2)
        try:
            with redirect_stdout(text), redirect_stderr(text):
                yield
        finally:
            text.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])


def _postgres_up() -> bool:
    try:
        import psycopg2

        from connectors.erp.postgres_copy import PG_ADMIN

        psycopg2.connect(PG_ADMIN, connect_timeout=3).close()
        return True
    except Exception:  # noqa: BLE001 - any failure means: no server to use
        return False


def _erp_url(stack: ExitStack, sandbox: Path, password: str) -> tuple[str, bool]:
    """The ERP's URL with the planted password: the sandbox ERP copied into a throwaway Postgres
    database (trust auth: any password is accepted), else the SQLite file (which takes none)."""
    if not _postgres_up():
        if os.environ.get("LTC_REQUIRE_SERVICES") == "1":
            pytest.fail("required service missing (LTC_REQUIRE_SERVICES=1): Postgres on 127.0.0.1:5432")
        return f"sqlite:///{sandbox / 'erp.sqlite'}", False
    from connectors.erp.mapping import load_mapping
    from connectors.erp.postgres_copy import copy_sqlite_to_postgres, pg_database

    dsn = stack.enter_context(pg_database(f"ltc_secrets_{uuid.uuid4().hex[:10]}"))
    copy_sqlite_to_postgres(sandbox / "erp.sqlite", dsn, load_mapping())
    user, at, rest = dsn.partition("://")[2].partition("@")
    assert at and ":" not in user, dsn
    return f"postgresql://{user}:{quote(password, safe='')}@{rest}", True


def _environment(secrets: dict[str, str], home: Path) -> dict[str, str]:
    """Every credential variable set; the Postgres-only ones point nowhere (DuckDB is the warehouse)."""
    env = {name: value for name, value in secrets.items() if " " not in name}
    env.update({
        "LTC_HOME": str(home),
        "LTC_FINANCE_SETTLE_S": "0",
        "RUNTIME__LOG_LEVEL": "DEBUG",  # dlt logs at DEBUG too
        "SALESFORCE_USERNAME": "integration.user@sandbox.example",
        "LTC_PG_DSN": f"postgresql://ltc:{quote(secrets['LTC_PG_DSN password'], safe='')}@127.0.0.1:5432/ltc",
        "LTC_ALERT_WEBHOOK_URL": f"http://127.0.0.1:9/hooks/ltc?token={secrets['LTC_ALERT_WEBHOOK_URL token']}",
        "LTC_SMTP_USER": SMTP_USER,
        "LTC_SMTP_FROM": "LTC Reports <reports@example.com>",
        "LTC_SMTP_TLS": "none",  # loopback server without TLS (mail.credentials_allowed)
        "LTC_REPORT_MAIL_TO": "cfo@example.com",
    })
    return env


def _copy_dbt_files(run_id: str, into: Path) -> Path:
    """The run's own dbt target/log folder (dagster-dbt: target/<op>-<run id[:7]>-<hash>/) and the
    project's shared target/ files and logs/, copied now: a concurrent run prunes old run folders."""
    from reports.docs_site import DBT_OP_NAME

    target = DBT_PROJECT / "target"
    run_dirs = sorted(target.glob(f"{DBT_OP_NAME}-{run_id[:7]}-*"))
    assert run_dirs, f"no dbt target folder of run {run_id} under {target}"
    for run_dir in run_dirs:
        shutil.copytree(run_dir, into / "run" / run_dir.name)
    (into / "target").mkdir(parents=True)
    for path in target.iterdir():
        if path.is_file():
            shutil.copy(path, into / "target" / path.name)
    if (DBT_PROJECT / "logs").is_dir():
        shutil.copytree(DBT_PROJECT / "logs", into / "logs")
    return into


def _dagster_texts(settings: Settings, run_id: str) -> list[tuple[str, str]]:
    """Every event of the run and the run record, serialised as the instance stores them."""
    from dagster._serdes import serialize_value

    from orchestration.instance import get_instance

    with get_instance(settings) as instance:
        records = instance.get_records_for_run(run_id, limit=100_000).records
        texts = [(f"Dagster event {r.storage_id}", serialize_value(r.event_log_entry)) for r in records]
        texts.append(("the Dagster run record", serialize_value(instance.get_run_by_id(run_id))))
    assert len(texts) > 100, "the run's events were not found"
    return texts


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory) -> SecretRun:
    from connectors.sandbox import FakeSalesforce, generate
    from connectors.sandbox.fake_hubspot import FakeHubSpot
    from orchestration.cli import main, sandbox_environment

    root = tmp_path_factory.mktemp("secrets")
    home = root / "ltc_home"
    secrets = _plant()
    with pytest.MonkeyPatch.context() as mp, ExitStack() as stack:
        for name in list(os.environ):  # nothing from the developer's shell
            if name.startswith(("LTC_", "SALESFORCE_", "DBT_ENV_SECRET_", "AWS_")) and name != "LTC_REQUIRE_SERVICES":
                mp.delenv(name)
        mp.delenv("DAGSTER_HOME", raising=False)
        mp.setenv("LTC_HOME", str(home))
        truth = generate(home / "sandbox", seed=SEED, scale=SCALE)
        erp_url, erp_on_postgres = _erp_url(stack, home / "sandbox", secrets["LTC_ERP_URL password"])
        salesforce = stack.enter_context(FakeSalesforce(home / "sandbox", access_token=secrets["SALESFORCE_ACCESS_TOKEN"]))
        hubspot = stack.enter_context(FakeHubSpot(home / "sandbox", access_token=secrets["LTC_MARKETING_API_TOKEN"]))
        login = _SmtpLogin(secrets["LTC_SMTP_PASSWORD"])
        smtp = stack.enter_context(smtp_sink(login))
        env = _environment(secrets, home)
        env.update(sandbox_environment(home / "sandbox", salesforce.url, secrets["SALESFORCE_ACCESS_TOKEN"],
                                       truth["as_of"]))
        env.update({"LTC_ERP_URL": erp_url, "LTC_MARKETING_API_URL": hubspot.url,
                    "LTC_SMTP_HOST": "127.0.0.1", "LTC_SMTP_PORT": str(smtp.port)})
        for name, value in env.items():
            mp.setenv(name, value)
        settings = Settings.from_env()

        console = root / "console.txt"
        with capture_all_logs() as logs, _console_to(console):
            code = main(["--verbose", "run"])
        text = console.read_text(encoding="utf-8", errors="replace")
        assert code == 0, f"`ltc run` failed:\n{text[-3000:]}"
        run_id = re.findall(r"run ([0-9a-f-]{36}) succeeded", text)
        assert run_id, f"`ltc run` printed no run id:\n{text[-2000:]}"
        dbt_copy = _copy_dbt_files(run_id[-1], root / "dbt")
        with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
            landed = {t: con.execute(f"select count(*) from {t}").fetchone()[0]
                      for t in ("raw_salesforce.lead", "raw_erp.invoices", "raw_marketing.ad_spend")}
        return SecretRun(
            home=home, secrets=secrets, settings_secrets=settings.secrets(), console=text,
            records=[r for r in logs.records if not r.name.startswith(TEST_SERVERS_LOGS)], run_id=run_id[-1], dagster_texts=_dagster_texts(settings, run_id[-1]),
            dbt_copy=dbt_copy, mails=[e.content for e in smtp.envelopes], smtp_logins=list(login.logins),
            sf_requests=list(salesforce.requests), hubspot_requests=len(hubspot.requests),
            erp_on_postgres=erp_on_postgres, landed=landed)


# ---- the run was real ----------------------------------------------------------------------------


def test_every_credential_the_platform_reads_is_planted(secret_run):
    """`Settings.secrets()` is the platform's own list of secret values: each must be one we
    planted (or a URL built around one), so a credential added later cannot escape this test."""
    planted = secret_run.secrets.values()
    unplanted = [s for s in secret_run.settings_secrets if not any(p in s or quote(p, safe="") in s for p in planted)]
    assert not unplanted, "Settings holds secrets this test does not plant"
    secret_fields = [f.name for f in fields(Settings) if not f.repr]
    assert len(secret_run.settings_secrets) == len(secret_fields), (
        f"plant a value for every secret field of Settings: {secret_fields}")


def test_the_credentials_were_really_used(secret_run):
    assert any("/queryAll" in r for r in secret_run.sf_requests), "the fake Salesforce saw no query"
    assert secret_run.smtp_logins == [(SMTP_USER, secret_run.secrets["LTC_SMTP_PASSWORD"])]
    assert secret_run.hubspot_requests > 0, "the fake HubSpot saw no request"
    assert secret_run.mails, "the edition was not mailed"
    assert all(n > 0 for n in secret_run.landed.values()), secret_run.landed
    assert secret_run.erp_on_postgres or os.environ.get("LTC_REQUIRE_SERVICES") != "1"


# ---- zero hits -------------------------------------------------------------------------------------


def _no_leaks(leaks: list[str]) -> None:
    assert not leaks, "secrets leaked:\n" + "\n".join(sorted(set(leaks)))


def test_no_secret_in_logs_or_console(secret_run):
    names = {r.name for r in secret_run.records}
    assert any(n.startswith("dlt") for n in names) and any(n.startswith("dagster") for n in names), names
    _no_leaks(log_leaks(secret_run.secrets, secret_run.records) + hits(secret_run.secrets, secret_run.console, "the console"))


def test_no_secret_under_ltc_home(secret_run):
    """The warehouse (text columns, dlt state), Dagster's instance (event log, compute logs),
    dlt's working folder, the published edition, the dbt docs and the GE Data Docs."""
    home = secret_run.home
    latest = home / "reports" / "latest"
    published = {p.suffix for p in latest.iterdir()}
    assert {".html", ".xlsx"} <= published, published  # the scan below covers real reports
    assert (home / "reports" / "data_docs" / "index.html").is_file()
    assert (home / "reports" / "dbt_docs" / "index.html").is_file()
    assert list((home / "dagster").rglob("*.db")), "no Dagster instance storage under LTC_HOME"
    _no_leaks(file_leaks(secret_run.secrets, home, label="LTC_HOME"))


def test_no_secret_in_dbt_artifacts(secret_run):
    """The run's dbt target (manifest, run_results, compiled SQL, partial parse) and dbt.log, and
    the project's shared target/ and logs/ the run wrote to (the manifest prepared, the partial
    parse handed back)."""
    assert list((secret_run.dbt_copy / "run").rglob("run_results.json"))
    assert list((secret_run.dbt_copy / "run").rglob("dbt.log"))
    _no_leaks(file_leaks(secret_run.secrets, secret_run.dbt_copy, label="dbt"))


def test_no_secret_in_dagster_events(secret_run):
    _no_leaks([leak for where, text in secret_run.dagster_texts for leak in hits(secret_run.secrets, text, where)])


def test_no_secret_in_the_mailed_edition(secret_run):
    _no_leaks([leak for i, mail in enumerate(secret_run.mails) for leak in hits(secret_run.secrets, mail, f"mail {i}")])


# ---- dbt sees secrets only through DBT_ENV_SECRET_ -------------------------------------------------

_ENV_VAR = re.compile(r"""env_var\(\s*['"]([^'"]+)['"]""")
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY\b|CREDENTIAL|DSN|PASS\b", re.I)


def _dbt_files() -> list[Path]:
    files = [DBT_PROJECT / "profiles.yml", DBT_PROJECT / "dbt_project.yml"]
    for folder in ("models", "macros", "seeds", "snapshots", "tests", "data-tests", "analyses"):
        files += [p for p in (DBT_PROJECT / folder).rglob("*") if p.suffix in (".sql", ".yml", ".yaml")]
    return files


def test_dbt_reads_secrets_only_through_dbt_env_secret_variables():
    """dbt masks only `DBT_ENV_SECRET_*` values in its logs and artifacts (§8: a secret under any
    other name is printed in clear by `dbt debug` and logged), so every credential-looking variable
    dbt reads must have the prefix, and the Postgres password must be read that way."""
    offending = [f"{p.relative_to(DBT_PROJECT)}: {name}" for p in _dbt_files()
                 for name in _ENV_VAR.findall(p.read_text(encoding="utf-8"))
                 if _SECRET_NAME.search(name) and not name.startswith("DBT_ENV_SECRET_")]
    assert not offending, f"dbt reads secrets under names it does not mask: {offending}"
    profiles = yaml.safe_load((DBT_PROJECT / "profiles.yml").read_text())
    for name, output in profiles["ltc"]["outputs"].items():
        for key in ("password", "pass", "token", "private_key", "client_secret"):
            value = str(output.get(key, ""))
            assert not value or "DBT_ENV_SECRET_" in value, f"profiles.yml {name}.{key}: {value}"
    assert "DBT_ENV_SECRET_PG_PASSWORD" in profiles["ltc"]["outputs"]["pg"]["password"]


def test_scanner_finds_a_planted_leak(tmp_path):
    """The scan can fail: a secret written the ways a careless writer would is found in each."""
    import base64
    import gzip
    import zipfile

    secret = _secret("probe", "p@ss/")
    secrets = {"probe": secret}
    (tmp_path / "plain.log").write_text(f"connecting with {secret}\n")
    (tmp_path / "dsn.txt").write_text(f"postgresql://u:{quote(secret, safe='')}@h/db")
    (tmp_path / "basic.txt").write_text(base64.b64encode(f"user:{secret}".encode()).decode())
    (tmp_path / "job.gz").write_bytes(gzip.compress(secret.encode()))
    with zipfile.ZipFile(tmp_path / "book.xlsx", "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("xl/sharedStrings.xml", f"<t>{secret}</t>")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema raw; create table raw.t (id int, note varchar)")
        con.execute("insert into raw.t values (1, 'clean'), (2, ?)", [f"token={secret};"])
    found = file_leaks(secrets, tmp_path)
    for where in ("plain.log", "dsn.txt", "basic.txt", "job.gz (gunzipped)", "book.xlsx!xl/sharedStrings.xml",
                  "w.duckdb: raw.t.note"):
        assert any(where in leak for leak in found), (where, found)
