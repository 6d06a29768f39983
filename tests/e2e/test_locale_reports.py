"""Every report of an edition in English and in Simplified Chinese, on the sandbox company's marts.

The same edition is published twice, with LTC_LOCALE=en and LTC_LOCALE=zh_CN (`Settings.locale`):
the executive report, the cash-collection report, the contract reconciliation, the editions
index, the finance workbook and the PDF. The Chinese files carry the agreed business terms (线索,
商机, 合同, 回款, 回款及时率, 逾期回款, 无合同投入) and none of the English UI strings the
catalogue translates, while every figure (`data-value`, the workbook's numbers) is the same in
both. Headless Chromium then shows that Chinese renders as glyphs, not as empty boxes (tofu).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html as htmllib
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest
from chromium import chromium_path, render
from openpyxl import load_workbook

from connectors.marts_file import copy_warehouse
from connectors.settings import Settings
from reports import catalogue
from reports.publish import Edition
from reports.edition import publish_reports
from reports.i18n import HTML_LANG

LOCALES = ("en", "zh_CN")
GENERATED = dt.datetime(2026, 1, 2, 8, 30, tzinfo=dt.timezone.utc)
# the pages of an edition (the index lives beside the editions) and the terms each must use
PAGES = {
    "ltc_report": ("线索", "商机", "回款", "回款及时率", "逾期回款"),
    "cash_collection": ("回款", "逾期回款", "回款及时率", "应收"),
    "contract_reconciliation": ("合同", "回款", "无合同投入", "商机"),
    "index": ("报表",),
}


@pytest.fixture(scope="module")
def editions(built_company, tmp_path_factory) -> dict[str, Edition]:
    """The built company's edition published once per locale, each in its own LTC_HOME."""
    out = {}
    for locale in LOCALES:
        home = tmp_path_factory.mktemp(f"home_{locale}")
        warehouse = home / "warehouse.duckdb"
        copy_warehouse(built_company.warehouse, warehouse)
        settings = Settings(home=home, duckdb_path=warehouse, locale=locale)
        out[locale] = publish_reports(settings, generated_at=GENERATED)
    return out


def _page(edition: Edition, name: str) -> Path:
    if name == "index":
        return edition.path.parent / "index.html"
    (found,) = [f for f in edition.path.glob(f"{name}_*.html")]
    return found


def _text_nodes(page: str) -> list[str]:
    """What a reader reads, node by node: the page without its markup, style and script, unescaped."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    nodes = (" ".join(htmllib.unescape(t).split()) for t in re.split(r"<[^>]+>", page))
    return [n for n in nodes if n]


def _english_ui(nodes: list[str]) -> list[str]:
    """The catalogue's English UI strings among `nodes`: a whole label, or a sentence within one."""
    found = []
    for message in _ui_strings():
        if any(n == message or (len(message) >= 30 and message in n) for n in nodes):
            found.append(message)
    return found


def _figures(page: str) -> list[tuple[str, str]]:
    """Every data-metric / data-value of the page in document order (the exact figures)."""
    return re.findall(r'data-metric="([^"]*)"[^>]*?data-value="([^"]*)"', page) + \
        [("", v) for v in re.findall(r'data-value="([^"]*)"', page)]


def _ui_strings() -> list[str]:
    """The catalogue's English UI strings that can be looked for verbatim in a page: whole
    sentences and labels without placeholders, long enough not to match data by chance."""
    out = []
    for message in catalogue.read(catalogue.POT):
        if not message.id or not isinstance(message.id, str) or "%" in message.id:
            continue
        if " " in message.id and len(message.id) >= 10:
            out.append(message.id)
    return out


@pytest.mark.parametrize("name", sorted(PAGES))
def test_each_page_is_chinese_with_the_same_figures(editions, name: str):
    en = _page(editions["en"], name).read_text(encoding="utf-8")
    zh = _page(editions["zh_CN"], name).read_text(encoding="utf-8")
    assert f'<html lang="{HTML_LANG["en"]}">' in en and '<html lang="zh-CN">' in zh
    nodes = _text_nodes(zh)
    text = " ".join(nodes)
    for term in PAGES[name]:
        assert term in text, f"{name}: {term} missing from the Chinese page"
    english = _english_ui(nodes)
    assert not english, f"{name}: English UI strings in the Chinese page: {english[:5]}"
    assert _figures(zh) == _figures(en), f"{name}: figures differ between the locales"
    for page in (en, zh):  # no web font, nothing fetched: the system's CJK fonts do it
        assert "@font-face" not in page and not re.search(r"""(src|href)=["']?https?:""", page)
        assert not re.search(r"url\(\s*['\"]?https?:", page)
        assert "Noto Sans CJK SC" in page and "Microsoft YaHei" in page  # the CJK font stack


