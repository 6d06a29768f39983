"""The executive report printed to PDF by real headless Chromium (reports/pdf.py), and the
behaviour without a Chromium or with a broken one. The PDF is kept under the test's tmp_path."""

from __future__ import annotations

import datetime as dt
import html as html_module
import http.server
import json
import os
import re
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from chromium import chromium_path, render

import reports.pdf as pdf_module
from reports.html import build_html_report
from reports.pdf import PdfError, PdfUnavailable, find_chromium, print_pdf

# A page object, not the /Pages tree node.
PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
MEDIA_BOX = re.compile(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]")
A4_POINTS = (595.28, 841.89)  # 210 × 297 mm at 72 points per inch


@pytest.fixture(scope="module")
def executive_html(built_company, tmp_path_factory) -> Path:
    """The executive report of the sandbox company's real marts: realistic length and tables."""
    return build_html_report(built_company.warehouse, tmp_path_factory.mktemp("executive"),
                             generated_at=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc))


def test_executive_report_prints_to_an_a4_pdf(executive_html: Path, tmp_path: Path, require_service):
    chromium = chromium_path(require_service)
    out_dir = tmp_path / "artifacts"
    pdf = print_pdf(executive_html, out_dir / "ltc_report.pdf", chromium=chromium)

    assert pdf == out_dir / "ltc_report.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF"), "truncated PDF"
    pages = len(PAGE.findall(data))
    assert 1 <= pages <= 20, f"{pages} pages"
    assert 10_000 < len(data) < 10_000_000, f"{len(data)} bytes"
    # The report's @page rule asks for A4; every page must be A4 portrait.
    boxes = [(float(w), float(h)) for w, h in MEDIA_BOX.findall(data)]
    assert len(boxes) == pages
    for width, height in boxes:
        assert abs(width - A4_POINTS[0]) < 2 and abs(height - A4_POINTS[1]) < 2, (width, height)
    # Text is real text (embedded fonts), not an image of the page.
    assert b"/FontFile" in data
    assert os.stat(pdf).st_mode & stat.S_IROTH
    assert sorted(p.name for p in out_dir.iterdir()) == ["ltc_report.pdf"], "temp files left behind"


# Chromium lays a printed page out at the page's content width: A4 (210 mm) minus the 12 mm side
# margins of the report's @page rule is 186 mm = 703 CSS px. Rendering the page at that width with
# its print rules applied to the screen shows what the PDF shows, and a script can measure it.
PRINT_WIDTH_PX = 703
_MEASURE = """<script>addEventListener('load', () => {
  const clipped = [];
  for (const el of document.querySelectorAll('.table-wrap, .panel, table, svg')) {
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') {
      const box = el.closest('.panel, section');
      const title = box && box.querySelector('h2, h3, caption');
      const name = title ? title.textContent.trim() : el.tagName;
      clipped.push(name + ' ' + el.scrollWidth + '>' + el.clientWidth);
    }
  }
  document.body.setAttribute('data-clipped', JSON.stringify(clipped));
});</script>"""


