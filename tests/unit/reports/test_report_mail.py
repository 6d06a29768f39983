"""The report mail and the shared SMTP transport, against a real SMTP server on 127.0.0.1.

aiosmtpd's `Controller` runs an SMTP server (with AUTH, no TLS) on a free loopback port and keeps
every delivered envelope; the tests parse what it received as a mail client would.
"""

from __future__ import annotations

import datetime as dt
import email
import logging
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from smtp_sink import free_port, smtp_sink

from connectors.settings import Settings
from orchestration.defs.automation import alerts
from reports import mail
from reports.mail import (
    MailError,
    SmtpServer,
    compose_report_mail,
    credentials_allowed,
    mail_report,
    report_mail_configured,
    send_message,
)

PASSWORD = "pa55-w0rd-never-in-the-mail"
USER = "reports-bot"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SUMMARY = (("Booked", "1,234,567.89 USD"), ("DSO", "41.5 days"), ("On-time rate", "<90% & falling"))


class _Authenticator:
    """Accepts USER/PASSWORD only, and records every login attempt."""

    def __init__(self) -> None:
        self.logins: list[tuple[str, str]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        ok = (login, password) == (USER, PASSWORD)
        return AuthResult(success=ok, handled=ok)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture
def smtpd():
    authenticator = _Authenticator()
    with smtp_sink(authenticator) as controller:
        controller.logins = authenticator.logins
        yield controller


def _configure(monkeypatch, port: int, **extra: str) -> None:
    monkeypatch.setenv("LTC_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("LTC_SMTP_PORT", str(port))
    monkeypatch.setenv("LTC_SMTP_FROM", "LTC Reports <reports@example.com>")
    monkeypatch.setenv("LTC_SMTP_USER", USER)
    monkeypatch.setenv("LTC_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("LTC_REPORT_MAIL_TO", "cfo@example.com, ar-team@example.com")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def _report_files(folder: Path) -> dict[str, bytes]:
    files = {
        "executive.html": "<!DOCTYPE html><p>Booked 1 234 567,89 € — café</p>\n".encode(),
        "finance.xlsx": b"PK\x03\x04" + bytes(range(256)) * 40,  # binary, every byte value
        "executive.pdf": b"%PDF-1.7\n" + b"\x00\xff" * 30_000,  # 60 kB: over the 50 kB limit
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


def _parse(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.content, policy=policy.default)


def _bodies(message) -> tuple[str, str]:
    return (message.get_body(preferencelist=("plain",)).get_content(),
            message.get_body(preferencelist=("html",)).get_content())


# ---- the report mail, delivered --------------------------------------------------------------

def test_the_report_mail_is_delivered_with_summary_attachments_and_no_secret(
        ltc_home: Path, tmp_path: Path, monkeypatch, smtpd, caplog):
    _configure(monkeypatch, smtpd.port, LTC_REPORT_MAIL_MAX_MB="0.05")
    caplog.set_level(logging.DEBUG, logger="reports.mail")
    files = _report_files(tmp_path)
    paths = [tmp_path / name for name in files]
    settings = Settings.from_env()
    assert report_mail_configured(settings)

    sent = mail_report(settings, subject="LTC report as of 2026-06-30", summary=SUMMARY,
                       attachments=paths, links=("https://reports.example.com/2026-06-30/",))

    assert sent is True
    [envelope] = smtpd.envelopes
    assert smtpd.logins == [(USER, PASSWORD)]  # AUTH to a loopback server without TLS works
    assert envelope.mail_from == "reports@example.com"
    assert envelope.rcpt_tos == ["cfo@example.com", "ar-team@example.com"]
    message = _parse(envelope)
    assert message["From"] == "LTC Reports <reports@example.com>"
    assert message["To"] == "cfo@example.com, ar-team@example.com"
    assert message["Subject"] == "LTC report as of 2026-06-30"
    assert message["Date"] and message["Message-ID"].endswith("@example.com>")

    text, html = _bodies(message)
    for label, value in SUMMARY:
        assert f"{label}" in text and value in text
        assert f">{label}</th>" in html
        assert f">{value.replace('&', '&amp;').replace('<', '&lt;')}</td>" in html
    assert "https://reports.example.com/2026-06-30/" in text
    assert 'href="https://reports.example.com/2026-06-30/"' in html

    attached = {part.get_filename(): part for part in message.iter_attachments()}
    assert sorted(attached) == ["executive.html", "finance.xlsx"]
    assert attached["executive.html"].get_content_type() == "text/html"
    assert attached["finance.xlsx"].get_content_type() == XLSX
    for name, part in attached.items():
        assert part.get_content_disposition() == "attachment"
        assert part.get_payload(decode=True) == files[name]
    # the oversize PDF is named in both bodies, not attached
    assert "executive.pdf" in text and "executive.pdf" in html and "executive.pdf" not in attached

    raw = envelope.original_content or envelope.content
    assert PASSWORD.encode() not in raw
    assert PASSWORD not in caplog.text and PASSWORD not in repr(settings)
    assert PASSWORD not in repr(SmtpServer.from_settings(settings))
    assert f"sent through SMTP 127.0.0.1:{smtpd.port}" in caplog.text  # the log was captured


def test_a_pdf_under_the_limit_is_attached_as_application_pdf(tmp_path: Path, smtpd):
    (tmp_path / "board.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    message = compose_report_mail(
        sender="reports@example.com", recipients=["cfo@example.com"], subject="Board pack",
        summary=(("Billed", "10.00"),), attachments=[tmp_path / "board.pdf"], max_bytes=1_000_000)
    send_message(message, SmtpServer(host="127.0.0.1", port=smtpd.port, sender="reports@example.com"))
    [envelope] = smtpd.envelopes
    [part] = _parse(envelope).iter_attachments()
    assert part.get_content_type() == "application/pdf" and part.get_filename() == "board.pdf"
    assert part.get_payload(decode=True) == (tmp_path / "board.pdf").read_bytes()
    assert smtpd.logins == []  # no user: no AUTH


def test_the_html_body_is_self_contained(tmp_path: Path):
    (tmp_path / "big.xlsx").write_bytes(b"x" * 2_000)
    message = compose_report_mail(
        sender="reports@example.com", recipients=["cfo@example.com"], subject="Report <2026>",
        summary=SUMMARY, attachments=[tmp_path / "big.xlsx"], max_bytes=1_000)
    _, html = _bodies(message)
    lowered = html.lower()
    for forbidden in ("<img", "<script", "<link", "<style", "src=", "url(", "http"):
        assert forbidden not in lowered, forbidden
    assert "<table" in lowered and "style=" in lowered
    assert "Report &lt;2026&gt;" in html  # escaped
    assert "big.xlsx (2 kB)" in html and "larger than 1 kB" in html
    assert list(message.iter_attachments()) == []


# ---- TLS and credentials ---------------------------------------------------------------------

@pytest.mark.parametrize(("host", "tls", "encrypted", "allowed"), [
    ("smtp.example.com", "auto", False, False),  # remote, no STARTTLS offered: refuse
    ("smtp.example.com", "starttls", True, True),
    ("smtp.example.com", "ssl", True, True),
    ("smtp.example.com", "none", False, True),  # explicitly allowed by the operator
    ("192.0.2.10", "auto", False, False),
    ("127.0.0.1", "auto", False, True),  # loopback: nothing leaves the machine
    ("127.5.6.7", "auto", False, True),
    ("::1", "auto", False, True),
    ("localhost", "auto", False, True),
])
def test_credentials_go_only_encrypted_or_to_loopback_or_when_tls_is_none(host, tls, encrypted, allowed):
    assert credentials_allowed(host, tls, encrypted) is allowed


def test_a_remote_server_without_starttls_gets_no_credentials(monkeypatch, smtpd):
    # the local server stands in for a remote one: only the loopback test says otherwise
    monkeypatch.setattr(mail, "is_loopback", lambda host: False)
    server = SmtpServer(host="127.0.0.1", port=smtpd.port, sender="reports@example.com",
                        user=USER, password=PASSWORD, tls="auto")
    with pytest.raises(MailError, match="refusing to send the SMTP credentials unencrypted") as error:
        send_message(_plain_message(), server)
    assert "LTC_SMTP_TLS=ssl" in str(error.value) and PASSWORD not in str(error.value)
    assert smtpd.logins == [] and smtpd.envelopes == []

    # with TLS explicitly off the operator accepts it, and the mail goes out
    send_message(_plain_message(), SmtpServer(host="127.0.0.1", port=smtpd.port, sender="reports@example.com",
                                              user=USER, password=PASSWORD, tls="none"))
    assert smtpd.logins == [(USER, PASSWORD)] and len(smtpd.envelopes) == 1


def test_starttls_required_but_not_offered_sends_nothing(smtpd):
    server = SmtpServer(host="127.0.0.1", port=smtpd.port, sender="reports@example.com", tls="starttls")
    with pytest.raises(MailError, match="offers no STARTTLS but LTC_SMTP_TLS=starttls"):
        send_message(_plain_message(), server)
    assert smtpd.envelopes == []


def test_errors_say_what_to_set(smtpd):
    with pytest.raises(MailError, match="LTC_SMTP_TLS='tls1.3'; choose auto, starttls, ssl or none"):
        send_message(_plain_message(), SmtpServer(host="127.0.0.1", port=smtpd.port, tls="tls1.3"))
    with pytest.raises(MailError, match="ConnectionRefusedError.*check LTC_SMTP_HOST, LTC_SMTP_PORT"):
        send_message(_plain_message(), SmtpServer(host="127.0.0.1", port=free_port(), timeout=5))
    wrong = SmtpServer(host="127.0.0.1", port=smtpd.port, user=USER, password="not-" + PASSWORD, timeout=10)
    with pytest.raises(MailError, match="refused the login .*check LTC_SMTP_USER and LTC_SMTP_PASSWORD") as e:
        send_message(_plain_message(), wrong)
    assert PASSWORD not in str(e.value)
    assert smtpd.envelopes == []
    with pytest.raises(MailError, match="set LTC_SMTP_HOST"):
        SmtpServer.from_settings(Settings(home=Path("."), duckdb_path=Path("w.duckdb")))


def _plain_message() -> EmailMessage:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "test", "reports@example.com", "cfo@example.com"
    message.set_content("hello")
    return message


# ---- settings --------------------------------------------------------------------------------

def test_report_mail_is_not_sent_unless_configured(ltc_home: Path, tmp_path: Path, monkeypatch, smtpd):
    _configure(monkeypatch, smtpd.port)
    monkeypatch.delenv("LTC_REPORT_MAIL_TO")
    settings = Settings.from_env()
    assert not report_mail_configured(settings)
    assert mail_report(settings, subject="s", summary=(), attachments=()) is False
    assert smtpd.envelopes == []


def test_smtp_settings_fall_back_to_the_deprecated_alert_variables(ltc_home: Path, monkeypatch):
    monkeypatch.setenv("LTC_ALERT_SMTP_HOST", "mail.example.com")
    monkeypatch.setenv("LTC_ALERT_SMTP_PORT", "2525")
    monkeypatch.setenv("LTC_ALERT_SMTP_FROM", "ltc@example.com")
    monkeypatch.setenv("LTC_ALERT_SMTP_USER", "alerts")
    monkeypatch.setenv("LTC_ALERT_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("LTC_ALERT_SMTP_TLS", "starttls")
    monkeypatch.setenv("LTC_ALERT_SMTP_TO", "oncall@example.com")
    legacy = Settings.from_env()
    assert (legacy.smtp_host, legacy.smtp_port, legacy.smtp_from, legacy.smtp_user, legacy.smtp_tls) == (
        "mail.example.com", 2525, "ltc@example.com", "alerts", "starttls")
    assert legacy.smtp_password == PASSWORD and PASSWORD in legacy.secrets() and PASSWORD not in repr(legacy)
    assert legacy.alert_smtp_to == ("oncall@example.com",)
    assert not report_mail_configured(legacy)  # alert recipients are not report recipients

    # the new names win; nothing the legacy variables said about the legacy server (port, TLS,
    # credentials) is applied to a different one
    monkeypatch.setenv("LTC_SMTP_HOST", "relay.example.org")
    monkeypatch.setenv("LTC_SMTP_FROM", "reports@example.org")
    monkeypatch.setenv("LTC_REPORT_MAIL_TO", "cfo@example.org,  ar@example.org ,")
    current = Settings.from_env()
    assert (current.smtp_host, current.smtp_port, current.smtp_from, current.smtp_tls) == (
        "relay.example.org", 25, "reports@example.org", "auto")
    assert current.smtp_user is None and current.smtp_password is None
    assert current.report_mail_to == ("cfo@example.org", "ar@example.org")
    assert current.report_mail_max_mb == 10.0 and mail.report_mail_max_bytes(current) == 10_000_000
    assert report_mail_configured(current)

    assert PASSWORD in current.secrets()  # unused, but still a secret to redact
    monkeypatch.setenv("LTC_SMTP_PASSWORD", "new-" + PASSWORD)
    assert Settings.from_env().smtp_password == "new-" + PASSWORD
    assert "new-" + PASSWORD in Settings.from_env().secrets()


def test_a_legacy_tls_none_for_a_local_relay_never_applies_to_a_new_remote_server(ltc_home: Path, monkeypatch):
    """LTC_ALERT_SMTP_TLS=none was set for a relay on localhost; the operator adds a remote server
    with new credentials. Those must not go out unencrypted because of the old setting."""
    monkeypatch.setenv("LTC_ALERT_SMTP_HOST", "localhost")
    monkeypatch.setenv("LTC_ALERT_SMTP_TLS", "none")
    monkeypatch.setenv("LTC_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("LTC_SMTP_USER", "reports")
    monkeypatch.setenv("LTC_SMTP_PASSWORD", PASSWORD)
    settings = Settings.from_env()
    assert settings.smtp_tls == "auto"
    assert not credentials_allowed("smtp.example.com", settings.smtp_tls, encrypted=False)


def test_implicit_tls_defaults_to_port_465(ltc_home: Path, monkeypatch):
    monkeypatch.setenv("LTC_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("LTC_SMTP_TLS", "ssl")
    assert Settings.from_env().smtp_port == 465
    monkeypatch.setenv("LTC_SMTP_TLS", "auto")
    assert Settings.from_env().smtp_port == 25


# ---- the run-failure alerts use the same transport -------------------------------------------

def test_alerts_are_mailed_through_the_shared_smtp_settings(ltc_home: Path, monkeypatch, smtpd, caplog):
    _configure(monkeypatch, smtpd.port, LTC_ALERT_SMTP_TO="oncall@example.com")
    settings = Settings.from_env()
    alert = alerts.Alert("0123456789abcdef", "daily_job", dt.datetime(2026, 6, 30, tzinfo=dt.timezone.utc)
                         .isoformat(), ["load_orders"], "load_orders: boom")
    outcomes = alerts.deliver(alert, settings, logging.getLogger("test_alerts"))
    assert outcomes == {"smtp": "sent"}
    [envelope] = smtpd.envelopes
    assert envelope.rcpt_tos == ["oncall@example.com"] and smtpd.logins == [(USER, PASSWORD)]
    message = _parse(envelope)
    assert message["Subject"] == "[ltc] run failed: daily_job (01234567)"
    assert "load_orders: boom" in message.get_content()
    assert PASSWORD not in caplog.text


def test_a_mail_over_the_servers_size_limit_says_to_lower_the_attachment_limit(tmp_path: Path):
    with smtp_sink(data_size_limit=5_000) as controller:
        (tmp_path / "finance.xlsx").write_bytes(b"\x00" * 8_000)
        message = compose_report_mail(
            sender="reports@example.com", recipients=["cfo@example.com"], subject="Report",
            summary=(), attachments=[tmp_path / "finance.xlsx"], max_bytes=10_000)
        with pytest.raises(MailError, match="552.*lower LTC_REPORT_MAIL_MAX_MB"):
            send_message(message, SmtpServer(host="127.0.0.1", port=controller.port, timeout=10))
        assert controller.envelopes == []
