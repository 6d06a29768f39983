"""Record, and when configured send, an alert for every failed run.

Why: runs start unattended (schedules, the finance-drop sensor), so a failure nobody looks at is a
report that silently stops updating. A run-failure sensor turns each failed run into

* one JSON line in `$LTC_HOME/alerts/alerts.jsonl` (run id, job, time, failed steps, error): always,
  so there is a local record even without mail or chat, and it is written before any sending;
* an e-mail to `LTC_ALERT_SMTP_TO` through the project's SMTP transport (reports/mail.py: the
  server is `LTC_SMTP_HOST`/`PORT`/`FROM`, optional `USER`/`PASSWORD`/`TLS`, shared with the report
  mail; the older `LTC_ALERT_SMTP_HOST`/... names still work and are deprecated), and/or
* a JSON POST to a webhook (`LTC_ALERT_WEBHOOK_URL`, e.g. a chat incoming-webhook).

Secrets (the SMTP password, the webhook URL, which usually embeds a token, and every other secret
setting) come only from the environment, are redacted from the error text before it is written or
sent, and are never logged: a log line names the SMTP host or the webhook's scheme and host only.
A delivery that fails is logged and given up; the sensor itself never fails because of it (a
failing run-status sensor would skip the run it was handling).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg

from connectors.settings import Settings, deprecated_smtp_variables
from orchestration.defs.automation.retries import one_line, redact
from reports.mail import SmtpServer, send_message

ALERT_SENSOR = "run_failure_alerts"
ALERTS_FILE = "alerts.jsonl"
_MAX_ERROR_CHARS = 2000  # one readable line per failure, not a stack trace


class AlertDeliveryError(RuntimeError):
    """An alert could not be sent; the message holds no secret."""


@dataclass(frozen=True)
class Alert:
    run_id: str
    job: str
    time: str  # ISO 8601, UTC
    failed_steps: list[str]
    error: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    def subject(self) -> str:
        return f"[ltc] run failed: {self.job} ({self.run_id[:8]})"

    def body(self) -> str:
        steps = ", ".join(self.failed_steps) or "-"
        return (f"The run {self.run_id} of job {self.job} failed at {self.time}.\n\n"
                f"Failed steps: {steps}\n\nError: {self.error}\n\nOpen the run in the Dagster UI for the full logs.\n")


# ---- building the alert -----------------------------------------------------------------------

def _squash(text: str) -> str:
    return " ".join(text.split())


def step_error(event: dg.DagsterEvent) -> str:
    """The useful message of a step failure: a `Failure`'s description (the ingest ops raise one
    with the connector's message), else the user exception under Dagster's wrapper error."""
    data = event.step_failure_data
    if data is None:
        return event.message or "step failed"
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    error = data.error
    if error is None:
        return event.message or "step failed"
    if error.cls_name == "DagsterExecutionStepExecutionError" and error.cause is not None:
        error = error.cause  # "Error occurred while executing op ..." wraps the real exception
    return error.message


def _failure_time(context: dg.RunFailureSensorContext) -> str:
    record = context.instance.get_run_record_by_id(context.dagster_run.run_id)
    when = dt.datetime.fromtimestamp(record.end_time, dt.timezone.utc) if record and record.end_time else None
    return (when or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")


def alert_from_context(context: dg.RunFailureSensorContext, secrets) -> Alert:
    events = context.get_step_failure_events()
    failed_steps = sorted({e.step_key for e in events if e.step_key})
    errors = [f"{e.step_key}: {_squash(step_error(e))}" for e in events]
    error = "; ".join(errors) or _squash(context.failure_event.message or "the run failed")
    error = redact(error, secrets)
    if len(error) > _MAX_ERROR_CHARS:
        error = error[: _MAX_ERROR_CHARS - 3] + "..."
    return Alert(context.dagster_run.run_id, context.dagster_run.job_name, _failure_time(context),
                 failed_steps, error)


def record_alert(alert: Alert, folder: Path) -> Path:
    """Append the alert as one JSON line to `<folder>/alerts.jsonl` (one write: lines never interleave)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ALERTS_FILE
    with path.open("a", encoding="utf-8") as handle:
        handle.write(alert.to_json() + "\n")
    return path


