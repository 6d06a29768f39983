"""The sandbox's cash-application cases and their truth (ground_truth.json "cash_application"),
checked against the written files with independent readers (conftest.Sandbox: sqlite3,
ElementTree), never against the generator's internals.

The cases are planted from scale 1000 on; scale 2000 plants each at least twice.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from connectors.sandbox import generate

from conftest import CAMT, Sandbox

NUMBER = re.compile(r"INV-\d{4}-\d{6}")


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> Sandbox:
    out = tmp_path_factory.mktemp("cash_sandbox")
    return Sandbox(out, generate(out, seed=42, scale=2000, bank_formats=False))


def _ibans(company: Sandbox) -> dict[str, str]:
    """Bank entry ref -> debtor account (IBAN or other id), read from the CAMT files."""
    import xml.etree.ElementTree as ET

    out = {}
    for path in sorted((company.dir / "finance" / "statements").glob("*.xml")):
        for ntry in ET.parse(path).getroot().iter(f"{CAMT}Ntry"):
            acct = ntry.find(f".//{CAMT}DbtrAcct/{CAMT}Id")
            if acct is not None:
                out[ntry.findtext(f"{CAMT}AcctSvcrRef")] = (acct.findtext(f"{CAMT}IBAN")
                                                            or acct.findtext(f"{CAMT}Othr/{CAMT}Id"))
    return out


def test_every_receipt_has_its_truth_and_the_truth_is_coherent(company):
    ca = company.truth["cash_application"]
    pays = ca["receipt_invoices"]
    receipts = {e["ref"]: e for e in company.entries() if e["cd"] == "CRDT"}
    assert set(pays) == set(receipts)
    invoices = {r["invoice_id"]: r for r in company.erp(
        "select invoice_id, customer_id, currency, cast(total_amount as text) as total, is_deleted from invoices")}
    for ref, items in pays.items():
        e = receipts[ref]
        paid = sum((Decimal(a) for _, a in items), Decimal(0))
        assert paid <= e["amount"], ref
        for invoice_id, amount in items:
            inv = invoices[invoice_id]
            assert inv["is_deleted"] == 0 and inv["currency"] == e["currency"], ref
            assert Decimal(0) < Decimal(amount) <= Decimal(inv["total"]), ref
        assert len({invoices[i]["customer_id"] for i, _ in items}) <= 1, ref
    for kind, refs in ca["planted"].items():
        assert len(refs) >= 2, kind
        assert set(refs) <= set(receipts), kind


def test_planted_cases_are_what_they_claim(company):
    ca = company.truth["cash_application"]
    pays, planted = ca["receipt_invoices"], ca["planted"]
    entries = {e["ref"]: e for e in company.entries()}
    debtor_accounts = _ibans(company)
    invoices = {r["invoice_id"]: dict(r) | {"total": Decimal(r["total"])} for r in company.erp(
        "select i.invoice_id, i.invoice_number, i.customer_id, i.issue_date, i.due_date, i.is_deleted, "
        "cast(i.total_amount as text) as total, c.iban from invoices i join customers c using (customer_id)")}
    by_customer: dict[str, list[dict]] = {}
    for inv in sorted(invoices.values(), key=lambda v: (v["due_date"], v["issue_date"], v["invoice_id"])):
        if not inv["is_deleted"]:
            by_customer.setdefault(inv["customer_id"], []).append(inv)

    def without_reference(ref):
        return not NUMBER.search(entries[ref]["ustrd"] or "")

    for ref in planted["lump_sum_receipts"]:
        paid = [invoices[i] for i, _ in pays[ref]]
        customer = paid[0]["customer_id"]
        assert len(paid) >= 2 and without_reference(ref)
        # the customer's oldest invoices, in full, by the payer's own IBAN known to the ERP
        assert [v["invoice_id"] for v in by_customer[customer][:len(paid)]] == [v["invoice_id"] for v in paid]
        assert entries[ref]["amount"] == sum((v["total"] for v in paid), Decimal(0))
        assert debtor_accounts[ref] == paid[0]["iban"] is not None
    for ref in planted["receipts_no_reference_exact_amount"] + planted["receipts_no_reference_short_within_tolerance"]:
        (invoice_id, amount), = pays[ref]
        inv = invoices[invoice_id]
        assert without_reference(ref) and debtor_accounts[ref] == inv["iban"] is not None
        shortfall = inv["total"] - entries[ref]["amount"]
        if ref in planted["receipts_no_reference_exact_amount"]:
            assert shortfall == 0
        else:
            assert Decimal("0") < shortfall <= Decimal(ca["write_off_max_amount"])
        # no other invoice of the customer has a total near it: the right answer is unambiguous
        others = [v for v in by_customer[inv["customer_id"]] if v["invoice_id"] != invoice_id]
        assert all(abs(v["total"] - inv["total"]) > Decimal("50.00") for v in others), ref
    for ref in planted["duplicate_payments"]:
        assert pays[ref] == []
        number = NUMBER.search(entries[ref]["ustrd"] or "").group(0)
        dup = entries[ref]
        earlier = [e for r, e in entries.items() if r != ref and e["cd"] == "CRDT" and e["ustrd"] == dup["ustrd"]
                   and e["amount"] == dup["amount"] and e["booking_date"] < dup["booking_date"]]
        assert earlier, ref
        inv = next(v for v in invoices.values() if v["invoice_number"] == number)
        assert [[i, Decimal(a)] for i, a in pays[earlier[0]["ref"]]] == [[inv["invoice_id"], inv["total"]]]
    max_amount, max_percent = Decimal(ca["write_off_max_amount"]), Decimal(ca["write_off_max_percent"])
    for ref in planted["short_payments_within_tolerance"] + planted["short_payments_beyond_tolerance"]:
        (invoice_id, _), = pays[ref]
        inv = invoices[invoice_id]
        shortfall = inv["total"] - entries[ref]["amount"]
        within = shortfall <= max_amount or shortfall * 100 <= inv["total"] * max_percent
        assert shortfall > 0 and within == (ref in planted["short_payments_within_tolerance"]), ref
