"""Contract-to-cash reconciliation on the sandbox company: the exceptions dbt flags are exactly the
anomalies the generator planted, and rpt_contract_reconciliation ties out to the facts.

The sandbox (seed 42, scale LTC_TEST_SCALE, default 300) is generated and landed once for the module
by the real connectors (sandbox_pipeline.land_sandbox); dbt then runs the reconciliation models and
their parents. Expectations come from ground_truth.json, which the generator computes from its own
simulated documents (connectors/sandbox/generator.py: _Company.contract_anomaly_ids and the receipt
anomaly keys), never from dbt's output:

- every planted anomaly of the four contract types is flagged with the right type, and nothing else
  is flagged with those types (no false exceptions);
- rpt_contract_reconciliation's columns sum, to the cent, to fct_orders (live, booked by the as-of
  date) and fct_invoices (live, not cancelled) per currency and in the reporting currency, and its
  invoiced total equals the ground truth's invoiced_total;
- the cash types against the receipt anomaly keys;
- rpt_ltc_health counts, month by month, exactly the work-without-a-signed-contract exceptions.
"""

from __future__ import annotations

import os
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from conftest import query, run_dbt

pytestmark = [pytest.mark.slow, pytest.mark.extended]

CENT = Decimal("0.01")
CONTRACT_TYPES = ("invoice without contract", "order without signed contract", "contract won not invoiced",
                  "invoice over contract value")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """(duckdb path, ground truth) with the reconciliation models built: landed and run once."""
    from sandbox_pipeline import land_sandbox

    tmp = tmp_path_factory.mktemp("reconciliation")
    with pytest.MonkeyPatch.context() as mp:
        db, truth = land_sandbox(tmp, seed=42, scale=int(os.environ.get("LTC_TEST_SCALE", "300")), monkeypatch=mp)
    work = tmp / "dbt_work"
    work.mkdir()
    select = ["+rpt_contract_reconciliation", "+fct_reconciliation_exceptions", "+rpt_ltc_health"]
    # run, not build: the models' data and unit tests run in the dbt build tests; here the figures
    run = run_dbt(["run", "--select", *select], db, work, as_of=truth["as_of"])
    assert run.returncode == 0, run.output[-5000:]
    return db, truth


def _flagged(db: Path, exception_type: str, column: str) -> list[str]:
    return [r[0] for r in query(db, f"""
        select {column} from marts.fct_reconciliation_exceptions
        where exception_type = '{exception_type}' order by 1""")]


# ----------------------------------------------------------------------------- contract exceptions


def test_contract_exceptions_are_exactly_the_planted_anomalies(sandbox):
    db, truth = sandbox
    a = truth["anomalies"]
    expected = {
        # type: (the document the exception is about, the ground-truth ids)
        "invoice without contract": ("invoice_id", set(a["invoices_without_contract"])),
        "order without signed contract": ("order_id", set(a["orders_without_contract"])
                                          | set(a["work_without_signed_contract"])),
        "contract won not invoiced": ("opportunity_id", set(a["won_not_invoiced"])),
        "invoice over contract value": ("contract_id", set(a["contracts_invoiced_over_value"])),
    }
    for exception_type, (column, ids) in expected.items():
        assert ids, f"the sandbox should plant some '{exception_type}'"
        flagged = _flagged(db, exception_type, column)
        assert len(flagged) == len(set(flagged)), f"{exception_type}: one exception per document"
        missed, false = ids - set(flagged), set(flagged) - ids
        assert not missed and not false, f"{exception_type}: missed {sorted(missed)}, not planted {sorted(false)}"

    # the planted ones with no contract at all are high severity; back-signed ones medium
    severity = dict(query(db, """
        select order_id, severity from marts.fct_reconciliation_exceptions
        where exception_type = 'order without signed contract'"""))
    assert {severity[o] for o in a["orders_without_contract"]} == {"high"}

    # the contract exceptions of fct_reconciliation_exceptions are int_contract_exceptions_flagged's rows
    (n_int,), = query(db, "select count(*) from intermediate.int_contract_exceptions_flagged")
    types = ", ".join(f"'{t}'" for t in CONTRACT_TYPES)
    (n_fct,), = query(db, f"select count(*) from marts.fct_reconciliation_exceptions where exception_type in ({types})")
    assert n_int == n_fct == sum(len(v[1]) for v in expected.values())


def test_invoice_over_contract_value_amount_is_the_excess_from_raw(sandbox):
    """The excess, computed here from the raw ERP invoices and Salesforce contracts."""
    db, truth = sandbox
    raw = query(db, """
        select c.id, c.contract_value_c, sum(i.net_amount)
        from raw_erp.invoices i
        join raw_erp.sales_orders o on o.order_id = i.order_id
        join raw_salesforce.contract c on c.contract_number = o.contract_number and not c.is_deleted
        where i.is_deleted = 0 and i.status <> 'cancelled' and i.issue_date <= date '2025-12-31'
        group by c.id, c.contract_value_c""")
    excess = {cid: Decimal(str(net)) - Decimal(str(value)) for cid, value, net in raw
              if Decimal(str(net)) - Decimal(str(value)) > CENT}
    assert set(excess) == set(truth["anomalies"]["contracts_invoiced_over_value"])
    flagged = dict(query(db, """
        select contract_id, amount from marts.fct_reconciliation_exceptions
        where exception_type = 'invoice over contract value'"""))
    assert flagged == excess


# ----------------------------------------------------------------------------- tie-out


