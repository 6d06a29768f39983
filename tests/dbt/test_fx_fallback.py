"""The FX rule's fallback: Salesforce dated conversion rates where the finance rates have none yet.

The hand-made raw fixture quotes EUR and GBP from 2024-12-02 in raw_finance.fx_rates. Added here:
Salesforce's CurrencyType (USD corporate) and DatedConversionRate ranges for EUR (from 2024-01-01)
and CHF (never quoted by finance), and three invoices: EUR before the first finance quote, EUR after
it, and CHF. Expected rates are computed here from the raw ConversionRate (1 / rate, 6 decimals,
half away from zero), never read from the marts.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from conftest import dict_rows, run_dbt
from raw_fixture import AS_OF, build_raw_fixture, insert_invoices, invoice_row

from connectors.marts_file import connect_warehouse

SF_COMMON = ("id varchar, is_deleted boolean, created_date timestamp with time zone, last_modified_date timestamp"
             " with time zone, system_modstamp timestamp with time zone")
DATED = [  # (id, iso code, conversion rate per 1 USD, start, next start)
    ("04w1", "EUR", Decimal("0.930000"), "2024-01-01", "2025-01-01"),
    ("04w2", "EUR", Decimal("0.910000"), "2025-01-01", None),
    ("04w3", "CHF", Decimal("0.880000"), "2024-01-01", "2025-06-01"),
    ("04w4", "CHF", Decimal("0.860000"), "2025-06-01", None),
]
INVOICES = [  # (id, issue date, currency, total): the rate each must get, by source
    ("IFX1", "2024-11-15", "EUR", "500.00"),   # before finance's first EUR quote (2024-12-02): Salesforce
    ("IFX2", "2025-03-20", "EUR", "500.00"),   # finance quotes EUR by then: finance wins
    ("IFX3", "2025-07-01", "CHF", "1000.00"),  # finance never quotes CHF: Salesforce, the range from 06-01
]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("fx_fallback")
    db = build_raw_fixture(tmp / "warehouse.duckdb")
    con = connect_warehouse(db, read_only=False)
    try:
        con.execute(f"create table raw_salesforce.currency_type ({SF_COMMON}, iso_code varchar, conversion_rate"
                    " decimal(18,6), is_corporate boolean, is_active boolean)")
        con.execute("insert into raw_salesforce.currency_type values ('02B1', false, now(), now(), now(), 'USD',"
                    " 1, true, true), ('02B2', false, now(), now(), now(), 'EUR', 0.91, false, true)")
        con.execute(f"create table raw_salesforce.dated_conversion_rate ({SF_COMMON}, iso_code varchar,"
                    " conversion_rate decimal(18,6), start_date date, next_start_date date)")
        for rid, iso, rate, start, nxt in DATED:
            con.execute("insert into raw_salesforce.dated_conversion_rate values (?, false, now(), now(), now(),"
                        " ?, ?, ?, ?)", [rid, iso, rate, start, nxt])
        insert_invoices(con, [invoice_row(i, f"INV-2099-{n:06d}", "CU2", "SO2", issue,
                                          (dt.date.fromisoformat(issue) + dt.timedelta(days=30)).isoformat(),
                                          ccy, total)
                              for n, (i, issue, ccy, total) in enumerate(INVOICES, start=1)], "fx")
    finally:
        con.close()
    work = tmp / "work"
    work.mkdir()
    run = run_dbt(["build", "--select", "+fct_invoices", "+fct_contracts", "--indirect-selection", "cautious",
                   "--exclude-resource-type", "unit_test"],
                  db, work, as_of=AS_OF)
    assert run.returncode == 0, run.output[-4000:]
    return db


def _salesforce_rate(iso: str, on: str) -> tuple[Decimal, dt.date]:
    day = dt.date.fromisoformat(on)
    for _, code, rate, start, nxt in DATED:
        if code == iso and dt.date.fromisoformat(start) <= day and (nxt is None or day < dt.date.fromisoformat(nxt)):
            return (Decimal(1) / rate).quantize(Decimal("0.000001"), ROUND_HALF_UP), dt.date.fromisoformat(start)
    raise AssertionError(f"no Salesforce range for {iso} on {on}")


def test_salesforce_rates_fill_in_where_finance_has_none(built):
    got = {r["invoice_id"]: r for r in dict_rows(built, "select invoice_id, fx_rate, fx_rate_date,"
                                                         " total_amount, total_amount_reporting from marts.fct_invoices"
                                                         " where invoice_id like 'IFX%'")}
    finance = {(r["rate_date"], r["currency"]): r["rate"]
               for r in dict_rows(built, "select * from raw_finance.fx_rates where reporting_currency = 'USD'")}
    for invoice_id, issue, ccy, total in INVOICES:
        row = got[invoice_id]
        quoted = sorted(d for d, c in finance if c == ccy and d <= dt.date.fromisoformat(issue))
        if quoted:
            rate, rate_date = finance[(quoted[-1], ccy)], quoted[-1]
        else:
            rate, rate_date = _salesforce_rate(ccy, issue)
        assert (row["fx_rate"], row["fx_rate_date"]) == (rate, rate_date), invoice_id
        assert row["total_amount_reporting"] == (Decimal(total) * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert got["IFX1"]["fx_rate_date"] == dt.date(2024, 1, 1)  # the Salesforce range, not a finance date
    assert got["IFX2"]["fx_rate_date"] in {d for d, c in finance if c == "EUR"}


def test_every_range_comes_from_one_source_without_overlap(built):
    ranges = dict_rows(built, "select currency, valid_from, valid_to, rate_source from intermediate.int_fx_rates_unioned"
                              " where currency in ('EUR', 'CHF') order by currency, valid_from")
    first_finance = min(r["valid_from"] for r in ranges if r["currency"] == "EUR" and r["rate_source"] == "finance")
    for r in ranges:
        if r["rate_source"] == "salesforce" and r["currency"] == "EUR":
            assert r["valid_from"] < first_finance and r["valid_to"] is not None and r["valid_to"] <= first_finance
    assert {r["rate_source"] for r in ranges if r["currency"] == "CHF"} == {"salesforce"}
