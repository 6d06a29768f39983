"""`connectors.sandbox.mutate`: the sandbox company's next day.

Checked from the files, read back independently (JSON, SQLite, CSV, the finance readers): about
`fraction` of every source changes, every change is stamped after the original data, the deletes
are there (and getDeleted reports them when stamped inside its window), references stay valid,
money stays exact, and the same seed gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sqlite3
from collections import Counter
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest

from connectors.sandbox import FakeSalesforce, generate
from connectors.sandbox import sf_schema as sfs
from connectors.sandbox.marketing_data import derive
from connectors.sandbox.mutate import mutate

SEED, SCALE, FRACTION = 11, 1000, 0.02
MUTATE_SEED = 2  # at 1,000 leads a day has only a few won deals: this seed's day has some
OLD_END = "2025-12-31T23:59:59.000+0000"  # the generated company's last moment
DAY = "2026-01-01"


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("original")
    generate(out, seed=SEED, scale=SCALE)
    return out


def _copy(original: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(original, target)
    return target


@pytest.fixture(scope="module")
def mutated(original, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("mutated") / "sandbox"
    shutil.copytree(original, out)
    return out, mutate(out, FRACTION, seed=MUTATE_SEED)


def _sf(root: Path, obj: str) -> list[dict]:
    return json.loads((root / "salesforce" / f"{obj}.json").read_text(), parse_float=Decimal)


def _erp(root: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(root / "erp.sqlite")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _digest(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "erp.sqlite":
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    tables = ("customers", "sales_orders", "sales_order_lines", "deliveries", "invoices", "invoice_lines",
              "credit_notes")
    for table in tables:  # SQLite's file bytes are not canonical; its rows are
        out[f"erp:{table}"] = hashlib.sha256(repr(_erp(root, f"select * from {table} order by 1")).encode()).hexdigest()
    return out


def _changed(before: list[dict], after: list[dict]) -> tuple[list[dict], list[dict]]:
    """(records new or different in `after`, records of `before` that vanished)."""
    old = {r["Id"]: r for r in before}
    new = {r["Id"]: r for r in after}
    return [r for i, r in new.items() if old.get(i) != r], [r for i, r in old.items() if i not in new]


# ---- how much changes ----------------------------------------------------------------------------

def test_about_fraction_of_every_source_changes(original, mutated):
    root, result = mutated
    sf_total = sf_touched = 0
    for obj in sfs.SCHEMAS:
        before, after = _sf(original, obj), _sf(root, obj)
        changed, vanished = _changed(before, after)
        assert not vanished, f"{obj}: records vanished"  # Salesforce deletes are soft (IsDeleted)
        sf_total += len(before)
        sf_touched += len(changed)
    assert 0.5 * FRACTION <= sf_touched / sf_total <= 2 * FRACTION

    erp_before = erp_touched = 0
    for table, key in (("customers", "customer_id"), ("sales_orders", "order_id"), ("deliveries", "delivery_id"),
                       ("invoices", "invoice_id"), ("invoice_lines", "invoice_line_id"),
                       ("sales_order_lines", "order_line_id"), ("credit_notes", "credit_note_id")):
        old = dict((r[0], r) for r in _erp(original, f"select {key}, * from {table}"))
        new = dict((r[0], r) for r in _erp(root, f"select {key}, * from {table}"))
        erp_before += len(old)
        erp_touched += sum(old.get(k) != v for k, v in new.items()) + len(set(old) - set(new))
    assert 0.5 * FRACTION <= erp_touched / erp_before <= 3 * FRACTION

    bank = result["finance"]["bank_transactions"]
    assert bank["new"] >= 1 and 0.3 * FRACTION <= bank["new"] / bank["records"] <= 2 * FRACTION
    ads = result["marketing"]["ad_spend"]
    assert ads["new"] >= 1 and ads["changed"] >= 1
    assert 0.5 * FRACTION <= (ads["new"] + ads["changed"]) / ads["records"] <= 2 * FRACTION


def test_every_kind_of_change_is_there(mutated):
    _root, result = mutated
    sf, erp = result["salesforce"], result["erp"]
    assert sf["Lead"]["new"] and sf["Lead"]["changed"] and sf["Lead"]["deleted"]
    assert sf["Opportunity"]["new"] and sf["Opportunity"]["changed"] and sf["Opportunity"]["deleted"]
    assert sf["OpportunityHistory"]["new"] and sf["OpportunityHistory"]["deleted"]
    assert sf["Account"]["changed"] and sf["Contact"]["changed"] and sf["Contract"]["new"]
    assert erp["invoices"]["new"] and erp["invoices"]["changed"] and erp["invoices"]["deleted"]
    assert erp["deliveries"]["deleted"] and erp["customers"]["changed"] and erp["credit_notes"]["new"]
    assert result["marketing"]["hubspot_contacts"]["new"] == sf["Lead"]["new"]


# ---- timestamps -------------------------------------------------------------------------------------

def test_every_change_is_stamped_after_the_original_data(original, mutated):
    root, _result = mutated
    for obj, schema in sfs.SCHEMAS.items():
        before = {r["Id"]: r for r in _sf(original, obj)}
        changed, _ = _changed(list(before.values()), _sf(root, obj))
        cursor = schema.cursor_field
        for rec in changed:
            if cursor == "CreatedDate" and rec["Id"] in before:
                # field history has no modification stamp: an old row can only be deleted with its
                # opportunity (which the connector cannot see; no model reads field history)
                assert rec == {**before[rec["Id"]], "IsDeleted": True}
                continue
            assert rec[cursor] > OLD_END, (obj, rec["Id"], rec[cursor])
            assert rec[cursor].startswith(DAY)
    for table, key in (("customers", "customer_id"), ("sales_orders", "order_id"), ("deliveries", "delivery_id"),
                       ("invoices", "invoice_id"), ("invoice_lines", "invoice_line_id"),
                       ("credit_notes", "credit_note_id")):
        old = dict((r[0], r) for r in _erp(original, f"select {key}, * from {table}"))
        for row in _erp(root, f"select {key}, updated_at, * from {table}"):
            if old.get(row[0]) != (row[0], *row[2:]):
                assert row[1].startswith(DAY), (table, row[0], row[1])
    fx = (root / "finance" / "fx_rates.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in fx[-2:]] == [DAY, DAY]


def test_as_of_moves_a_day_and_the_mutation_is_recorded(original, mutated):
    root, result = mutated
    truth = json.loads((root / "ground_truth.json").read_text())
    assert result["as_of_before"] == "2025-12-31" and result["as_of"] == truth["as_of"] == DAY
    assert truth["mutations"][-1]["seed"] == MUTATE_SEED
    assert truth["figures"] == json.loads((original / "ground_truth.json").read_text())["figures"]


# ---- deletes ---------------------------------------------------------------------------------------

def test_deletes_are_soft_in_salesforce_and_both_kinds_in_the_erp(original, mutated):
    root, result = mutated
    for obj in ("Lead", "Opportunity"):
        before = {r["Id"]: r for r in _sf(original, obj)}
        deleted = [r for r in _sf(root, obj) if r["IsDeleted"] and not before.get(r["Id"], {}).get("IsDeleted")]
        assert len(deleted) == result["salesforce"][obj]["deleted"] > 0
    gone_opps = {r["Id"] for r in _sf(root, "Opportunity") if r["IsDeleted"]}
    assert all(h["IsDeleted"] for h in _sf(root, "OpportunityHistory") if h["OpportunityId"] in gone_opps)
    cancelled = _erp(root, "select invoice_id from invoices where is_deleted = 1 and updated_at like '2026%'")
    assert cancelled and all(_erp(root, f"select 1 from credit_notes where invoice_id = '{i}'") for (i,) in cancelled)
    deliveries_before = {r[0] for r in _erp(original, "select delivery_id from deliveries")}
    deliveries_after = {r[0] for r in _erp(root, "select delivery_id from deliveries")}
    assert len(deliveries_before - deliveries_after) == result["erp"]["deliveries"]["deleted"] > 0


def test_only_duplicate_leads_are_deleted_so_hubspot_ids_stay_put(original, mutated):
    """HubSpot's contact of an e-mail is its earliest lead: deleting only later duplicates keeps
    every existing contact's id on the same lead."""
    root, _result = mutated
    before = {c["id"]: c["properties"]["salesforceleadid"] for c in derive(original).contacts}
    after = {c["id"]: c["properties"]["salesforceleadid"] for c in derive(root).contacts}
    assert all(after[i] == lead for i, lead in before.items())
    assert len(after) > len(before)


