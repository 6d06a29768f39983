"""A published edition as its readers meet it, on the real marts of the sandbox company.

`reports.edition.publish_reports` builds every report of the as-of date into one edition. Here:
every HTML page (and the editions index) opens from disk in headless Chromium with the network
cut off, without console errors and with every chart drawn; the worklist tables really sort and
filter; the finance workbook's sheets tie to the worklists and its exception sheets to the mart;
and the edition is mailed through a real SMTP server on 127.0.0.1 with its files attached.
"""

from __future__ import annotations

import datetime as dt
import email
import re
from decimal import Decimal
from email import policy
from pathlib import Path

import pytest
from chromium import chromium_path, render
from openpyxl import load_workbook
from smtp_sink import smtp_sink

from connectors.marts_file import connect_warehouse, copy_warehouse
from connectors.settings import Settings
from reports.collection import collection_worklists, load_collection
from reports.edition import mail_edition, mail_summary, publish_reports, published_edition
from reports.formatting import fmt_cell
from reports.html import read_report_metrics
from reports.publish import latest_edition, publish_edition
from reports.reconciliation import EXCEPTION_WORKLISTS, load_reconciliation, reconciliation_worklists
from reports.workbook import sheet_names

pytestmark = pytest.mark.slow
CENT = Decimal("0.01")
# A drawn chart holds at least one mark; an empty <svg> or one with only a <title> does not.
_MARKS = re.compile(r"<(rect|path|line|polyline|polygon|circle)\b")


