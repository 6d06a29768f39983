"""PDF of the executive report for board packs, printed by headless Chromium.

Why Chromium: it is the browser the HTML reports are tested in (tests/support/chromium.py), so
the PDF is exactly what a reader sees when printing the page, with the report's own
``@media print`` and ``@page { size: A4 }`` rules (reports/templates/_report.css). Debian's
``chromium`` package is a well-kept renderer that is already needed for those tests; weasyprint
is not installed, would need its own native libraries, and lays out CSS grid and inline SVG
differently from the browser the report was designed in.

Printing is offline and leaves nothing behind: a throwaway profile (``--user-data-dir``), every
host name resolving to nothing (``--host-resolver-rules``), and the PDF written to a temporary
file next to the target and renamed into place only once it looks like a real PDF. Without a
Chromium, `print_pdf` raises `PdfUnavailable`, whose message says what to install, so a caller
can skip the PDF and say so instead of failing the whole publish.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

ENV_VAR = "LTC_CHROMIUM"
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
PATH_NAMES = ("chromium", "chromium-browser")
# A one-page PDF of an empty document is ~1 KB; anything smaller is not a printed report.
MIN_PDF_BYTES = 1_000
# Headless, offline (every host name resolves to nothing), nothing in the background: how the
# reports are opened for printing here and in the tests (tests/support/chromium.py).
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
FLAGS = (
    *OFFLINE_FLAGS,
    "--no-pdf-header-footer",
    "--print-to-pdf-no-header",  # the same, spelled as Chromium < 120 expects; ignored by newer ones
)


class PdfUnavailable(Exception):
    """No Chromium to print with: the caller skips the PDF and tells the user why."""


class PdfError(RuntimeError):
    """Chromium ran but did not produce a usable PDF (crash, timeout, empty output)."""


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_chromium() -> str | None:
    """The Chromium to print with: $LTC_CHROMIUM, then /usr/bin/chromium, /usr/bin/chromium-browser,
    then `chromium` / `chromium-browser` on PATH; None when there is none."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        found = configured if _executable(configured) else shutil.which(configured)
        if found:
            return found
        log.warning("%s=%s is not an executable; looking for Chromium elsewhere", ENV_VAR, configured)
    for candidate in CANDIDATES:
        if _executable(candidate):
            return candidate
    for name in PATH_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable_message() -> str:
    configured = os.environ.get(ENV_VAR)
    hint = f" ({ENV_VAR}={configured} is not an executable)" if configured else ""
    return (
        f"no Chromium found to print the PDF{hint}: install Debian's chromium "
        f"(`apt-get install -y chromium`) or set {ENV_VAR} to the browser's path"
    )


def _run(cmd: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    """Run Chromium in its own process group, so a timeout also ends its renderer children."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise PdfError(f"Chromium did not finish printing within {timeout_s:g} s") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def print_pdf(html_path: Path, pdf_path: Path, *, chromium: str | None = None,
              timeout_s: float = 120) -> Path:
    """Print `html_path` to `pdf_path` (A4, as the report's print CSS says) and return `pdf_path`.

    Raises `PdfUnavailable` without a Chromium, `PdfError` when printing fails; in both cases an
    existing `pdf_path` is left untouched.
    """
    html_path = Path(html_path)
    pdf_path = Path(pdf_path)
    if not html_path.is_file():
        raise FileNotFoundError(html_path)
    chromium = chromium or find_chromium()
    if chromium is None:
        raise PdfUnavailable(_unavailable_message())
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    # Chromium writes the temp file; the rename makes the PDF appear whole or not at all.
    fd, tmp_name = tempfile.mkstemp(dir=pdf_path.parent, prefix=f".{pdf_path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with tempfile.TemporaryDirectory(prefix="ltc-pdf-profile-") as profile:
            cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={tmp}",
                   html_path.resolve().as_uri()]
            try:
                done = _run(cmd, timeout_s)
            except FileNotFoundError as exc:  # the path vanished or is not executable
                raise PdfUnavailable(f"{chromium}: {exc.strerror}. {_unavailable_message()}") from exc
        _check_pdf(tmp, done)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a board pack is to be read
        os.replace(tmp, pdf_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return pdf_path


def _check_pdf(path: Path, done: subprocess.CompletedProcess) -> None:
    data = path.read_bytes() if path.exists() else b""
    problem = None
    if done.returncode != 0:
        problem = f"Chromium exited with status {done.returncode}"
    elif not data.startswith(b"%PDF-"):
        problem = "Chromium wrote no PDF" if not data else "the output is not a PDF"
    elif len(data) < MIN_PDF_BYTES:
        problem = f"the PDF is only {len(data)} bytes"
    if problem:
        raise PdfError(f"{problem}; Chromium said: {done.stderr[-2000:].strip() or '(nothing)'}")
