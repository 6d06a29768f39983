"""Run-failure alerts: a JSON line per failed run, sent by SMTP and webhook, never leaking secrets.

A tiny job really fails in process on an ephemeral instance; the run-failure sensor is then
evaluated on that run with Dagster's `build_run_status_sensor_context`. Mail goes to a real SMTP
listener (a minimal ESMTP server with AUTH PLAIN, on 127.0.0.1 and a random port) and the
webhook to a real HTTP server, both started by the test.
"""

from __future__ import annotations

import base64
import json
import socket
import socketserver
import threading
from email import message_from_string
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.automation.alerts import ALERT_SENSOR, run_failure_alert_sensor

SMTP_PASSWORD = "s3cr3t-smtp-pa55word"
WEBHOOK_TOKEN = "T0KEN-in-the-webhook-path"
LEAKED = "leaky-db-pa55"  # a secret setting that a failing step puts in its error message


# ---- a minimal SMTP server ----------------------------------------------------------------------

class _SmtpHandler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        server = self.server
        self.reply("220 test ESMTP")
        envelope: dict = {"rcpt": []}
        while line := self.rfile.readline():
            text = line.decode().rstrip("\r\n")
            verb = text.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-localhost\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
            elif verb == "AUTH":
                _, mechanism, payload = text.split(" ", 2)
                server.logins.append(base64.b64decode(payload).decode())
                self.reply("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                envelope["from"] = text
                self.reply("250 OK")
            elif verb == "RCPT":
                envelope["rcpt"].append(text)
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with .")
                lines = []
                while (data := self.rfile.readline().decode().rstrip("\r\n")) != ".":
                    lines.append(data[1:] if data.startswith("..") else data)
                server.messages.append((envelope, "\r\n".join(lines)))
                envelope = {"rcpt": []}
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.messages, server.logins = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# ---- a webhook receiver --------------------------------------------------------------------------

@pytest.fixture
def webhook_server():
    received = []

    class Handler(BaseHTTPRequestHandler):
        status = 200

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], json.loads(body)))
            self.send_response(self.server.status)
            self.end_headers()

        def log_message(self, *args):  # keep the request line (with the token) off stderr
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.status, server.received = 200, received
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# ---- a failed run --------------------------------------------------------------------------------

@dg.op
def extract_orders():
    return 1


@dg.op
def load_orders(rows):
    raise RuntimeError(f"cannot connect to postgresql://etl:{LEAKED}@db/erp")


@dg.job
def tiny_failing_job():
    load_orders(extract_orders())


def failed_run_context():
    instance = dg.DagsterInstance.ephemeral()
    result = tiny_failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return dg.build_run_status_sensor_context(
        sensor_name=ALERT_SENSOR,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ), result.run_id


