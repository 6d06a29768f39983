"""fct_lead_to_cash: every milestone and amount of a journey, recomputed from the raw rows.

The hand-made raw fixture (raw_fixture.py) gets one more ERP order on opportunity O1, soft-deleted
and booked before everything else on it (even before the deal was won). A deleted order never
happened: it must move neither the journey's first order date, its ordered amount, its
contract-to-order days, nor the date the journey entered S5 (fct_ltc_stage_events). The expected
values are read from the raw tables here, not from the marts.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import query, run_dbt
from raw_fixture import AS_OF, build_raw_fixture

from connectors.marts_file import connect_warehouse

JOURNEY = "00Q000000000001AAA"  # lead L1 → opportunity O1 (USD): won, signed, ordered, invoiced, collected
OPPORTUNITY = "006000000000001AAA"
DELETED_ORDER_DATE = dt.date(2025, 2, 20)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("lead_to_cash")
    work = tmp / "work"
    work.mkdir()
    db = build_raw_fixture(tmp / "warehouse.duckdb")
    con = connect_warehouse(db, read_only=False)
    try:
        con.execute("alter table raw_erp.sales_orders add column is_deleted bigint default 0")
        con.execute(
            "insert into raw_erp.sales_orders (order_id, order_number, customer_id, crm_opportunity_id, contract_number,"
            " order_date, currency, net_amount, status, created_at, updated_at, is_deleted, _dlt_load_id, _dlt_id,"
            " _loaded_at) values ('SO9', 'SO-0009', 'CU1', ?, '00000101', ?, 'USD', 999.00, 'booked',"
            " '2025-02-20 10:00:00', '2025-02-21 10:00:00', 1, 'l2c', 'so9', now())",
            [OPPORTUNITY, DELETED_ORDER_DATE])
    finally:
        con.close()
    run = run_dbt(["build", "--select", "+fct_lead_to_cash", "+fct_leads", "--exclude-resource-type", "test",
                   "--exclude-resource-type", "unit_test"], db, work, as_of=AS_OF)
    assert run.returncode == 0, run.output[-4000:]
    test = run_dbt(["test", "--select", "fct_lead_to_cash"], db, work, as_of=AS_OF)
    assert test.returncode == 0, test.output[-4000:]
    return db


def _one(db: Path, sql: str, params: list | None = None) -> dict:
    con = connect_warehouse(db, read_only=True)
    try:
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    finally:
        con.close()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0]))


def test_one_row_per_lead_and_per_opportunity_without_a_lead(built):
    leads = query(built, "select id from raw_salesforce.lead")
    converted = {r[0] for r in query(built, "select converted_opportunity_id from raw_salesforce.lead "
                                            "where converted_opportunity_id is not null")}
    lone = [r[0] for r in query(built, "select id from raw_salesforce.opportunity") if r[0] not in converted]
    journeys = sorted(r[0] for r in query(built, "select journey_id from marts.fct_lead_to_cash"))
    assert journeys == sorted([r[0] for r in leads] + lone)


def test_milestones_and_amounts_come_from_the_live_source_rows(built):
    raw_orders = query(built, "select order_date, net_amount, is_deleted from raw_erp.sales_orders "
                              f"where crm_opportunity_id = '{OPPORTUNITY}'")
    live = [(d, a) for d, a, deleted in raw_orders if not deleted]
    assert any(deleted for *_, deleted in raw_orders), "the fixture's deleted order is missing"
    signed = _one(built, f"select cast(customer_signed_date as date) as signed, contract_value_c as value "
                         f"from raw_salesforce.contract where opportunity_c = '{OPPORTUNITY}'")
    won = _one(built, f"select close_date, amount from raw_salesforce.opportunity where id = '{OPPORTUNITY}'")
    invoices = query(built, "select issue_date, total_amount from raw_erp.invoices where order_id in "
                            "(select order_id from raw_erp.sales_orders where crm_opportunity_id = "
                            f"'{OPPORTUNITY}') and coalesce(is_deleted, 0) = 0 and issue_date <= '{AS_OF}'"
                            " and coalesce(status, '') <> 'cancelled'")

    row = _one(built, f"select * from marts.fct_lead_to_cash where journey_id = '{JOURNEY}'")
    first_order = min(d for d, _ in live)
    assert row["first_order_date"] == first_order != DELETED_ORDER_DATE
    assert row["ordered_amount_reporting"] == sum(a for _, a in live)  # USD: rate 1
    assert row["won_date"] == won["close_date"]
    assert row["booked_amount_reporting"] == won["amount"]
    assert row["contract_signed_date"] == signed["signed"]
    assert row["contracted_amount_reporting"] == signed["value"]
    assert row["first_invoice_date"] == min(d for d, _ in invoices)
    assert row["invoiced_amount_reporting"] == sum(a for _, a in invoices)
    assert row["days_contract_to_order"] == (first_order - signed["signed"]).days
    assert row["days_won_to_contract"] == (signed["signed"] - won["close_date"]).days
    assert row["as_of_date"] == dt.date.fromisoformat(AS_OF)


def test_money_columns_are_exact_and_ordered_along_the_journey(built):
    rows = query(built, "select booked_amount_reporting, contracted_amount_reporting, ordered_amount_reporting,"
                        " invoiced_amount_reporting, collected_amount_reporting, outstanding_amount_reporting"
                        " from marts.fct_lead_to_cash")
    assert rows and all(isinstance(v, Decimal) for r in rows for v in r)
    # cash never exceeds what was invoiced on the journey, nor is anything outstanding that was not invoiced
    assert all(r[4] <= r[3] and r[5] <= r[3] for r in rows)


def test_a_deleted_order_does_not_move_the_stage_entry(built):
    s5 = _one(built, "select entered_date from marts.fct_ltc_stage_events "
                     f"where journey_id = '{JOURNEY}' and stage_code = 'S5'")
    assert s5["entered_date"] > DELETED_ORDER_DATE


def test_each_journey_is_at_its_highest_stage_entered(built):
    # recomputed from the stage rows: the highest stage_order a journey entered is its current stage,
    # the one fct_ltc_stage_events flags is_current and fct_lead_to_cash calls ltc_stage
    stages = query(built, "select journey_id, stage_order, stage_code, is_current from marts.fct_ltc_stage_events")
    highest: dict[str, tuple[int, str]] = {}
    for journey, order, code, _ in stages:
        highest[journey] = max(highest.get(journey, (order, code)), (order, code))
    flagged = {journey: code for journey, _, code, current in stages if current}
    assert len(flagged) == sum(1 for *_, current in stages if current), "a journey has two current stages"
    assert flagged == {journey: code for journey, (_, code) in highest.items()}
    ltc_stage = dict(query(built, "select journey_id, ltc_stage from marts.fct_lead_to_cash where ltc_stage is not null"))
    assert ltc_stage == flagged and len(set(flagged.values())) > 1
