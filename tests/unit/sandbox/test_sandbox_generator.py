"""The sandbox generator: deterministic, coherent, and its ground truth agrees with its own files.

Figures are recomputed here from the written files with independent readers (json, sqlite3,
ElementTree, csv), never from the generator's internals.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from connectors.sandbox import generate
from connectors.sandbox.sf_schema import SCHEMAS, id_checksum

CENT = Decimal("0.01")
REST_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000$")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class _Fx:
    """The contract's FX rule, written from docs/contracts.md against fx_rates.csv."""

    def __init__(self, rows: list[dict]) -> None:
        self.series: dict[str, list[tuple[str, Decimal]]] = {}
        for r in rows:
            assert r["reporting_currency"] == "USD"
            self.series.setdefault(r["currency"], []).append((r["rate_date"], Decimal(r["rate"])))
        for s in self.series.values():
            s.sort()

    def convert(self, amount: Decimal, currency: str, day: str) -> Decimal:
        if currency == "USD":
            rate = Decimal(1)
        else:
            rate = [r for d, r in self.series[currency] if d <= day][-1]
        return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


# ----------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    a = generate(tmp_path / "a", seed=7, scale=300)
    b = generate(tmp_path / "b", seed=7, scale=300)
    c = generate(tmp_path / "c", seed=8, scale=300)
    files_a, files_b, files_c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    assert files_a.keys() == files_b.keys()
    assert [name for name in files_a if files_a[name] != files_b[name]] == []
    assert len(files_a) >= 1 + 10 + 1 + 36 + 1 + 12  # truth, 10 objects, erp, 36 statements, fx, 12 months
    assert files_a["salesforce/Lead.json"] != files_c["salesforce/Lead.json"]
    assert a["figures"] != c["figures"]


def test_ground_truth_file_is_what_generate_returned(sandbox):
    written = json.loads((sandbox.dir / "ground_truth.json").read_text())
    assert written == sandbox.truth
    assert written["seed"] == 42 and written["scale"] == 500
    assert written["as_of"] == "2025-12-31" and written["period_start"] == "2025-01-01"
    assert written["reporting_currency"] == "USD"


# ----------------------------------------------------------------------------- figures


def test_lead_and_opportunity_counts(sandbox):
    leads = sandbox.sf("Lead")
    opps = sandbox.sf("Opportunity")
    f = sandbox.truth["figures"]
    assert len(leads) == 500  # scale = Lead records, deleted and duplicates included
    live = [l for l in leads if not l["IsDeleted"]]
    assert f["leads"] == len(live)
    assert f["converted_leads"] == sum(l["IsConverted"] for l in live)
    live_opps = [o for o in opps if not o["IsDeleted"]]
    assert f["opportunities"] == len(live_opps)
    assert f["won_opportunities"] == sum(o["IsWon"] for o in live_opps)
    assert f["lost_opportunities"] == sum(o["IsClosed"] and not o["IsWon"] for o in live_opps)
    assert f["contracts"] == len([c for c in sandbox.sf("Contract") if not c["IsDeleted"]])
    assert f["orders"] == len(sandbox.erp("SELECT * FROM sales_orders")) == len(sandbox.sf("Order"))


def test_won_amount_follows_the_fx_rule(sandbox):
    fx = _Fx(sandbox.fx())
    won = [o for o in sandbox.sf("Opportunity") if o["IsWon"] and not o["IsDeleted"]]
    expected = sum((fx.convert(o["Amount"], o["CurrencyIsoCode"], o["CloseDate"]) for o in won), Decimal("0.00"))
    assert sandbox.truth["figures"]["won_amount"] == str(expected)
    assert {o["CurrencyIsoCode"] for o in won} == {"USD", "EUR", "GBP"}


def test_invoiced_total_from_sqlite(sandbox):
    fx = _Fx(sandbox.fx())
    rows = sandbox.erp("SELECT CAST(total_amount AS TEXT) AS total, currency, issue_date FROM invoices WHERE is_deleted = 0")
    expected = sum((fx.convert(Decimal(r["total"]).quantize(CENT), r["currency"], r["issue_date"]) for r in rows),
                   Decimal("0.00"))
    assert sandbox.truth["figures"]["invoices"] == len(rows)
    assert sandbox.truth["figures"]["invoiced_total"] == str(expected)


