"""fct_orders and fct_contracts on the sandbox company, checked against the raw tables.

The sandbox is generated and landed by the real connectors (tests/dbt/sandbox_pipeline.py); before
dbt runs, the raw ERP tables get what the key reconciliation would stamp on a hard delete
(`_deleted_in_source_at`) for one sales order and one invoice line, and one order gets a contract
reference Salesforce does not know. Every expected figure is computed here from the raw tables
(plain SQL and Python Decimals), not from dbt's staging, so a wrong join (fan-out, lost rows,
unlinked contracts, a missed rate) or a deleted row counted as live shows up as a difference.
"""

from __future__ import annotations

import os
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from conftest import query, run_dbt

from connectors.marts_file import connect_warehouse

pytestmark = [pytest.mark.slow, pytest.mark.extended]

CENT = Decimal("0.01")
UNKNOWN_CONTRACT = "NO-SUCH-CONTRACT"


def _plant_deletes_and_unknown_reference(db: Path) -> dict:
    """Stamp one order and one invoice line as gone from the ERP; point one order at a contract
    number Salesforce does not have. Returns what was planted."""

    con = connect_warehouse(db, read_only=False)
    try:
        with_contract = [r[0] for r in con.execute(
            "select order_id from raw_erp.sales_orders where contract_number is not null order by order_id").fetchall()]
        assert len(with_contract) >= 2, "the sandbox should have orders with a contract"
        deleted_order, unknown_ref_order = with_contract[0], with_contract[1]
        con.execute("update raw_erp.sales_orders set _deleted_in_source_at = timestamptz '2025-12-30 12:00:00+00' "
                    "where order_id = ?", [deleted_order])
        con.execute("update raw_erp.sales_orders set contract_number = ? where order_id = ?",
                    [UNKNOWN_CONTRACT, unknown_ref_order])
        # an invoice line of a live invoice of another order
        line_id, line_order, line_net = con.execute(
            "select l.invoice_line_id, i.order_id, l.net_amount from raw_erp.invoice_lines l "
            "join raw_erp.invoices i on i.invoice_id = l.invoice_id "
            "where i.is_deleted = 0 and i.status <> 'cancelled' and i.order_id <> ? "
            "order by l.invoice_line_id limit 1", [deleted_order]).fetchone()
        con.execute("update raw_erp.invoice_lines set _deleted_in_source_at = timestamptz '2025-12-30 12:00:00+00' "
                    "where invoice_line_id = ?", [line_id])
    finally:
        con.close()
    return {"deleted_order": deleted_order, "unknown_ref_order": unknown_ref_order,
            "deleted_line": line_id, "deleted_line_order": line_order, "deleted_line_net": line_net}


def _rate(rates: dict, currency: str, day, reporting: str):
    """The FX rule of docs/contracts.md: latest rate_date <= day; the reporting currency is 1 on the day."""
    if currency == reporting:
        return Decimal("1"), day
    dated = [(d, r) for d, r in rates.get(currency, []) if d <= day]
    return (dated[-1][1], dated[-1][0]) if dated else (None, None)