def test_getdeleted_reports_the_deletes_stamped_inside_its_window(original, tmp_path):
    root = _copy(original, tmp_path, "sandbox")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    result = mutate(root, FRACTION, seed=MUTATE_SEED, deleted_at=now)
    fake = FakeSalesforce(root)
    window = urlencode({"start": sfs.format_datetime(now - dt.timedelta(hours=1)),
                        "end": sfs.format_datetime(now + dt.timedelta(hours=1))})
    for obj in ("Lead", "Opportunity"):
        status, payload, _ = fake.handle("GET", f"/services/data/v{sfs.API_VERSION}/sobjects/{obj}/deleted?{window}",
                                         {"authorization": "Bearer sandbox-token"}, b"")
        assert status == 200
        assert len(payload["deletedRecords"]) == result["salesforce"][obj]["deleted"] > 0


# ---- consistency -------------------------------------------------------------------------------------

def test_ids_are_unique_and_references_resolve(mutated):
    root, _result = mutated
    ids = {}
    for obj in sfs.SCHEMAS:
        records = _sf(root, obj)
        counts = Counter(r["Id"] for r in records)
        assert max(counts.values()) == 1, obj
        ids[obj] = set(counts)
    for obj, schema in sfs.SCHEMAS.items():
        for f in schema.fields:
            if f.type != "reference" or not f.reference_to:
                continue
            targets = set().union(*(ids.get(t, set()) for t in f.reference_to))
            dangling = [r["Id"] for r in _sf(root, obj) if r.get(f.name) and r[f.name] not in targets]
            assert not dangling, (obj, f.name, dangling[:3])
    contracts = {c["ContractNumber"] for c in _sf(root, "Contract")}
    assert len(contracts) == len(_sf(root, "Contract"))
    fk = (("sales_orders", "customer_id", "customers", "customer_id"),
          ("invoices", "customer_id", "customers", "customer_id"),
          ("invoices", "order_id", "sales_orders", "order_id"),
          ("invoice_lines", "invoice_id", "invoices", "invoice_id"),
          ("invoice_lines", "order_line_id", "sales_order_lines", "order_line_id"),
          ("sales_order_lines", "order_id", "sales_orders", "order_id"),
          ("deliveries", "order_id", "sales_orders", "order_id"),
          ("credit_notes", "invoice_id", "invoices", "invoice_id"))
    for table, column, parent, key in fk:
        assert not _erp(root, f"select {column} from {table} where {column} is not null and {column} not in "
                              f"(select {key} from {parent})"), (table, column)
    linked = {r[0] for r in _erp(root, "select crm_opportunity_id from sales_orders")}
    assert linked <= ids["Opportunity"]
    numbers = {r[0] for r in _erp(root, "select customer_number from customers")}
    assert {a["AccountNumber"] for a in _sf(root, "Account") if a["AccountNumber"]} <= numbers