def test_contract_reconciliation_ties_out_to_orders_and_invoices(sandbox):
    db, truth = sandbox
    as_of = truth["as_of"]
    rpt = defaultdict(lambda: defaultdict(Decimal))
    for row in query(db, """
            select currency, section, contract_value, ordered_amount, ordered_amount_reporting, delivered_amount,
                   delivered_amount_reporting, invoiced_amount, invoiced_amount_reporting, invoiced_total_amount,
                   invoiced_total_amount_reporting, received_amount, order_count, invoice_count
            from marts.rpt_contract_reconciliation"""):
        currency, section, *values = row
        names = ("contract_value", "ordered", "ordered_r", "delivered", "delivered_r", "invoiced", "invoiced_r",
                 "total", "total_r", "received", "orders", "invoices")
        for name, value in zip(names, values):
            rpt[currency][name] += value
            rpt["*"][name] += value

    facts = defaultdict(lambda: defaultdict(Decimal))
    for currency, net, net_r, delivered, delivered_r in query(db, f"""
            select currency, net_amount, net_amount_reporting, delivered_amount, delivered_amount_reporting
            from marts.fct_orders where not is_deleted and booked_date <= date '{as_of}'"""):
        for key in (currency, "*"):
            facts[key]["orders"] += 1
            facts[key]["ordered"] += net
            facts[key]["ordered_r"] += net_r
            facts[key]["delivered"] += delivered
            facts[key]["delivered_r"] += delivered_r
    # received: cash applied (not written off) by receipts booked by the as-of date
    for currency, net, rate, total, total_r, applied in query(db, f"""
            select i.currency, i.net_amount, i.fx_rate, i.total_amount, i.total_amount_reporting,
                   coalesce((select sum(a.applied_amount) from marts.fct_cash_applications a
                             where a.invoice_id = i.invoice_id and a.booking_date <= date '{as_of}'), 0)
            from marts.fct_invoices i
            where not i.is_deleted and not i.is_cancelled and i.issue_date <= date '{as_of}'"""):
        for key in (currency, "*"):
            facts[key]["invoices"] += 1
            facts[key]["invoiced"] += net
            # the FX rule per invoice, computed here
            facts[key]["invoiced_r"] += (net * rate).quantize(CENT, rounding=ROUND_HALF_UP)
            facts[key]["total"] += total
            facts[key]["total_r"] += total_r
            facts[key]["received"] += applied
    (contract_value,), = query(db, "select sum(contract_value) from marts.fct_contracts where not is_deleted")

    assert set(rpt) == set(facts)
    for currency in facts:
        for name in ("orders", "ordered", "delivered", "invoices", "invoiced", "total", "received"):
            assert rpt[currency][name] == facts[currency][name], (currency, name)
    for name in ("ordered_r", "delivered_r", "invoiced_r", "total_r"):  # reporting: one currency
        assert rpt["*"][name] == facts["*"][name], name
    assert rpt["*"]["contract_value"] == contract_value
    # and the invoiced total is the generator's own figure (reporting currency, FX rule at issue)
    assert str(rpt["*"]["total_r"]) == truth["figures"]["invoiced_total"]

    # one row per live contract, plus one no-contract row per currency that has such documents
    (n_contracts,), = query(db, "select count(*) from marts.fct_contracts where not is_deleted")
    (n_rows,), = query(db, "select count(*) from marts.rpt_contract_reconciliation where section = 'contract'")
    assert n_rows == n_contracts


# ----------------------------------------------------------------------------- cash exceptions


def test_cash_exceptions_match_the_planted_receipt_anomalies(sandbox):
    db, truth = sandbox
    a = truth["anomalies"]
    families = {r[0] for r in query(db, "select distinct exception_category from marts.fct_reconciliation_exceptions")}
    assert "cash" in families, "fct_reconciliation_exceptions lost the cash family (int_cash_exceptions_flagged)"
    cash = query(db, "select exception_type, receipt_id from marts.fct_reconciliation_exceptions "
                     "where exception_category = 'cash'")
    by_type = defaultdict(set)
    for exception_type, receipt_id in cash:
        by_type[exception_type].add(receipt_id)
    flagged = set().union(*by_type.values()) if by_type else set()

    # a short payment and an overpayment are flagged as such
    for key, exception_type in (("short_payments", "short payment"), ("overpayments", "overpayment")):
        missed = set(a[key]) - by_type[exception_type]
        assert not missed, (exception_type, sorted(missed))
    # a receipt with a missing or wrong reference cannot be applied cleanly: it is an exception
    unreferenced = set(a["receipts_missing_reference"]) | set(a["receipts_wrong_reference"])
    assert unreferenced <= flagged, sorted(unreferenced - flagged)
    # and no receipt is flagged unapplied, short or over unless something was planted on it
    planted = unreferenced | set(a["short_payments"]) | set(a["overpayments"])
    for key in ("duplicate_payments", "receipts_duplicate", "fx_differences"):
        planted |= set(a.get(key, []))
    for exception_type in ("unapplied receipt", "short payment", "overpayment"):
        assert by_type[exception_type] <= planted, (exception_type, sorted(by_type[exception_type] - planted))
    if "duplicate_payments" in a:
        assert by_type["duplicate payment"] == set(a["duplicate_payments"])


def test_health_page_counts_the_work_without_a_signed_contract(sandbox):
    db, truth = sandbox
    monthly = query(db, "select period_month, work_without_signed_contract_count, work_without_signed_contract_amount"
                        " from marts.rpt_ltc_health order by period_month")
    a = truth["anomalies"]  # orders with no contract at all are work without a signed contract too
    assert sum(r[1] for r in monthly) == len(set(a["orders_without_contract"]) | set(a["work_without_signed_contract"]))
    by_month = {r[0]: (r[1], r[2]) for r in query(db, """
        select cast(date_trunc('month', detected_date) as date), count(*), sum(amount_reporting)
        from marts.fct_reconciliation_exceptions where exception_type = 'order without signed contract'
        group by 1""")}
    assert {m: (n, a) for m, n, a in monthly if n} == by_month
