"""A company that reports in CNY, end to end: `--region cn` sandbox → connectors → dbt → reports.

Why: CNY is a first-class reporting currency (issue 10, item 3). The cn sandbox company reports in
CNY by default: its FX file quotes USD in CNY and its ground truth's reporting amounts are in CNY.
The pipeline must carry that through: `serving_sandbox` exports the ground truth's currency as
LTC_REPORTING_CURRENCY, `dbt_build_args` passes it to dbt as the var `reporting_currency`, and the
marts convert with the CNY rates. Before that wiring, dbt kept its USD default, found no rate into
USD, and every test here failed (reporting_currency 'USD', amounts unconverted or null).

The company is built the way the other report tests build theirs (tests/support/sandbox_company.py:
generate → the real connectors against the sandbox's local sources → `dbt build` with the
pipeline's own arguments), with region 'cn'.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from connectors.marts_file import connect_warehouse, copy_warehouse
from connectors.settings import Settings
from orchestration.cli import reconcile_report
from reports.edition import publish_reports

pytestmark = pytest.mark.slow  # one cn company landed and built: ~1 min on 2 cores

SEED, SCALE = 7, 600  # the smallest cn company with deals in USD (the Hong Kong customers)
GENERATED = dt.datetime(2026, 1, 2, 8, 30, tzinfo=dt.timezone.utc)
CENT = Decimal("0.01")
# the ground truth's figures and the mart query that states each (as tests/dbt/test_dbt_build.py)
FIGURES_SQL = {
    "won_amount": "select coalesce(sum(amount_reporting), 0) from marts.fct_opportunities where not is_deleted and is_won",
    "invoiced_total": "select coalesce(sum(total_amount_reporting), 0) from marts.fct_invoices where not is_deleted",
    "collected_total": "select coalesce(sum(amount_reporting), 0) from marts.fct_cash_receipts",
    "invoices": "select count(*) from marts.fct_invoices where not is_deleted",
    "receipts": "select count(*) from marts.fct_cash_receipts",
}


@pytest.fixture(scope="module")
def cn_company(tmp_path_factory):
    from sandbox_company import build_company

    return build_company(tmp_path_factory.mktemp("cn_company"), seed=SEED, scale=SCALE, region="cn")


def _rows(db: Path, sql: str) -> list[tuple]:
    con = connect_warehouse(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _sandbox_rates(db: Path) -> dict[str, list[tuple[dt.date, str, Decimal]]]:
    """The sandbox's FX file as the finance connector landed it, per currency: (rate_date,
    reporting_currency, rate) in date order."""
    rates: dict[str, list] = {}
    for rate_date, currency, reporting, rate in _rows(db, """
            select rate_date, currency, reporting_currency, rate from raw_finance.fx_rates order by 1"""):
        rates.setdefault(currency, []).append((rate_date, reporting, rate))
    return rates


def test_the_cn_sandbox_reports_in_cny(cn_company):
    """The generator's side: ground truth and FX file are into CNY, quoting the one foreign currency."""
    assert cn_company.truth["reporting_currency"] == "CNY"
    rates = _sandbox_rates(cn_company.warehouse)
    assert set(rates) == {"USD"}
    assert {reporting for rows in rates.values() for _d, reporting, _r in rows} == {"CNY"}
    assert all(Decimal(6) < rate < Decimal(8) for _d, _c, rate in rates["USD"])  # CNY per USD, not USD per CNY


def test_every_mart_carries_cny(cn_company):
    tables = [t for (t,) in _rows(cn_company.warehouse, """
        select table_name from information_schema.columns
        where table_schema = 'marts' and column_name = 'reporting_currency' order by 1""")]
    assert {"fct_invoices", "fct_opportunities", "fct_cash_receipts", "rpt_ltc_health"} <= set(tables)
    for table in tables:
        currencies = {c for (c,) in _rows(cn_company.warehouse, f"select distinct reporting_currency from marts.{table}")}
        assert currencies <= {"CNY"}, (table, currencies)
    assert {c for (c,) in _rows(cn_company.warehouse, "select distinct reporting_currency from marts.fct_invoices")} == {"CNY"}


def test_amounts_are_converted_with_the_cny_rates(cn_company):
    """USD deals at the sandbox's USD→CNY rate in effect on the rate date (latest rate_date on or
    before it, docs/contracts.md), rounded per row; CNY amounts at 1."""
    rates = _sandbox_rates(cn_company.warehouse)["USD"]
    rows = _rows(cn_company.warehouse, """
        select currency, amount, amount_reporting, fx_rate, fx_rate_date
        from marts.fct_opportunities where amount is not null""")
    usd = [r for r in rows if r[0] == "USD"]
    assert usd, "the cn company at this seed and scale has USD opportunities"
    for currency, amount, amount_reporting, fx_rate, fx_rate_date in rows:
        if currency == "CNY":
            assert (fx_rate, amount_reporting) == (1, amount)
            continue
        in_effect = [rate for day, _c, rate in rates if day <= fx_rate_date][-1]
        assert fx_rate == in_effect, (fx_rate_date, fx_rate, in_effect)
        assert amount_reporting == (amount * in_effect).quantize(CENT, rounding=ROUND_HALF_UP)


def test_mart_figures_equal_the_ground_truth(cn_company):
    for name, sql in FIGURES_SQL.items():
        value = _rows(cn_company.warehouse, sql)[0][0]
        assert Decimal(value) == Decimal(str(cn_company.truth["figures"][name])), name


def test_the_zh_cn_executive_report_shows_yuan_and_reconciles(cn_company, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    copy_warehouse(cn_company.warehouse, home / "warehouse.duckdb")
    edition = publish_reports(Settings(home=home, duckdb_path=home / "warehouse.duckdb", locale="zh_CN"),
                              generated_at=GENERATED)
    (report,) = edition.path.glob("ltc_report_*.html")
    rows = reconcile_report(report, cn_company.truth)
    assert all(same for *_, same in rows), rows
    page = report.read_text(encoding="utf-8")
    tiles = page[page.index('data-metric="booked_month"'):]
    assert "¥" in tiles[:4000]  # a headline amount in yuan (¥12.1万), not "$" nor "US$"
    assert "$" not in page.replace("$LTC", "")
