"""Mail: the one SMTP transport of the project, and the report mail it sends.

Why: executives read the report in their inbox and finance wants the workbook there, so each
published edition can be mailed (when SMTP is configured) with a short summary in the body and the
files attached. Run-failure alerts (orchestration/defs/automation/alerts.py) go through the same
transport, so both follow one set of rules and one set of settings:

* the server is `LTC_SMTP_HOST`/`PORT`/`FROM`/`USER`/`PASSWORD`/`TLS` (connectors/settings.py; the
  older `LTC_ALERT_SMTP_*` names still work as fallbacks and are deprecated);
* TLS (`LTC_SMTP_TLS`): `ssl` = implicit TLS (port 465), `starttls` = required, `auto` = STARTTLS
  when the server offers it, `none` = never. Credentials are never sent unencrypted to a host that
  is not loopback unless TLS is explicitly `none` (`credentials_allowed`);
* the password is a secret: it lives only in the environment, is kept out of `repr()`, is never
  logged and never appears in an error message; a log line names the server's host and port only.

The report mail is `multipart/mixed`: a plain-text body with an HTML alternative (the summary as a
small table, inline styles only, no images, no external resources: it reads the same in any mail
client, offline) and the report files attached with their MIME types. A file larger than
`LTC_REPORT_MAIL_MAX_MB` is not attached but named in the body, so the mail is still delivered;
the published edition holds every file.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import mimetypes
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

from connectors.settings import Settings
from reports.i18n import _, html_lang

log = logging.getLogger(__name__)

TLS_MODES = ("auto", "starttls", "ssl", "none")
DEFAULT_TIMEOUT_S = 60.0  # per socket operation (connect, each command), not for the whole mail
MB = 1_000_000

# The report files' types, explicit so they never depend on the host's mime.types.
MIME_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf",
    ".csv": "text/csv",
    ".json": "application/json",
}


class MailError(RuntimeError):
    """Mail could not be sent; the message says what to set and never holds a secret."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int = 25
    sender: str = ""
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: str = "auto"
    timeout: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_settings(cls, settings: Settings, timeout: float = DEFAULT_TIMEOUT_S) -> "SmtpServer":
        if not settings.smtp_host:
            raise MailError("no SMTP server: set LTC_SMTP_HOST (and LTC_SMTP_FROM)")
        return cls(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from or "",
                   user=settings.smtp_user, password=settings.smtp_password,
                   tls=settings.smtp_tls.lower(), timeout=timeout)

    def target(self) -> str:
        """What may be logged of the server: host and port."""
        return f"{self.host}:{self.port}"


def report_mail_configured(settings: Settings) -> bool:
    """True when a report can be mailed: a server, a sender and at least one recipient."""
    return bool(settings.smtp_host and settings.smtp_from and settings.report_mail_to)


def report_mail_max_bytes(settings: Settings) -> int:
    return int(settings.report_mail_max_mb * MB)


# ---------------------------------------------------------------------------------------------
# sending


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def credentials_allowed(host: str, tls: str, encrypted: bool) -> bool:
    """May the user and password be sent on this connection? Yes when it is encrypted, when the
    server is this machine (loopback), or when TLS is explicitly switched off (`none`)."""
    return encrypted or tls == "none" or is_loopback(host)


def _connect(server: SmtpServer) -> smtplib.SMTP:
    try:
        if server.tls == "ssl":
            return smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout,
                                    context=ssl.create_default_context())
        return smtplib.SMTP(server.host, server.port, timeout=server.timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"cannot connect to SMTP {server.target()} ({type(exc).__name__}: {exc}); "
                        "check LTC_SMTP_HOST, LTC_SMTP_PORT and LTC_SMTP_TLS") from exc


