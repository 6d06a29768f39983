"""Render the report in headless Chromium (offline) and check the screenshot is a real page.

Skips when Chromium is not installed, unless LTC_REQUIRE_SERVICES=1 (CI), which makes a missing
browser a failure.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from marts_fixture import build_marts

from reports.html import build_html_report, publish_report

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def _chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        if os.path.exists(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def _require_chromium(require_service) -> str:
    found = _chromium()
    require_service(found is not None, "Chromium not found at /usr/bin/chromium (install with `apt-get install -y chromium`)")
    return found


def _png_stats(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the decoded image data)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, width, height, idat = 8, 0, 0, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    return width, height, len(set(raw[: 4_000_000]))


def test_report_renders_in_headless_chromium(tmp_path: Path, require_service):
    chromium = _require_chromium(require_service)
    warehouse = build_marts(tmp_path / "warehouse.duckdb")
    report = build_html_report(
        warehouse, tmp_path / "out", generated_at=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    )
    png = tmp_path / "report.png"
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={png}",
        "--window-size=1280,2000",
        report.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert png.is_file(), f"no screenshot (rc={proc.returncode}): {proc.stderr[-2000:]}"
    data = png.read_bytes()
    width, height, distinct = _png_stats(data)
    assert (width, height) == (1280, 2000)
    assert len(data) > 30_000, "screenshot suspiciously small: blank page?"
    assert distinct > 50, "screenshot has almost no distinct pixel values: blank page?"


def test_publish_report_uses_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    warehouse = build_marts(tmp_path / "warehouse.duckdb")
    monkeypatch.setenv("LTC_HOME", str(home))
    monkeypatch.setenv("LTC_DUCKDB_PATH", str(warehouse))
    monkeypatch.delenv("LTC_AS_OF", raising=False)
    path = publish_report()
    assert path == (home / "reports" / "ltc_report_2025-03-31.html").resolve()
    assert (home / "reports" / "latest.html").is_file()