@pytest.fixture
def settings(built_company, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """LTC_HOME in tmp_path, reading a copy of the built company's warehouse."""
    warehouse = tmp_path / "warehouse.duckdb"
    copy_warehouse(built_company.warehouse, warehouse)
    for name in ("LTC_AS_OF", "LTC_SMTP_HOST", "LTC_ALERT_SMTP_HOST", "LTC_REPORT_MAIL_TO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LTC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LTC_DUCKDB_PATH", str(warehouse))
    return Settings.from_env()


@pytest.fixture
def edition(settings: Settings):
    return publish_reports(settings)


def _svgs(dom: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", dom, flags=re.S)


def test_every_page_of_the_edition_opens_offline_with_its_charts_drawn(edition, settings, tmp_path,
                                                                      require_service):
    chromium = chromium_path(require_service)
    pages = [f for f in edition.files if f.suffix == ".html"] + [settings.reports_dir / "index.html"]
    assert len(pages) == 4  # executive, cash collection, reconciliation, and the index
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), f"{page.name} loads from a network"
        shown = render(chromium, page, tmp_path / "screenshots", width=1280, height=2400)
        assert not shown.errors, f"{page.name}: {shown.errors}"
        blank = [svg[:120] for svg in _svgs(shown.dom) if not _MARKS.search(svg)]
        assert not blank, f"{page.name} has charts with nothing drawn: {blank}"
    executive = next(p for p in pages if p.name.startswith("ltc_report_"))
    assert len(_svgs(executive.read_text(encoding="utf-8"))) >= 6  # funnel, cash, revenue flow


# Clicks a worklist's amount header twice (descending), then filters by a value of its first row;
# records what the page then shows in data attributes that --dump-dom returns.
_DRIVE = """<script>
window.addEventListener('load', function () {
  var section = document.querySelector('section.worklist[data-worklist="%(key)s"]');
  var th = section.querySelector('thead th[data-key="%(column)s"]');
  var index = Array.prototype.indexOf.call(th.parentNode.children, th);
  th.click(); th.click();
  var values = Array.prototype.map.call(section.querySelectorAll('tbody tr'), function (tr) {
    return tr.children[index].getAttribute('data-value');
  });
  document.body.setAttribute('data-sorted', JSON.stringify(values));
  var input = section.querySelector('.wl-filter');
  input.value = %(needle)s;
  input.dispatchEvent(new Event('input'));
  var visible = section.querySelectorAll('tbody tr:not([hidden])').length;
  document.body.setAttribute('data-visible', String(visible));
  document.body.setAttribute('data-shown', section.querySelector('.wl-shown').textContent);
});
</script></body>"""


def test_worklist_tables_sort_and_filter_in_the_browser(edition, tmp_path, require_service):
    chromium = chromium_path(require_service)
    data = load_reconciliation(Path(Settings.from_env().duckdb_path))
    contracts = next(w for w in reconciliation_worklists(data) if w.key == "contracts")
    assert len(contracts.rows) >= 3, "the sandbox company should have contracts to sort"
    column = next(c.key for c in contracts.columns if c.total)
    kinds = [c.kind for c in contracts.columns]
    # the reader filters by what a row shows (a key 'no contract:USD' reads "no contract (USD)")
    needle = fmt_cell(contracts.rows[0][0], kinds[0])
    page = next(f for f in edition.files if f.name.startswith("contract_reconciliation_"))
    driven = tmp_path / page.name
    script = _DRIVE % {"key": contracts.key, "column": column, "needle": repr(needle)}
    driven.write_text(page.read_text(encoding="utf-8").replace("</body>", script, 1), encoding="utf-8")

    shown = render(chromium, driven, tmp_path / "driven")

    assert not shown.errors, shown.errors
    sorted_values = re.search(r'data-sorted="([^"]*)"', shown.dom).group(1).replace("&quot;", '"')
    values = [Decimal(v) for v in re.findall(r'"(-?[0-9.]+)"', sorted_values)]
    assert len(values) == len(contracts.rows)
    assert values == sorted(values, reverse=True), "two clicks should sort the column descending"
    expected_visible = sum(1 for row in contracts.rows
                           if any(needle.lower() in fmt_cell(v, k).lower() for v, k in zip(row, kinds)))
    assert re.search(r'data-visible="(\d+)"', shown.dom).group(1) == str(expected_visible)
    assert f"Shown: {expected_visible} of {len(contracts.rows)} rows" in shown.dom


def _number(value) -> Decimal:
    return Decimal(repr(value)).quantize(CENT) if isinstance(value, float) else Decimal(value)


def test_the_finance_workbook_ties_to_the_worklists_and_the_marts(edition, settings):
    warehouse = Path(settings.duckdb_path)
    worklists = [*collection_worklists(load_collection(warehouse)),
                 *reconciliation_worklists(load_reconciliation(warehouse))]
    book = load_workbook(next(f for f in edition.files if f.suffix == ".xlsx"))
    names = sheet_names([w.title for w in worklists])
    assert book.sheetnames == ["Summary", *names]
    exceptions_total = Decimal("0.00")
    for worklist, name in zip(worklists, names):
        sheet = book[name]
        totals = worklist.totals()
        assert sheet.max_row == 1 + len(worklist.rows) + (1 if totals else 0)
        assert sheet.auto_filter.ref.endswith(str(1 + len(worklist.rows)))  # the totals row stays out
        for key, total in totals.items():
            cell = sheet.cell(row=sheet.max_row, column=worklist.column_index(key) + 1).value
            assert _number(cell) == total, f"{name}.{key}"
        if worklist.key in {spec.key for spec in EXCEPTION_WORKLISTS}:
            exceptions_total += totals["amount_reporting"]
    with connect_warehouse(warehouse, read_only=True) as con:
        in_mart = con.execute("select coalesce(sum(amount_reporting), 0) "
                              "from marts.fct_reconciliation_exceptions").fetchone()[0]
    assert exceptions_total == in_mart


def _publish_a_newer_edition(settings: Settings, as_of) -> None:
    def build(staging: Path) -> list[Path]:
        (staging / "note.html").write_text("<p>a later edition</p>", encoding="utf-8")
        return [staging / "note.html"]

    publish_edition(settings.reports_dir, as_of + dt.timedelta(days=31), build)


def test_the_edition_is_mailed_with_its_summary_and_files(edition, settings, monkeypatch):
    # `latest` moves on to a later date (as after this warehouse was backfilled to an older one):
    # the mail still carries the edition of the warehouse's own as-of date
    _publish_a_newer_edition(settings, edition.as_of)
    assert latest_edition(settings.reports_dir).as_of != edition.as_of
    with smtp_sink() as server:
        monkeypatch.setenv("LTC_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("LTC_SMTP_PORT", str(server.port))
        monkeypatch.setenv("LTC_SMTP_FROM", "ltc@example.com")
        monkeypatch.setenv("LTC_REPORT_MAIL_TO", "cfo@example.com,ar@example.com")
        assert mail_edition(Settings.from_env(), published_edition(Settings.from_env()))
        [envelope] = server.envelopes

    assert envelope.rcpt_tos == ["cfo@example.com", "ar@example.com"]
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert edition.as_of.isoformat() in message["Subject"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    executive = next(f for f in edition.files if f.name.startswith("ltc_report_") and f.suffix == ".html")
    booked = Decimal(read_report_metrics(executive)["won_amount"])
    assert f"{booked:,.2f}" in body
    assert [label for label, _ in mail_summary(edition.path)][:3] == [
        "Booked (won amount)", "Billed", "Collected"]
    attached = {part.get_filename(): part for part in message.iter_attachments()}
    expected = {f.name for f in edition.files if f.suffix in (".html", ".xlsx", ".pdf")}
    assert set(attached) == expected
    for f in edition.files:
        if f.name in attached:
            part = attached[f.name]
            assert part.get_payload(decode=True) == f.read_bytes(), f"{f.name} was altered in the mail"
            if f.suffix == ".html":  # what a mail client decodes: UTF-8 text, not mojibake
                assert part.get_content_charset() == "utf-8"
                assert part.get_content() == f.read_text(encoding="utf-8")