def _secure(smtp: smtplib.SMTP, server: SmtpServer) -> bool:
    """Upgrade to TLS as the mode asks; whether the connection is now encrypted."""
    if server.tls == "ssl":
        return True
    offered = smtp.has_extn("starttls")
    if server.tls == "starttls" and not offered:
        raise MailError(f"{server.host} offers no STARTTLS but LTC_SMTP_TLS=starttls requires it "
                        "(use LTC_SMTP_TLS=ssl for implicit TLS, or auto)")
    if server.tls in ("starttls", "auto") and offered:
        smtp.starttls(context=ssl.create_default_context())
        smtp.ehlo()
        return True
    return False


def _login(smtp: smtplib.SMTP, server: SmtpServer, encrypted: bool) -> None:
    if not credentials_allowed(server.host, server.tls, encrypted):
        raise MailError(f"{server.host} offers no STARTTLS: refusing to send the SMTP credentials "
                        "unencrypted (use LTC_SMTP_TLS=ssl, or =none to allow it)")
    try:
        smtp.login(server.user or "", server.password or "")
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(f"{server.host} offers no SMTP AUTH: unset LTC_SMTP_USER, or enable "
                        "TLS (the server may offer AUTH only after STARTTLS)") from exc
    except smtplib.SMTPAuthenticationError as exc:
        # the server's reply text is left out: only its code, so nothing it echoes can leak
        raise MailError(f"{server.host} refused the login (SMTP {exc.smtp_code}): check "
                        "LTC_SMTP_USER and LTC_SMTP_PASSWORD") from exc


def send_message(message: EmailMessage, server: SmtpServer) -> None:
    """Send `message` through `server` to the recipients in its To/Cc/Bcc headers.

    Raises `MailError` saying what to set when the TLS mode is unknown, the server cannot be
    reached, TLS or the login fails, or credentials would travel unencrypted to a remote host."""
    if server.tls not in TLS_MODES:
        raise MailError(f"LTC_SMTP_TLS={server.tls!r}; choose auto, starttls, ssl or none")
    smtp = _connect(server)
    try:
        with smtp:
            smtp.ehlo()
            encrypted = _secure(smtp, server)
            if server.user:
                _login(smtp, server, encrypted)
            refused = smtp.send_message(message)
    except MailError:
        raise
    except (OSError, smtplib.SMTPException) as exc:
        # 552: the server's size limit; the attachments' limit is ours to lower
        hint = "; lower LTC_REPORT_MAIL_MAX_MB" if getattr(exc, "smtp_code", None) == 552 else ""
        raise MailError(f"sending through SMTP {server.target()} failed ({type(exc).__name__}: "
                        f"{_squash(str(exc))}){hint}") from exc
    if refused:
        log.warning("SMTP %s refused %d of the recipients", server.target(), len(refused))
    log.info("mail %r sent through SMTP %s", message["Subject"], server.target())