def _reporting(amount: Decimal, rate: Decimal | None) -> Decimal | None:
    return None if rate is None else (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def test_orders_and_contracts_reconcile_to_raw(tmp_path: Path, dbt_work: Path, monkeypatch):
    from sandbox_pipeline import land_sandbox

    db, truth = land_sandbox(tmp_path, seed=42, scale=int(os.environ.get("LTC_TEST_SCALE", "300")),
                             monkeypatch=monkeypatch)
    planted = _plant_deletes_and_unknown_reference(db)
    as_of, reporting = truth["as_of"], truth["reporting_currency"]
    # cautious: tests whose other parents (fct_opportunities, ...) are not built here are left out
    run = run_dbt(["build", "--select", "+fct_orders", "+fct_contracts", "--indirect-selection", "cautious"],
                  db, dbt_work, as_of=as_of)
    assert run.returncode == 0, run.output[-5000:]

    orders = {r[0]: r for r in query(db, """
        select order_id, contract_number, contract_id, currency, net_amount, net_amount_reporting, fx_rate,
               fx_rate_date, booked_date, delivery_status, delivered_amount, invoiced_amount, is_deleted
        from marts.fct_orders""")}
    raw_orders = {r[0]: r for r in query(db, """
        select order_id, contract_number, currency, net_amount, order_date, _deleted_in_source_at is not null
        from raw_erp.sales_orders""")}

    # one row per ERP order: no fan-out from deliveries, lines or contracts, none lost
    (n_rows,), = query(db, "select count(*) from marts.fct_orders")
    assert n_rows == len(orders) == len(raw_orders) == truth["figures"]["orders"]
    assert set(orders) == set(raw_orders)

    # deleted = gone from the ERP; flagged, and the live total is the raw total without it
    assert {o for o, r in orders.items() if r[12]} == {planted["deleted_order"]}
    live_net = sum(r[4] for r in orders.values() if not r[12])
    raw_live_net = sum(r[3] for r in raw_orders.values() if not r[5])
    assert live_net == raw_live_net
    assert live_net < sum(r[3] for r in raw_orders.values())

    # contract link: every reference Salesforce knows is linked to that contract; no other order is
    sf_contracts = dict(query(db, "select contract_number, id from raw_salesforce.contract where not is_deleted"))
    for order_id, (_, ref, contract_id, *_rest) in orders.items():
        assert ref == raw_orders[order_id][1]
        assert contract_id == sf_contracts.get(ref), (order_id, ref, contract_id)
    unlinked = {o for o, r in orders.items() if r[2] is None}
    assert unlinked == set(truth["anomalies"]["orders_without_contract"]) | {planted["unknown_ref_order"]}
    assert orders[planted["deleted_order"]][2] is not None  # a deleted order keeps its link

    # net amount in the reporting currency: the FX rule, computed here from the raw rates
    rates = defaultdict(list)
    for day, currency, rate in query(db, "select rate_date, currency, rate from raw_finance.fx_rates "
                                         f"where reporting_currency = '{reporting}' order by rate_date"):
        rates[currency].append((day, rate))
    for order_id, r in orders.items():
        rate, rate_date = _rate(rates, r[3], raw_orders[order_id][4], reporting)
        assert rate is not None, order_id
        assert (r[6], r[7], r[5]) == (rate, rate_date, _reporting(r[4], rate)), order_id
        assert r[8] == raw_orders[order_id][4]

    # invoiced: live lines of live invoices issued by the as-of date, through their order line
    invoiced = defaultdict(Decimal)
    for order_id, net in query(db, f"""
            select coalesce(ol.order_id, i.order_id), l.net_amount
            from raw_erp.invoice_lines l
            join raw_erp.invoices i on i.invoice_id = l.invoice_id
            left join raw_erp.sales_order_lines ol on ol.order_line_id = l.order_line_id
            where l._deleted_in_source_at is null and i.is_deleted = 0 and i.status <> 'cancelled'
              and i.issue_date <= date '{as_of}'"""):
        invoiced[order_id] += net
    assert {o: r[11] for o, r in orders.items()} == {o: invoiced.get(o, Decimal("0.00")) for o in orders}
    # the deleted line is what separates the order's invoiced amount from its live invoice headers
    (headers,), = query(db, f"""
        select sum(net_amount) from raw_erp.invoices
        where order_id = '{planted["deleted_line_order"]}' and is_deleted = 0 and status <> 'cancelled'
          and issue_date <= date '{as_of}'""")
    assert orders[planted["deleted_line_order"]][11] == headers - planted["deleted_line_net"]
    # invoices are issued in their order's currency, so invoiced_amount is in the order's currency
    assert query(db, "select count(*) from raw_erp.invoices i join raw_erp.sales_orders o using (order_id) "
                     "where i.currency <> o.currency") == [(0,)]

    # delivered: the sandbox ships each order once; delivered by the as-of date -> its whole net amount
    delivered = {r[0] for r in query(db, f"select order_id from raw_erp.deliveries "
                                         f"where delivered_date <= date '{as_of}'")}
    shipped = {r[0] for r in query(db, f"select order_id from raw_erp.deliveries "
                                       f"where shipped_date <= date '{as_of}'")}
    for order_id, r in orders.items():
        expected = ("delivered" if order_id in delivered else "in transit" if order_id in shipped
                    else "not shipped")
        assert r[9] == expected, order_id
        assert r[10] == (r[4] if expected == "delivered" else Decimal("0.00")), order_id

    # contracts: one row per Salesforce contract; value converted at the signed (else start) date
    contracts = query(db, """
        select contract_id, currency, contract_value, contract_value_reporting, fx_rate, fx_rate_date,
               valuation_date, customer_signed_date, start_date, is_deleted
        from marts.fct_contracts""")
    (raw_contracts,), = query(db, "select count(*) from raw_salesforce.contract")
    assert len(contracts) == len({c[0] for c in contracts}) == raw_contracts
    assert sum(1 for c in contracts if not c[9]) == truth["figures"]["contracts"]
    for c in contracts:
        assert c[6] == (c[7] or c[8]), c[0]
        rate, rate_date = _rate(rates, c[1], c[6], reporting)
        assert (c[4], c[5], c[3]) == (rate, rate_date, _reporting(c[2], rate)), c[0]