def test_money_is_exact_and_invoices_add_up(mutated):
    root, _result = mutated
    rows = _erp(root, "select invoice_id, currency, cast(net_amount as text), cast(tax_amount as text), "
                      "cast(total_amount as text) from invoices where created_at like '2026%'")
    assert rows
    for invoice_id, currency, net, tax, total in rows:
        assert currency in sfs.CURRENCIES
        assert Decimal(net) + Decimal(tax) == Decimal(total)
        lines = _erp(root, f"select cast(net_amount as text), cast(total_amount as text) from invoice_lines "
                           f"where invoice_id = '{invoice_id}'")
        assert sum(Decimal(n) for n, _ in lines) == Decimal(net)
        assert sum(Decimal(t) for _, t in lines) == Decimal(total)
    for obj, money in (("Opportunity", "Amount"), ("Contract", "Contract_Value__c"), ("Order", "TotalAmount")):
        for rec in _sf(root, obj):
            value = rec[money]
            assert value is None or Decimal(value) == Decimal(value).quantize(Decimal("0.01")), (obj, value)


def test_the_new_statements_parse_and_open_at_the_last_closing_balance(mutated):
    from connectors.finance.readers import PARSE_ERRORS, parse_file, parsers

    root, result = mutated
    folder = root / "finance" / "statements"
    readers = parsers()
    paid = {r[0]: Decimal(r[1]) for r in _erp(root, "select invoice_number, cast(total_amount as text) "
                                                    "from invoices where status = 'paid' and updated_at like '2026%'")}
    receipts = {}
    for name in result["finance"]["files"]:
        kind = {".xml": "camt053", ".sta": "mt940", ".csv": "bank_csv"}[Path(name).suffix]
        table, reason = parse_file(readers[kind], PARSE_ERRORS, (folder / name).read_bytes(), name, "x")
        assert reason is None, reason
        for row in table.to_pylist():
            assert row["booking_date"] == dt.date(2026, 1, 1) and row["credit_debit"] == "CRDT"
            receipts[row["remittance_unstructured"]] = row["amount"]
    assert len(receipts) == len(paid) == result["finance"]["bank_transactions"]["new"]
    for number, total in paid.items():  # each paid invoice's number and total is in a receipt
        assert [amount for text, amount in receipts.items() if number in text] == [total]