def test_collected_total_from_camt(sandbox):
    fx = _Fx(sandbox.fx())
    entries = sandbox.entries()
    receipts = [e for e in entries if e["cd"] == "CRDT"]
    expected = sum((fx.convert(e["amount"], e["currency"], e["booking_date"]) for e in receipts), Decimal("0.00"))
    assert sandbox.truth["figures"]["receipts"] == len(receipts)
    assert sandbox.truth["figures"]["collected_total"] == str(expected)
    assert any(e["cd"] == "DBIT" for e in entries)  # bank fees are there, and are not receipts
    refs = [e["ref"] for e in entries]
    assert len(refs) == len(set(refs))


def test_ad_spend_total_from_csv(sandbox):
    fx = _Fx(sandbox.fx())
    rows = sandbox.adspend()
    campaigns = {c["Id"] for c in sandbox.sf("Campaign")}
    assert rows and {r["campaign_id"] for r in rows} <= campaigns
    expected = sum((fx.convert(Decimal(r["spend"]), r["currency"], r["date"]) for r in rows), Decimal("0.00"))
    assert sandbox.truth["figures"]["ad_spend_total"] == str(expected)
    assert len({(r["date"], r["campaign_id"]) for r in rows}) == len(rows)


# ----------------------------------------------------------------------------- anomalies


def test_every_anomaly_kind_is_planted_at_least_twice(sandbox):
    a = sandbox.truth["anomalies"]
    kinds = {k: v for k, v in a.items() if k != "deleted_records"} | {
        f"deleted_{k}": v for k, v in a["deleted_records"].items()}
    assert set(kinds) == {
        "duplicate_leads", "receipts_wrong_reference", "receipts_missing_reference", "short_payments",
        "overpayments", "orders_without_contract", "invoices_paid_late",
        "deleted_Lead", "deleted_Opportunity", "deleted_invoices",
        # contract-to-cash exceptions (int_contract_exceptions_flagged)
        "invoices_without_contract", "work_without_signed_contract", "contracts_invoiced_over_value",
        "won_not_invoiced",
    }
    for kind, ids in kinds.items():
        assert len(ids) >= 2, kind
        assert len(ids) == len(set(ids)), kind


def test_duplicate_leads_repeat_an_earlier_lead(sandbox):
    leads = sandbox.sf("Lead")
    by_id = {l["Id"]: l for l in leads}
    for dup_id in sandbox.truth["anomalies"]["duplicate_leads"]:
        dup = by_id[dup_id]
        assert not dup["IsDeleted"] and not dup["IsConverted"]
        twins = [l for l in leads if l["Id"] != dup_id and l["Email"].lower() == dup["Email"].lower()
                 and l["CreatedDate"] <= dup["CreatedDate"]]
        assert twins, dup_id
        assert twins[0]["Name"] == dup["Name"]


def test_deleted_records_are_soft_deleted_later(sandbox):
    deleted = sandbox.truth["anomalies"]["deleted_records"]
    for obj in ("Lead", "Opportunity"):
        records = {r["Id"]: r for r in sandbox.sf(obj)}
        assert set(deleted[obj]) == {i for i, r in records.items() if r["IsDeleted"]}
        for rid in deleted[obj]:
            assert records[rid]["SystemModstamp"] > records[rid]["CreatedDate"]
    gone = {r["invoice_id"] for r in sandbox.erp("SELECT invoice_id FROM invoices WHERE is_deleted = 1")}
    assert gone == set(deleted["invoices"])
    opp_deleted = set(deleted["Opportunity"])
    for h in sandbox.sf("OpportunityHistory"):
        assert h["IsDeleted"] == (h["OpportunityId"] in opp_deleted)


def _invoices(sandbox) -> dict[str, dict]:
    rows = sandbox.erp(
        "SELECT i.*, CAST(i.total_amount AS TEXT) AS total, c.name AS customer_name "
        "FROM invoices i JOIN customers c USING (customer_id)")
    return {r["invoice_number"]: dict(r) | {"total": Decimal(r["total"]).quantize(CENT)} for r in rows}