def _cells(path: Path) -> tuple[list[str], list[list[object]], list[list[str]]]:
    """(sheet names, the numbers and dates of every sheet, the text of every sheet)."""
    book = load_workbook(path, read_only=True)
    numbers, texts = [], []
    for sheet in book.worksheets:
        values = [v for row in sheet.iter_rows(values_only=True) for v in row if v is not None]
        numbers.append([v for v in values if not isinstance(v, str)])
        texts.append([v for v in values if isinstance(v, str)])
    return book.sheetnames, numbers, texts


def test_the_workbook_is_chinese_with_the_same_numbers(editions):
    (en_book,) = editions["en"].path.glob("finance_worklists_*.xlsx")
    (zh_book,) = editions["zh_CN"].path.glob("finance_worklists_*.xlsx")
    en_names, en_numbers, _en_texts = _cells(en_book)
    zh_names, zh_numbers, zh_texts = _cells(zh_book)
    assert len(zh_names) == len(en_names) and zh_names[0] == "摘要"
    assert {"逾期发票", "无合同投入", "按客户的应收账款"} <= set(zh_names)
    assert zh_numbers == en_numbers  # every amount, count and date the same
    summary = " ".join(zh_texts[0])
    assert "截至" in summary and "报告币种" in summary and "合计" in summary
    ui = set(_ui_strings()) | {"Summary", "Reporting currency", "Total", "Customer", "Owner"}
    leftovers = {t for texts in zh_texts for t in texts if t in ui}
    assert not leftovers, leftovers


def test_the_pdf_uses_a_chinese_font(editions, require_service):
    chromium_path(require_service)
    (pdf,) = editions["zh_CN"].path.glob("ltc_report_*.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    # the embedded fonts are named in the (uncompressed or deflated) font dictionaries
    names = set(re.findall(rb"/(?:BaseFont|FontName)\s*/([^\s/<>\[\]]+)", data))
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, flags=re.S):
        try:
            names |= set(re.findall(rb"/(?:BaseFont|FontName)\s*/([^\s/<>\[\]]+)", zlib.decompress(stream)))
        except zlib.error:
            continue
    assert any(b"CJK" in n or b"SourceHan" in n or b"WenQuanYi" in n for n in names), names


def _cjk_font(require_service) -> str:
    """The font fontconfig gives Chinese text; skipped (or failed under CI) without one."""
    fc_match = shutil.which("fc-match")
    require_service(fc_match is not None, "fontconfig's fc-match not found")
    family = subprocess.run([fc_match, "-f", "%{family}", "sans-serif:lang=zh-cn"], capture_output=True,
                            text=True, timeout=30).stdout
    require_service(any(k in family for k in ("CJK", "Source Han", "WenQuanYi", "Droid Sans Fallback")),
                    f"no CJK font for zh-cn (fc-match: {family!r}); install fonts-noto-cjk")
    return family


def _pixels(png: Path) -> bytes:
    data, pos, idat = png.read_bytes(), 8, b""
    while pos < len(data):
        length = int.from_bytes(data[pos: pos + 4], "big")
        if data[pos + 4: pos + 8] == b"IDAT":
            idat += data[pos + 8: pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


def test_chinese_renders_as_glyphs_not_tofu(editions, tmp_path: Path, require_service):
    chromium = chromium_path(require_service)
    _cjk_font(require_service)
    report = _page(editions["zh_CN"], "ltc_report")
    page = report.read_text(encoding="utf-8")
    shot = render(chromium, report, tmp_path / "report", width=1280, height=900)
    assert not shot.errors, shot.errors
    title = re.search(r"<h1>(.*?)</h1>", shot.dom, flags=re.S).group(1).strip()
    assert title == "线索到回款报表"
    # The title, and the same characters in reverse order, in the report's own CSS: with real
    # glyphs the two images differ; as tofu every character is the same empty box, and they match.
    css = re.search(r"<style>(.*?)</style>", page, flags=re.S).group(1)
    images = []
    for i, text in enumerate((title, title[::-1])):
        probe = tmp_path / f"probe{i}.html"
        probe.write_text(f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><style>{css}</style>'
                         f'</head><body><div class="page"><h1>{text}</h1></div></body></html>', encoding="utf-8")
        images.append(_pixels(render(chromium, probe, tmp_path / "probes", width=600, height=120).png))
    assert images[0] != images[1], "the Chinese title renders as identical boxes (tofu): no CJK font used"


def test_unknown_locale_is_refused_before_anything_is_built(built_company, tmp_path: Path):
    settings = dataclasses.replace(Settings(home=tmp_path, duckdb_path=built_company.warehouse), locale="fr_FR")
    with pytest.raises(ValueError, match="en, zh_CN"):
        publish_reports(settings)
    assert not (tmp_path / "reports").exists()