def test_printed_executive_report_cuts_off_no_table(executive_html: Path, tmp_path: Path,
                                                     require_service):
    chromium = chromium_path(require_service)
    html = executive_html.read_text(encoding="utf-8").replace("@media print", "@media all")
    page = tmp_path / "print_layout.html"
    page.write_text(html.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    shot = render(chromium, page, tmp_path / "artifacts", width=PRINT_WIDTH_PX, height=3000)
    found = re.search(r'data-clipped="([^"]*)"', shot.dom)
    assert found, "the measuring script did not run"
    clipped = json.loads(html_module.unescape(found[1]))
    assert clipped == [], f"cut off in print: {clipped}"


def test_page_breaks_make_pages(tmp_path: Path, require_service):
    """Three sections, each starting a new page: exactly three pages, so the count is real."""
    chromium = chromium_path(require_service)
    html = tmp_path / "three.html"
    html.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>@page { size: A4 }"
        " section + section { break-before: page }</style></head><body>"
        + "".join(f"<section><h1>Part {i}</h1><p>{'text ' * 200}</p></section>" for i in range(3))
        + "</body></html>",
        encoding="utf-8",
    )
    data = print_pdf(html, tmp_path / "three.pdf", chromium=chromium).read_bytes()
    assert len(PAGE.findall(data)) == 3


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_printing_is_offline(tmp_path: Path, require_service):
    """A page that loads images from a local server: plain Chromium fetches them (the control),
    print_pdf must not (every host, even localhost and IP literals, resolves to nothing)."""
    chromium = chromium_path(require_service)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        html = tmp_path / "remote.html"
        html.write_text(f"<p>board pack</p><img src='http://localhost:{port}/by-name.png'>"
                        f"<img src='http://127.0.0.1:{port}/by-ip.png'>", encoding="utf-8")
        control = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             f"--user-data-dir={tmp_path / 'control-profile'}",
             f"--print-to-pdf={tmp_path / 'control.pdf'}", html.resolve().as_uri()],
            capture_output=True, timeout=120)
        assert sorted(_Recorder.hits) == ["/by-ip.png", "/by-name.png"], control.stderr[-2000:]
        _Recorder.hits.clear()
        print_pdf(html, tmp_path / "offline.pdf", chromium=chromium)
        assert _Recorder.hits == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_failed_print_keeps_the_previous_pdf(tmp_path: Path):
    html = tmp_path / "page.html"
    html.write_text("<p>hello</p>", encoding="utf-8")
    target = tmp_path / "out" / "report.pdf"
    target.parent.mkdir()
    target.write_bytes(b"%PDF-1.4 the previous board pack")

    fake = tmp_path / "fake-chromium"
    fake.write_text(
        "#!/bin/sh\n"
        "for a in \"$@\"; do case \"$a\" in --print-to-pdf=*) out=\"${a#--print-to-pdf=}\";; esac; done\n"
        "printf 'not a pdf' > \"$out\"\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    with pytest.raises(PdfError, match="not a PDF"):
        print_pdf(html, target, chromium=str(fake))
    assert target.read_bytes() == b"%PDF-1.4 the previous board pack"
    assert [p.name for p in target.parent.iterdir()] == ["report.pdf"]

    slow = tmp_path / "slow-chromium"
    slow.write_text("#!/bin/sh\nsleep 30\n", encoding="utf-8")
    slow.chmod(0o755)
    started = dt.datetime.now()
    with pytest.raises(PdfError, match="within"):
        print_pdf(html, target, chromium=str(slow), timeout_s=1)
    assert (dt.datetime.now() - started).total_seconds() < 15
    assert target.read_bytes() == b"%PDF-1.4 the previous board pack"


def _no_chromium_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(pdf_module, "CANDIDATES", (str(tmp_path / "no-such-chromium"),))


def test_pdf_unavailable_without_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _no_chromium_anywhere(tmp_path, monkeypatch)
    monkeypatch.setenv("LTC_CHROMIUM", str(tmp_path / "points-nowhere"))
    assert find_chromium() is None
    html = tmp_path / "page.html"
    html.write_text("<p>hello</p>", encoding="utf-8")
    with pytest.raises(PdfUnavailable) as caught:
        print_pdf(html, tmp_path / "out.pdf")
    message = str(caught.value)
    assert "install Debian's chromium" in message and "LTC_CHROMIUM" in message
    assert "points-nowhere" in message
    assert not (tmp_path / "out.pdf").exists()


def test_find_chromium_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _no_chromium_anywhere(tmp_path, monkeypatch)
    monkeypatch.delenv("LTC_CHROMIUM", raising=False)
    assert find_chromium() is None

    on_path = tmp_path / "empty-bin" / "chromium-browser"
    on_path.write_text("#!/bin/sh\n", encoding="utf-8")
    on_path.chmod(0o755)
    assert find_chromium() == str(on_path)

    candidate = tmp_path / "candidate-chromium"
    candidate.write_text("#!/bin/sh\n", encoding="utf-8")
    candidate.chmod(0o755)
    monkeypatch.setattr(pdf_module, "CANDIDATES", (str(candidate),))
    assert find_chromium() == str(candidate)

    configured = tmp_path / "my-chromium"
    configured.write_text("#!/bin/sh\n", encoding="utf-8")
    configured.chmod(0o755)
    monkeypatch.setenv("LTC_CHROMIUM", str(configured))
    assert find_chromium() == str(configured)
    configured.chmod(0o644)  # not executable: fall back to the next place
    assert find_chromium() == str(candidate)