def test_receipt_anomalies_look_like_what_they_are(sandbox):
    a = sandbox.truth["anomalies"]
    entries = {e["ref"]: e for e in sandbox.entries()}
    invoices = _invoices(sandbox)
    number = re.compile(r"INV-\d{4}-\d{6}")

    def referenced(ref):
        found = number.findall(entries[ref]["ustrd"] or "")
        return invoices.get(found[0]) if found else None

    for ref in a["receipts_missing_reference"]:
        assert entries[ref]["cd"] == "CRDT" and not number.search(entries[ref]["ustrd"] or "")
    for ref in a["receipts_wrong_reference"]:
        inv = referenced(ref)
        # a number that does not exist, or another customer's invoice
        assert inv is None or inv["customer_name"].lower() != entries[ref]["debtor"].lower()
    for ref in a["short_payments"]:
        assert entries[ref]["amount"] < referenced(ref)["total"]
    for ref in a["overpayments"]:
        assert entries[ref]["amount"] > referenced(ref)["total"]


def test_orders_without_contract(sandbox):
    ids = sandbox.truth["anomalies"]["orders_without_contract"]
    orders = {r["order_id"]: r for r in sandbox.erp("SELECT * FROM sales_orders")}
    sf_orders = {o["OpportunityId"]: o for o in sandbox.sf("Order")}
    contracted = {c["Opportunity__c"] for c in sandbox.sf("Contract")}
    assert {i for i, o in orders.items() if o["contract_number"] is None} == set(ids)
    for order_id in ids:
        opp = orders[order_id]["crm_opportunity_id"]
        assert sf_orders[opp]["ContractId"] is None
        assert opp not in contracted


def test_invoices_paid_late_are_paid_after_due(sandbox):
    late = set(sandbox.truth["anomalies"]["invoices_paid_late"])
    invoices = _invoices(sandbox)
    by_id = {v["invoice_id"]: v for v in invoices.values()}
    for invoice_id in late:
        assert by_id[invoice_id]["status"] == "paid" and by_id[invoice_id]["is_deleted"] == 0
    # receipts that name their invoice and pay it in full: late exactly when booked after due
    a = sandbox.truth["anomalies"]
    odd = set(a["receipts_wrong_reference"]) | set(a["receipts_missing_reference"]) | set(a["short_payments"])
    checked = 0
    for e in sandbox.entries():
        m = re.search(r"INV-\d{4}-\d{6}", e["ustrd"] or "")
        if e["cd"] != "CRDT" or e["ref"] in odd or not m:
            continue
        inv = invoices[m.group(0)]
        assert (e["booking_date"] > inv["due_date"]) == (inv["invoice_id"] in late), e["ref"]
        checked += 1
    assert checked >= 15  # enough receipts to mean something (20 at scale 500, seed 42)


# ----------------------------------------------------------------------------- coherence


def test_ids_references_and_formats(sandbox):
    ids: dict[str, set[str]] = {}
    for obj, schema in SCHEMAS.items():
        records = sandbox.sf(obj)
        assert records, obj
        ids[obj] = {r["Id"] for r in records}
        for r in records:
            assert set(r) == set(schema.stored_fields), obj
            assert len(r["Id"]) == 18 and r["Id"].startswith(schema.key_prefix)
            assert id_checksum(r["Id"][:15]) == r["Id"][15:]
            # field history has only CreatedDate; the currency setup objects have no IsDeleted
            stamps = [n for n in ("CreatedDate", "LastModifiedDate", "SystemModstamp") if schema.field(n)]
            for name in stamps:
                assert REST_DATETIME.match(r[name]), (obj, name, r[name])
                assert "2025-01-01" <= r[name][:10] <= "2025-12-31"
            assert [r[n] for n in stamps] == sorted(r[n] for n in stamps)  # Created <= LastModified <= System
    for obj, schema in SCHEMAS.items():
        for f in schema.fields:
            if f.type != "reference" or f.reference_to[-1] not in ids:
                continue
            target = ids[f.reference_to[-1]] if f.name != "OwnerId" else ids["User"]
            for r in sandbox.sf(obj):
                assert r[f.name] is None or r[f.name] in target, (obj, f.name)
    orders = sandbox.erp("SELECT o.*, c.crm_account_id FROM sales_orders o JOIN customers c USING (customer_id)")
    won = {o["Id"] for o in sandbox.sf("Opportunity") if o["IsWon"]}
    assert orders and all(o["crm_opportunity_id"] in won for o in orders)
    accounts = {a["AccountNumber"]: a for a in sandbox.sf("Account") if a["AccountNumber"]}
    for c in sandbox.erp("SELECT * FROM customers"):
        assert c["customer_number"] in accounts
        assert c["crm_account_id"] in (None, accounts[c["customer_number"]]["Id"])