def _squash(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# the report mail


def mime_type(path: Path) -> tuple[str, str]:
    """(maintype, subtype) of a report file."""
    guessed = MIME_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    maintype, _, subtype = (guessed or "application/octet-stream").partition("/")
    return maintype, subtype


def _size_label(size: int) -> str:
    if size >= MB:
        return f"{size / MB:,.1f} MB"
    return f"{-(-size // 1000):,} kB"  # rounded up: "larger than 1 kB" must not read "0 kB"


def _text_body(subject: str, summary: Sequence[tuple[str, str]], attached: Sequence[Path],
               oversize: Sequence[tuple[Path, int]], links: Sequence[str], max_bytes: int) -> str:
    width = max((len(label) for label, _ in summary), default=0)
    lines = [subject, "", *(f"  {label.ljust(width)}  {value}" for label, value in summary), ""]
    if attached:
        lines += [_("Attached: %(files)s") % {"files": ", ".join(p.name for p in attached)}, ""]
    if oversize:
        lines.append(_("Not attached (larger than %(size)s; see the published edition):") % {"size": _size_label(max_bytes)})
        lines += [f"  {path.name} ({_size_label(size)})" for path, size in oversize]
        lines.append("")
    if links:
        lines += [_("Links:"), *(f"  {link}" for link in links), ""]
    return "\n".join(lines)


# Inline styles only: many mail clients drop <style> blocks and never load external resources.
_FONT = "font-family:Helvetica,Arial,sans-serif;color:#1f2933"
_CELL = "padding:4px 12px 4px 0;border-bottom:1px solid #e4e7eb;text-align:left;vertical-align:top"


def _html_body(subject: str, summary: Sequence[tuple[str, str]], attached: Sequence[Path],
               oversize: Sequence[tuple[Path, int]], links: Sequence[str], max_bytes: int) -> str:
    e = html.escape
    rows = "\n".join(
        f'<tr><th scope="row" style="{_CELL};font-weight:normal;color:#52606d">{e(label)}</th>'
        f'<td style="{_CELL};font-weight:bold;font-variant-numeric:tabular-nums">{e(value)}</td></tr>'
        for label, value in summary)
    parts = [
        f'<!DOCTYPE html><html lang="{html_lang()}"><head><meta charset="utf-8"><title>{e(subject)}</title></head>',
        f'<body style="{_FONT};font-size:14px;line-height:1.4;margin:0;padding:16px">',
        f'<h1 style="font-size:18px;margin:0 0 12px 0">{e(subject)}</h1>',
        f'<table style="border-collapse:collapse;{_FONT};font-size:14px">{rows}</table>',
    ]
    if attached:
        parts.append(f'<p style="margin:16px 0 0 0">{e(_("Attached: %(files)s") % {"files": ", ".join(p.name for p in attached)})}</p>')
    if oversize:
        items = "".join(f"<li>{e(path.name)} ({e(_size_label(size))})</li>" for path, size in oversize)
        note = _("Not attached (larger than %(size)s; see the published edition):") % {"size": _size_label(max_bytes)}
        parts.append(f'<p style="margin:16px 0 4px 0">{e(note)}</p><ul style="margin:0">{items}</ul>')
    if links:
        items = "".join(f'<li><a href="{e(link)}" style="color:#1f5fa8">{e(link)}</a></li>' for link in links)
        parts.append(f'<ul style="margin:16px 0 0 0;padding-left:20px">{items}</ul>')
    parts.append("</body></html>")
    return "\n".join(parts)


def compose_report_mail(*, sender: str, recipients: Sequence[str], subject: str,
                        summary: Sequence[tuple[str, str]], attachments: Sequence[Path],
                        links: Sequence[str] = (), max_bytes: int) -> EmailMessage:
    """The report mail: a text body and its HTML alternative (the summary as label/value pairs),
    every file of `attachments` up to `max_bytes` attached, larger ones named in the body."""
    if not recipients:
        raise MailError("no recipients: set LTC_REPORT_MAIL_TO")
    attached: list[tuple[Path, bytes]] = []
    oversize: list[tuple[Path, int]] = []
    for path in attachments:
        size = path.stat().st_size
        if size > max_bytes:
            oversize.append((path, size))
        else:
            attached.append((path, path.read_bytes()))
    files = [path for path, _ in attached]

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    # the sender's domain, so make_msgid does not look up this host's name
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(_text_body(subject, summary, files, oversize, links, max_bytes))
    message.add_alternative(_html_body(subject, summary, files, oversize, links, max_bytes), subtype="html")
    for path, data in attached:
        maintype, subtype = mime_type(path)
        # the reports are UTF-8: without the charset a client decodes an HTML attachment as ASCII
        params = {"charset": "utf-8"} if maintype == "text" else None
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name, params=params)
    return message


def mail_report(settings: Settings, *, subject: str, summary: Sequence[tuple[str, str]],
                attachments: Sequence[Path], links: Sequence[str] = ()) -> bool:
    """Compose and send the report mail when it is configured (`report_mail_configured`);
    whether a mail was sent. Raises `MailError` when sending fails."""
    if not report_mail_configured(settings):
        return False
    server = SmtpServer.from_settings(settings)
    message = compose_report_mail(
        sender=server.sender, recipients=settings.report_mail_to or (), subject=subject,
        summary=summary, attachments=attachments, links=links,
        max_bytes=report_mail_max_bytes(settings))
    send_message(message, server)
    return True
