"""The objects the generator derives after the simulation: Product2, OpportunityLineItem, Quote,
OpportunityFieldHistory, CurrencyType, DatedConversionRate.

Read back from the written files (json, csv), never from the generator's internals. The first test
is the guard the rest of the platform relies on: adding these objects changed no byte of what the
generator wrote before (ground truth figures included).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from connectors.sandbox import generate
from connectors.sandbox.generator import EXTRA_OBJECTS
from connectors.sandbox.sf_schema import QUOTE_STATUSES, SCHEMAS

REACHED_PROPOSAL = {"Proposal/Price Quote", "Negotiation/Review", "Closed Won"}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_existing_files_do_not_depend_on_the_new_objects(tmp_path):
    with_extras = generate(tmp_path / "with", seed=11, scale=400)
    without = generate(tmp_path / "without", seed=11, scale=400, _extras=False)
    a, b = _files(tmp_path / "with"), _files(tmp_path / "without")
    new = {f"salesforce/{obj}.json" for obj in EXTRA_OBJECTS}
    assert set(a) - set(b) == new and set(b) <= set(a)
    assert [name for name in b if a[name] != b[name]] == []  # byte-identical, ground_truth.json included
    assert with_extras == without


def test_every_new_object_is_written_with_its_own_fields(sandbox):
    for obj in EXTRA_OBJECTS:
        records = sandbox.sf(obj)
        assert records, obj
        assert all(set(r) == set(SCHEMAS[obj].stored_fields) for r in records), obj
    history = sandbox.sf("OpportunityFieldHistory")
    assert not {"SystemModstamp", "LastModifiedDate"} & set(history[0])  # immutable rows, as in a real org
    for obj in ("CurrencyType", "DatedConversionRate"):
        assert "IsDeleted" not in sandbox.sf(obj)[0]  # setup objects cannot be soft-deleted


def test_line_items_add_up_exactly_to_the_amount(sandbox):
    products = {p["Id"]: p for p in sandbox.sf("Product2")}
    lines = defaultdict(list)
    for li in sandbox.sf("OpportunityLineItem"):
        lines[li["OpportunityId"]].append(li)
    opps = sandbox.sf("Opportunity")
    for opp in opps:
        items = lines[opp["Id"]]
        assert items, opp["Id"]
        assert sum((li["TotalPrice"] for li in items), Decimal(0)) == opp["Amount"]
        for li in items:
            assert li["TotalPrice"] == (li["Quantity"] * li["UnitPrice"]).quantize(Decimal("0.01"))
            assert li["UnitPrice"] > 0 and li["Quantity"] >= 1
            assert li["CurrencyIsoCode"] == opp["CurrencyIsoCode"]
            assert products[li["Product2Id"]]["IsActive"]
            assert li["IsDeleted"] == opp["IsDeleted"]
            assert li["CreatedDate"] == opp["CreatedDate"] <= li["SystemModstamp"]
    assert len(lines) == len(opps)
    assert max(len(v) for v in lines.values()) >= 4  # bundles and add-ons, not one line each
    assert any(not p["IsActive"] for p in products.values())  # a retired product in the catalogue


def test_quotes_only_after_proposal_and_one_accepted_per_won_deal(sandbox):
    reached = defaultdict(set)
    for h in sandbox.sf("OpportunityHistory"):
        reached[h["OpportunityId"]].add(h["StageName"])
    opps = {o["Id"]: o for o in sandbox.sf("Opportunity")}
    quotes = sandbox.sf("Quote")
    by_opp = defaultdict(list)
    for q in quotes:
        by_opp[q["OpportunityId"]].append(q)
        opp = opps[q["OpportunityId"]]
        assert reached[opp["Id"]] & REACHED_PROPOSAL, q["Id"]
        assert q["Status"] in QUOTE_STATUSES and q["AccountId"] == opp["AccountId"]
        assert q["CurrencyIsoCode"] == opp["CurrencyIsoCode"]
        assert q["CreatedDate"] >= opp["CreatedDate"] and q["CreatedDate"] <= q["SystemModstamp"]
        assert date.fromisoformat(q["ExpirationDate"]) == date.fromisoformat(q["CreatedDate"][:10]) + timedelta(30)
    for opp_id, opp in opps.items():
        statuses = Counter(q["Status"] for q in by_opp[opp_id])
        if opp["IsWon"]:
            assert statuses["Accepted"] == 1, opp_id
            accepted = next(q for q in by_opp[opp_id] if q["Status"] == "Accepted")
            assert accepted["GrandTotal"] == opp["Amount"]
        else:
            assert statuses["Accepted"] == 0, opp_id
        if reached[opp_id] & REACHED_PROPOSAL:
            assert by_opp[opp_id], opp_id
    assert sorted(q["QuoteNumber"] for q in quotes) == [f"{i:08d}" for i in range(1, len(quotes) + 1)]
    assert {"Denied", "Accepted", "Presented"} <= {q["Status"] for q in quotes}


def test_field_history_matches_opportunity_history(sandbox):
    rows = defaultdict(list)
    for h in sandbox.sf("OpportunityHistory"):
        rows[h["OpportunityId"]].append(h)
    expected = Counter()
    for history in rows.values():
        history.sort(key=lambda h: (h["CreatedDate"], h["Id"]))
        for prev, cur in zip(history, history[1:]):
            for name in ("StageName", "Amount"):
                if prev[name] != cur[name]:
                    expected[(cur["OpportunityId"], name, prev[name], cur[name], cur["CreatedDate"],
                              cur["CreatedById"], cur["IsDeleted"])] += 1
    fields = sandbox.sf("OpportunityFieldHistory")
    got = Counter((f["OpportunityId"], f["Field"], f["OldValue"], f["NewValue"], f["CreatedDate"], f["CreatedById"],
                   f["IsDeleted"]) for f in fields)
    assert got == expected
    types = {(f["Field"], f["DataType"]) for f in fields}
    assert types == {("StageName", "DynamicEnum"), ("Amount", "Currency")}
    amounts = [f for f in fields if f["Field"] == "Amount"]
    assert amounts and all(isinstance(f["OldValue"], Decimal) for f in amounts)  # anyType: numbers stay numbers


def test_dated_conversion_rates_agree_with_the_fx_file(sandbox):
    series = defaultdict(list)
    for row in sandbox.fx():
        series[row["currency"]].append((row["rate_date"], Decimal(row["rate"])))
    ranges = defaultdict(list)
    for r in sandbox.sf("DatedConversionRate"):
        ranges[r["IsoCode"]].append(r)
    assert set(ranges) == {"EUR", "GBP"}
    for ccy, rows in ranges.items():
        rows.sort(key=lambda r: r["StartDate"])
        assert rows[0]["StartDate"] == series[ccy][0][0]  # from the fx series' first day
        assert [r["StartDate"][8:] for r in rows[1:]] == ["01"] * (len(rows) - 1) and len(rows) == 13
        for r, nxt in zip(rows, rows[1:] + [None]):
            assert r["NextStartDate"] == (nxt["StartDate"] if nxt else None)  # contiguous, last one open
            fx_rate = [rate for day, rate in series[ccy] if day <= r["StartDate"]][-1]
            # fx file: 1 EUR = rate USD; Salesforce: EUR per 1 USD (the corporate currency)
            assert r["ConversionRate"] == (1 / fx_rate).quantize(Decimal("0.000001"), ROUND_HALF_UP)
            assert abs(r["ConversionRate"] * fx_rate - 1) < Decimal("0.000002")
            assert r["CreatedDate"] <= r["SystemModstamp"]
    currencies = {c["IsoCode"]: c for c in sandbox.sf("CurrencyType")}
    assert set(currencies) == {"USD", "EUR", "GBP"}
    assert [c for c in currencies if currencies[c]["IsCorporate"]] == ["USD"]
    assert currencies["USD"]["ConversionRate"] == 1
    for ccy in ("EUR", "GBP"):
        assert currencies[ccy]["ConversionRate"] == ranges[ccy][-1]["ConversionRate"]  # follows the latest range
        assert currencies[ccy]["IsActive"] and currencies[ccy]["DecimalPlaces"] == 2