def configure(monkeypatch, smtp_port: int | None = None, webhook_url: str | None = None) -> None:
    monkeypatch.setenv("LTC_PG_DSN", f"postgresql://etl:{LEAKED}@db/erp")  # a secret setting
    if smtp_port is not None:
        monkeypatch.setenv("LTC_ALERT_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("LTC_ALERT_SMTP_PORT", str(smtp_port))
        monkeypatch.setenv("LTC_ALERT_SMTP_FROM", "ltc@example.com")
        monkeypatch.setenv("LTC_ALERT_SMTP_TO", "data@example.com, oncall@example.com")
        monkeypatch.setenv("LTC_ALERT_SMTP_USER", "alerts")
        monkeypatch.setenv("LTC_ALERT_SMTP_PASSWORD", SMTP_PASSWORD)
    if webhook_url is not None:
        monkeypatch.setenv("LTC_ALERT_WEBHOOK_URL", webhook_url)
        monkeypatch.setenv("LTC_ALERT_TIMEOUT_S", "5")


def alert_lines(ltc_home: Path) -> list[dict]:
    return [json.loads(line) for line in (ltc_home / "alerts" / "alerts.jsonl").read_text().splitlines()]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (SMTP_PASSWORD, WEBHOOK_TOKEN, LEAKED):
            assert secret not in text


# ---- tests ---------------------------------------------------------------------------------------

def test_a_failed_run_is_recorded_as_one_json_line_without_secrets(ltc_home: Path, monkeypatch, capfd, caplog):
    configure(monkeypatch)
    context, run_id = failed_run_context()
    capfd.readouterr()  # the failing run's own output is not the sensor's
    run_failure_alert_sensor()(context)
    [alert] = alert_lines(ltc_home)
    assert alert["run_id"] == run_id and alert["job"] == "tiny_failing_job"
    assert alert["failed_steps"] == ["load_orders"]
    assert alert["error"].startswith("load_orders: RuntimeError: cannot connect to ***")
    assert alert["time"].endswith("+00:00")
    out, err = capfd.readouterr()
    assert_no_secret((ltc_home / "alerts" / "alerts.jsonl").read_text(), out, err, caplog.text)
    assert "alert recorded in" in out + err + caplog.text


def test_the_alert_is_mailed_and_posted_to_the_webhook(ltc_home: Path, monkeypatch, capfd, caplog,
                                                       smtp_server, webhook_server):
    url = f"http://127.0.0.1:{webhook_server.server_address[1]}/hooks/{WEBHOOK_TOKEN}"
    configure(monkeypatch, smtp_server.server_address[1], url)
    context, run_id = failed_run_context()
    capfd.readouterr()
    run_failure_alert_sensor()(context)

    [(envelope, raw)] = smtp_server.messages
    assert smtp_server.logins == [f"\0alerts\0{SMTP_PASSWORD}"]  # it did log in, with the password
    assert len(envelope["rcpt"]) == 2
    mail = message_from_string(raw)
    assert mail["Subject"] == f"[ltc] run failed: tiny_failing_job ({run_id[:8]})"
    assert mail["To"] == "data@example.com, oncall@example.com"
    assert run_id in mail.get_payload() and "load_orders" in mail.get_payload()
    assert_no_secret(mail.get_payload())

    [(path, content_type, body)] = webhook_server.received
    assert path == f"/hooks/{WEBHOOK_TOKEN}" and content_type == "application/json"
    assert body == alert_lines(ltc_home)[0]

    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "sent to SMTP 127.0.0.1" in logs and "sent to webhook http://127.0.0.1" in logs
    assert_no_secret((ltc_home / "alerts" / "alerts.jsonl").read_text(), logs)


def test_delivery_failures_are_logged_without_secrets_and_do_not_fail_the_sensor(
        ltc_home: Path, monkeypatch, capfd, caplog, webhook_server):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    webhook_server.status = 500
    url = f"http://127.0.0.1:{webhook_server.server_address[1]}/hooks/{WEBHOOK_TOKEN}"
    configure(monkeypatch, closed_port, url)
    context, run_id = failed_run_context()
    capfd.readouterr()
    run_failure_alert_sensor()(context)  # must not raise

    assert [a["run_id"] for a in alert_lines(ltc_home)] == [run_id]
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "could not be sent to SMTP 127.0.0.1" in logs and "ConnectionRefusedError" in logs
    assert "could not be sent to webhook http://127.0.0.1: HTTPError: HTTP Error 500" in logs
    assert_no_secret(logs, (ltc_home / "alerts" / "alerts.jsonl").read_text())


@dg.op
def ingest_erp():
    # what the ingest ops raise for a permanent failure (orchestration/defs/automation/retries.py)
    raise dg.Failure(description="erp: LTC_ERP_URL is not set; set it to the ERP's SQLAlchemy URL",
                     allow_retries=False)


@dg.job
def ingest_job():
    ingest_erp()


def test_the_alert_carries_the_message_of_a_failure_raised_by_an_ingest_op(ltc_home: Path):
    instance = dg.DagsterInstance.ephemeral()
    result = ingest_job.execute_in_process(instance=instance, raise_on_error=False)
    context = dg.build_run_status_sensor_context(
        sensor_name=ALERT_SENSOR, dagster_event=result.get_run_failure_event(),
        dagster_instance=instance, dagster_run=result.dagster_run)
    run_failure_alert_sensor()(context)
    [alert] = alert_lines(ltc_home)
    assert alert["failed_steps"] == ["ingest_erp"]
    assert alert["error"] == "ingest_erp: erp: LTC_ERP_URL is not set; set it to the ERP's SQLAlchemy URL"


def test_every_failure_appends_its_own_line(ltc_home: Path, monkeypatch):
    configure(monkeypatch)
    sensor = run_failure_alert_sensor()
    first, first_id = failed_run_context()
    second, second_id = failed_run_context()
    sensor(first)
    sensor(second)
    assert [a["run_id"] for a in alert_lines(ltc_home)] == [first_id, second_id]


def test_the_sensor_watches_every_job_and_is_on_by_default():
    sensor = run_failure_alert_sensor()
    assert sensor.name == ALERT_SENSOR
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor._monitor_all_code_locations is True  # noqa: SLF001 - no public accessor