def test_money_is_exact_on_disk(sandbox):
    for obj, schema in SCHEMAS.items():
        money = [f.name for f in schema.fields if f.type == "currency"]
        for r in sandbox.sf(obj):
            for name in money:
                assert r[name] is None or isinstance(r[name], (Decimal, int)), (obj, name)
                assert r[name] is None or Decimal(r[name]).as_tuple().exponent >= -2
    for v in sandbox.erp("SELECT *, CAST(net_amount AS TEXT) n, CAST(tax_amount AS TEXT) t, "
                         "CAST(total_amount AS TEXT) g FROM invoices"):
        assert Decimal(v["n"]) + Decimal(v["t"]) == Decimal(v["g"])
        terms = sandbox.erp(f"SELECT payment_terms_days FROM customers WHERE customer_id = '{v['customer_id']}'")
        issue, due = date.fromisoformat(v["issue_date"]), date.fromisoformat(v["due_date"])
        assert due - issue == timedelta(days=terms[0][0]) and terms[0][0] in (30, 45, 60)
        assert v["issue_date"] <= "2025-12-31"


def test_rates_and_shapes_are_plausible(sandbox):
    f = sandbox.truth["figures"]
    assert 0.10 <= f["converted_leads"] / f["leads"] <= 0.25
    closed = f["won_opportunities"] + f["lost_opportunities"]
    assert 0.25 <= f["won_opportunities"] / closed <= 0.45
    assert f["opportunities"] > closed  # some still open at the as-of date
    opps = [o for o in sandbox.sf("Opportunity") if not o["IsDeleted"]]
    converted = {l["ConvertedOpportunityId"] for l in sandbox.sf("Lead") if l["IsConverted"]}
    no_lead = [o for o in opps if o["Id"] not in converted]
    assert 0.04 <= len(no_lead) / len(opps) <= 0.2
    history = Counter(h["OpportunityId"] for h in sandbox.sf("OpportunityHistory"))
    assert all(history[o["Id"]] >= 1 for o in opps)
    assert all(history[o["Id"]] >= 2 for o in opps if o["IsClosed"])
    assert len({u["Department"] for u in sandbox.sf("User")}) == 3 and len(sandbox.sf("Campaign")) == 12


def test_some_records_share_one_systemmodstamp(sandbox):
    stamps = Counter(l["SystemModstamp"] for l in sandbox.sf("Lead"))
    assert stamps.most_common(1)[0][1] >= 5
    stamps = Counter(o["SystemModstamp"] for o in sandbox.sf("Opportunity"))
    assert stamps.most_common(1)[0][1] >= 5


def test_statements_and_fx_file_are_well_formed(sandbox):
    files = sorted((sandbox.dir / "finance" / "statements").glob("*.xml"))
    assert len(files) == 36  # 3 bank accounts x 12 months
    head = files[0].read_text()
    assert head.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert 'xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"' in head
    rows = sandbox.fx()
    assert rows[0]["rate_date"] == "2024-12-02" and rows[-1]["rate_date"] == "2025-12-31"
    assert {r["currency"] for r in rows} == {"EUR", "GBP"}
    assert all(date.fromisoformat(r["rate_date"]).weekday() < 5 for r in rows)
    assert all(re.fullmatch(r"\d\.\d{6}", r["rate"]) for r in rows)


def test_scale_2000_runs(tmp_path):
    truth = generate(tmp_path, seed=42, scale=2000)
    assert truth["figures"]["leads"] == 2000 - len(truth["anomalies"]["deleted_records"]["Lead"])


@pytest.mark.parametrize("scale", [1, 20, 150])
def test_tiny_companies_still_generate(tmp_path, scale):
    truth = generate(tmp_path, seed=3, scale=scale)
    assert truth["figures"]["leads"] + len(truth["anomalies"]["deleted_records"]["Lead"]) == scale


def test_default_output_is_the_sandbox_under_ltc_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LTC_HOME", str(tmp_path))
    generate(None, seed=1, scale=50)
    assert (tmp_path / "sandbox" / "ground_truth.json").exists()