# ---- determinism -------------------------------------------------------------------------------------

def test_same_seed_same_bytes_other_seed_other_changes(original, tmp_path):
    a, b, c = (_copy(original, tmp_path, n) for n in "abc")
    mutate(a, FRACTION, seed=5)
    mutate(b, FRACTION, seed=5)
    mutate(c, FRACTION, seed=6)
    da, db, dc = _digest(a), _digest(b), _digest(c)
    ga, gb = (json.loads((p / "ground_truth.json").read_text()) for p in (a, b))
    assert ga == gb
    assert da == db
    assert da != dc


def test_a_second_day_moves_on_again(mutated, tmp_path):
    root = _copy(mutated[0], tmp_path, "again")
    result = mutate(root, FRACTION, seed=MUTATE_SEED)
    assert result["as_of_before"] == DAY and result["as_of"] == "2026-01-02"
    for obj in sfs.SCHEMAS:  # still well-formed, Ids still unique
        records = _sf(root, obj)
        assert len({r["Id"] for r in records}) == len(records)


def test_cli_moves_the_sandbox_to_the_next_day(original, tmp_path, monkeypatch, capsys):
    from orchestration.cli import main

    root = _copy(original, tmp_path, "cli")
    monkeypatch.setenv("LTC_HOME", str(tmp_path / "home"))
    assert main(["sandbox", "mutate", "--sandbox", str(root), "--fraction", "0.01", "--seed", "4"]) == 0
    assert json.loads((root / "ground_truth.json").read_text())["as_of"] == DAY
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{"):])["salesforce"]["Lead"]["new"] == 5
    stamps = [r["SystemModstamp"] for r in _sf(root, "Lead") if r["IsDeleted"] and r["SystemModstamp"] > OLD_END]
    assert stamps and all(s[:10] > DAY for s in stamps)  # stamped now, for getDeleted