# ---- delivery ---------------------------------------------------------------------------------

def smtp_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host and settings.smtp_from and settings.alert_smtp_to)


def _email(alert: Alert, settings: Settings) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = alert.subject()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(settings.alert_smtp_to or ())
    message.set_content(alert.body())
    return message


def send_email(alert: Alert, settings: Settings) -> None:
    """Send the alert by SMTP through reports/mail.py (its TLS rules: credentials never go
    unencrypted to a remote host unless `LTC_SMTP_TLS=none`); raises `reports.mail.MailError`."""
    server = SmtpServer.from_settings(settings, timeout=settings.alert_timeout_s)
    send_message(_email(alert, settings), server)


def webhook_target(url: str) -> str:
    """What may be logged of a webhook URL: scheme and host (the path often is the token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


def post_webhook(alert: Alert, settings: Settings) -> int:
    """POST the alert as JSON; the HTTP status. Environment proxies are ignored, as by the connectors."""
    url = settings.alert_webhook_url or ""
    if urlsplit(url).scheme not in ("http", "https"):
        raise AlertDeliveryError("LTC_ALERT_WEBHOOK_URL is not an http(s) URL")
    request = urllib.request.Request(
        url, data=alert.to_json().encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "ltc-alerts"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=settings.alert_timeout_s) as response:  # 4xx/5xx raise HTTPError
        return response.status


def deliver(alert: Alert, settings: Settings, log) -> dict[str, str]:
    """Send by every configured channel; {channel: "sent" | "failed: ..."}. Never raises."""
    secrets = settings.secrets()
    outcomes: dict[str, str] = {}
    channels = []
    if smtp_configured(settings):
        channels.append(("smtp", f"SMTP {settings.smtp_host}:{settings.smtp_port}",
                         lambda: send_email(alert, settings)))
        if legacy := deprecated_smtp_variables():
            log.info(f"{', '.join(legacy)} are deprecated: use LTC_SMTP_* (shared with the report mail)")
    elif settings.smtp_host and settings.alert_smtp_to:
        log.warning("LTC_SMTP_FROM is not set: no alert e-mail sent")
    elif settings.smtp_host or settings.alert_smtp_to:
        log.info("no alert e-mail: set LTC_SMTP_HOST, LTC_SMTP_FROM and LTC_ALERT_SMTP_TO to mail alerts")
    if settings.alert_webhook_url:
        channels.append(("webhook", f"webhook {webhook_target(settings.alert_webhook_url)}",
                         lambda: post_webhook(alert, settings)))
    for name, target, send in channels:
        try:
            send()
            outcomes[name] = "sent"
            log.info(f"alert for run {alert.run_id} sent to {target}")
        except Exception as exc:  # noqa: BLE001 - a delivery failure must not fail the sensor
            reason = redact(f"{type(exc).__name__}: {one_line(exc)}", secrets)
            outcomes[name] = f"failed: {reason}"
            log.warning(f"alert for run {alert.run_id} could not be sent to {target}: {reason}")
    return outcomes


# ---- the sensor -------------------------------------------------------------------------------

def run_failure_alert_sensor(minimum_interval_seconds: int = 30) -> dg.SensorDefinition:
    # monitor_all_code_locations: also runs that carry no code-location origin, i.e. the ones
    # `ltc run` executes in process against the same instance ($LTC_HOME/dagster).
    @dg.run_failure_sensor(
        name=ALERT_SENSOR,
        monitor_all_code_locations=True,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Records every failed run in $LTC_HOME/alerts/alerts.jsonl and sends it by "
        "SMTP and/or webhook when LTC_ALERT_* is configured.",
    )
    def _alerts(context: dg.RunFailureSensorContext):
        settings = Settings.from_env()
        alert = alert_from_context(context, settings.secrets())
        path = record_alert(alert, settings.alerts_dir)
        context.log.info(f"run {alert.run_id} of {alert.job} failed; alert recorded in {path}")
        deliver(alert, settings, context.log)

    return _alerts
