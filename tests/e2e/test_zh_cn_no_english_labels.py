"""No English labels left in the Chinese reports: chart axes and tooltips, aging buckets, stage and
status names from the marts, the forecast WAPE caption, amounts written "1,234.56 USD".

Why: the catalogue check (tests/unit/reports/test_i18n_catalogue.py) only sees strings that go
through gettext; these came from elsewhere (strftime month names in the SVG charts, f-string
tooltips, mart values such as 'fulfil and collect' or 'open receivable', a caption outside any
{% trans %}). The same edition is published in English and in Chinese from the sandbox company's
marts; every label checked here must be in the English edition (so the check can see it: the test
fails on a page that still shows it) and nowhere in the Chinese one's visible text, SVG <text> and
<title> included. The data values themselves stay English in the marts and in `data-*` attributes.
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
from pathlib import Path

import pytest

from connectors.marts_file import copy_warehouse
from connectors.settings import Settings
from reports.edition import publish_reports

GENERATED = dt.datetime(2026, 1, 2, 8, 30, tzinfo=dt.timezone.utc)
PAGES = ("ltc_report", "cash_collection", "contract_reconciliation")
MONTH = re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b")
# an amount written with the ISO code beside the figure instead of the currency's symbol
ISO_AMOUNT = re.compile(r"\b[A-Z]{3} -?\d[\d,]*\.\d\d\b|\d\.\d\d [A-Z]{3}\b")
# whole labels (a node that is exactly one of these): marts' values and the reports' own words
LABELS = (
    # aging buckets
    "Current", "1–30 days", "31–60 days", "61–90 days", "90+ days",
    # S1–S6 steps and opportunity stages
    "acquire", "assign", "follow up", "opportunity", "commercial", "fulfil and collect",
    "Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review",
    # forecast categories, reconciliation statuses
    "Commit", "Pipeline", "Best Case", "reconciled", "open receivable",
    # chart legends
    "Invoiced", "Collected",
)
# words that must not appear anywhere in the visible text (the forecast-error caption)
WORDS = ("WAPE", "Over the complete quarters to date")


@pytest.fixture(scope="module")
def pages(built_company, tmp_path_factory) -> dict[str, dict[str, list[str]]]:
    """locale -> page -> its visible text nodes (markup, style and script removed, unescaped)."""
    out: dict[str, dict[str, list[str]]] = {}
    for locale in ("en", "zh_CN"):
        home = tmp_path_factory.mktemp(f"labels_{locale}")
        copy_warehouse(built_company.warehouse, home / "warehouse.duckdb")
        edition = publish_reports(Settings(home=home, duckdb_path=home / "warehouse.duckdb", locale=locale),
                                  generated_at=GENERATED)
        out[locale] = {name: _text_nodes(_page(edition.path, name)) for name in PAGES}
    return out


def _page(folder: Path, name: str) -> str:
    (path,) = folder.glob(f"{name}_*.html")
    return path.read_text(encoding="utf-8")


def _text_nodes(page: str) -> list[str]:
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    nodes = (" ".join(htmllib.unescape(t).split()) for t in re.split(r"<[^>]+>", page))
    return [n for n in nodes if n]


def _all(pages: dict[str, list[str]]) -> list[str]:
    return [node for nodes in pages.values() for node in nodes]


def test_the_english_edition_shows_every_label_checked(pages):
    """The checks below look for what is really there: each label is in the English edition."""
    english = _all(pages["en"])
    assert [label for label in LABELS if label not in english] == []
    assert any(MONTH.search(n) for n in english)
    assert all(any(word in n for n in english) for word in WORDS)


def test_no_english_month_names_in_the_chinese_charts(pages):
    found = [n for n in _all(pages["zh_CN"]) if MONTH.search(n)]
    assert found == []


def test_no_english_labels_in_the_chinese_edition(pages):
    for name, nodes in pages["zh_CN"].items():
        assert [label for label in LABELS if label in nodes] == [], name


def test_no_wape_caption_words_in_the_chinese_edition(pages):
    found = [n for n in _all(pages["zh_CN"]) if any(word in n for word in WORDS)]
    assert found == []


def test_amounts_carry_the_currency_symbol_not_its_code(pages):
    for locale in ("en", "zh_CN"):
        found = [n for n in _all(pages[locale]) if ISO_AMOUNT.search(n)]
        assert found == [], locale
