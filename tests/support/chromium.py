"""Open a report in real headless Chromium (Debian's `chromium`) with the network cut off.

`render(page, out_dir)` takes a screenshot, dumps the DOM after the page's scripts ran, and
collects the console messages Chromium logged (errors and `console.*` calls), so a test can
assert what a reader would see. Every host name resolves to nothing
(`--host-resolver-rules`), so a page that needs the network shows it as console errors or missing
content. Tests get the binary through `chromium_path(require_service)`: skipped without it, a
failure under LTC_REQUIRE_SERVICES=1 (CI).

Every screenshot is also kept as a test artifact in `$LTC_TEST_ARTIFACTS/screenshots/` (default
`test-artifacts/` at the repository root, git-ignored), named after the test that took it, so a
person (or CI) can look at what the browser showed after the test's tmp_path is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

# the Chromium, and the offline flags, the product prints its PDFs with
from reports.pdf import OFFLINE_FLAGS, find_chromium

ARTIFACTS = Path(os.environ.get("LTC_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
FLAGS = (*OFFLINE_FLAGS, "--hide-scrollbars", "--enable-logging=stderr", "--v=0")
_CONSOLE = re.compile(r":CONSOLE(?::|\()\d+\)?\]\s*\"(?P<message>.*)\", source: (?P<source>.*)$")


def chromium_path(require_service) -> str:
    found = find_chromium()
    require_service(found is not None,
                    "Chromium not found at /usr/bin/chromium (install with `apt-get install -y chromium`)")
    return found  # type: ignore[return-value]


@dataclass(frozen=True)
class Rendered:
    png: Path
    dom: str
    console: tuple[str, ...]  # every console message, "message (source)"

    @property
    def errors(self) -> tuple[str, ...]:
        """Console messages that are errors: uncaught exceptions, console.error, failed loads."""
        words = ("error", "uncaught", "failed", "refused", "not allowed")
        return tuple(m for m in self.console if any(w in m.lower() for w in words))


def _run(chromium: str, profile: Path, args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _console(stderr: str) -> list[str]:
    out = []
    for line in stderr.splitlines():
        found = _CONSOLE.search(line)
        if found:
            out.append(f"{found['message']} ({found['source']})")
    return out


def render(chromium: str, page: Path, out_dir: Path, *, width: int = 1280, height: int = 2000,
           name: str | None = None) -> Rendered:
    """Screenshot `page` at width × height into `out_dir/<name>.png` and dump its live DOM."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or page.stem
    png = out_dir / f"{name}.png"
    uri = page.resolve().as_uri()
    shot = _run(chromium, out_dir / f".profile-{name}",
                [f"--screenshot={png}", f"--window-size={width},{height}", uri])
    assert png.is_file(), f"no screenshot of {page} (rc={shot.returncode}): {shot.stderr[-2000:]}"
    dom = _run(chromium, out_dir / f".profile-{name}", ["--dump-dom", uri])
    assert dom.returncode == 0, f"--dump-dom failed for {page}: {dom.stderr[-2000:]}"
    _keep(png)
    return Rendered(png=png, dom=dom.stdout, console=tuple(_console(shot.stderr) + _console(dom.stderr)))


def _keep(png: Path) -> None:
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", test.rsplit("/", 1)[-1]) or "screenshot"
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, folder / f"{test}__{png.name}")


def print_pdf(chromium: str, page: Path, pdf: Path) -> subprocess.CompletedProcess:
    return _run(chromium, pdf.parent / f".profile-{pdf.stem}",
                ["--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.resolve().as_uri()])


def png_stats(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the decoded image data): a blank page has few."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, width, height, idat = 8, 0, 0, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos: pos + 4])
        kind = data[pos + 4: pos + 8]
        body = data[pos + 8: pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    return width, height, len(set(raw[: 4_000_000]))
