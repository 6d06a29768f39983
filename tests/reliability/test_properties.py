"""Property-based tests (hypothesis) for the statement parsers and the cash-application rules.

Why properties next to the corpus: the corpus pins the inputs we thought of; these generate the
ones we did not. Parsers: any valid statement, rendered in CAMT.053 and through the sandbox's
writers (connectors/sandbox/bank_formats.py) in MT940 and bank CSV, parses back to the same
amounts (exact `Decimal`), dates, directions and ids, on both CAMT readers; arbitrary bytes, or a
valid file cut anywhere, never raise anything but the documented parse errors (which quarantine
the file). Cash application: for any ledger of invoices and receipts, the dbt rules
(int_cash_receipts_identified → int_cash_applications_allocated → fct_cash_receipts /
fct_cash_applications) keep applied + unapplied = receipt amount to the cent, never apply more
than an invoice's total, never across currencies, and give the same answer whatever order the
raw rows arrive in.

The dbt models run once through dbt (to build every relation and get the compiled SQL from the
manifest); each example then swaps the raw rows and re-runs the compiled SQL of the table models
in dependency order, in DuckDB: a dbt invocation per example would take minutes.

Reproducible: the `reliability` profile is derandomised (same examples every run) with modest
example counts and no deadline.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import random
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from connectors.finance.bank_csv import parse_bank_csv
from connectors.finance.camt053 import parse_camt053
from connectors.finance.camt053_arrow import read_camt053
from connectors.finance.mt940 import parse_mt940
from connectors.finance.readers import PARSE_ERRORS, parsers, parse_file
from connectors.marts_file import connect_warehouse
from connectors.sandbox.bank_formats import to_bank_csv, to_mt940

settings.register_profile("reliability", derandomize=True, deadline=None, max_examples=60, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("reliability")

TESTS = Path(__file__).resolve().parents[1]

# ---- generated statements ---------------------------------------------------------------------------

_TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -", min_size=1, max_size=40).map(str.strip).filter(bool)
_CENTS = st.integers(min_value=1, max_value=99_999_999_99)  # up to 99,999,999.99
_DAYS = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 28))


@st.composite
def statements(draw):
    """(currency, IBAN, [entry]) with unique bank references; an entry's amount is exact cents."""
    n = draw(st.integers(min_value=1, max_value=8))
    refs = draw(st.lists(st.from_regex(r"[A-Z0-9]{6,16}", fullmatch=True), min_size=n, max_size=n, unique=True))
    entries = []
    for ref in refs:
        booked = draw(_DAYS)
        entries.append({
            "ref": ref, "amount": Decimal(draw(_CENTS)) / 100, "credit": draw(st.booleans()),
            "booked": booked, "value": booked + dt.timedelta(days=draw(st.integers(0, 3))),
            "payer": draw(_TEXT), "text": draw(_TEXT), "e2e": draw(st.from_regex(r"E2E[A-Z0-9]{1,10}", fullmatch=True)),
        })
    return draw(st.sampled_from(["EUR", "USD", "GBP", "CHF"])), "DE89370400440532013000", entries


def render_camt(ccy: str, iban: str, entries: list[dict]) -> bytes:
    """A camt.053.001.02 statement with opening/closing balances (to_mt940 needs both)."""
    net = sum((e["amount"] if e["credit"] else -e["amount"] for e in entries), Decimal(0))
    opening = Decimal("1000000.00")

    def bal(code, amount, day):
        return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"{ccy}\">{abs(amount):.2f}</Amt>"
                f"<CdtDbtInd>{'CRDT' if amount >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>")

    ntries = "".join(
        f"<Ntry><Amt Ccy=\"{ccy}\">{e['amount']:.2f}</Amt><CdtDbtInd>{'CRDT' if e['credit'] else 'DBIT'}</CdtDbtInd>"
        f"<BookgDt><Dt>{e['booked']}</Dt></BookgDt><ValDt><Dt>{e['value']}</Dt></ValDt>"
        f"<AcctSvcrRef>{e['ref']}</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>{e['e2e']}</EndToEndId></Refs>"
        f"<RltdPties><Dbtr><Nm>{e['payer']}</Nm></Dbtr></RltdPties><RmtInf><Ustrd>{e['text']}</Ustrd></RmtInf>"
        f"</TxDtls></NtryDtls></Ntry>" for e in entries)
    first = min(e["booked"] for e in entries)
    return ('<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
            f"<BkToCstmrStmt><Stmt><Id>STMT1</Id><Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{ccy}</Ccy></Acct>"
            f"{bal('OPBD', opening, first)}{bal('CLBD', opening + net, first)}{ntries}</Stmt></BkToCstmrStmt></Document>"
            ).encode()


def _expected(ccy: str, entries: list[dict]) -> list[tuple]:
    return sorted((e["ref"], e["amount"], ccy, "CRDT" if e["credit"] else "DBIT", e["booked"], e["value"])
                  for e in entries)


def _got(rows: list[dict]) -> list[tuple]:
    return sorted((r["transaction_id"], r["amount"], r["currency"], r["credit_debit"], r["booking_date"],
                   r["value_date"]) for r in rows)


@given(statements())
def test_camt053_round_trip_is_exact_on_both_readers(statement):
    ccy, iban, entries = statement
    data = render_camt(ccy, iban, entries)
    exact = parse_camt053(data, "p.xml")
    assert _got(exact) == _expected(ccy, entries)
    assert all(isinstance(r["amount"], Decimal) for r in exact)
    fast = read_camt053(data, "p.xml")
    assert fast is not None and _got(fast.to_pylist()) == _got(exact)  # the fast path agrees, to the cent


@given(statements())
def test_mt940_round_trip_through_the_sandbox_writer_is_exact(statement):
    ccy, iban, entries = statement
    rows = parse_mt940(to_mt940(render_camt(ccy, iban, entries), 1).encode(), "p.sta")
    assert _got(rows) == _expected(ccy, entries)
    assert all(isinstance(r["amount"], Decimal) for r in rows)
    assert sorted(r["debtor_name"] for r in rows) == sorted(e["payer"] for e in entries)


@given(statements())
def test_bank_csv_round_trip_through_the_sandbox_writer_is_exact(statement):
    ccy, iban, entries = statement
    rows = parse_bank_csv(to_bank_csv(render_camt(ccy, iban, entries)).encode(), "p.csv")
    assert _got(rows) == _expected(ccy, entries)
    assert sorted(r["remittance_unstructured"] for r in rows) == sorted(e["text"] for e in entries)


READERS = parsers()


@pytest.mark.parametrize("fmt", sorted(READERS))
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_only_ever_raise_the_documented_errors(fmt, data):
    # parse_file turns PARSE_ERRORS into a quarantine reason; anything else would escape and stop the run
    table, reason = parse_file(READERS[fmt], PARSE_ERRORS, data, "junk", "sha")
    assert (table is None) != (reason is None)
    assert reason is None or reason.startswith("junk")


@pytest.mark.parametrize("fmt", sorted(READERS))
@given(statement=statements(), cut=st.floats(min_value=0, max_value=1), flip=st.integers(0, 10**6))
def test_a_valid_file_cut_or_bit_flipped_never_escapes_the_documented_errors(fmt, statement, cut, flip):
    camt = render_camt(*statement)
    data = {"camt053": camt, "mt940": to_mt940(camt, 1).encode(), "bank_csv": to_bank_csv(camt).encode()}[fmt]
    broken = bytearray(data[: int(len(data) * cut)] or data)
    broken[flip % len(broken)] ^= 1 << (flip % 8)
    table, reason = parse_file(READERS[fmt], PARSE_ERRORS, bytes(broken), "cut", "sha")
    assert (table is None) != (reason is None)
    if table is not None:  # what lands still passes every row check: positive, exact cents, known currency
        assert all(a is None or (a >= 0 and a == a.quantize(Decimal("0.01"))) for a in table.column("amount").to_pylist())


# ---- cash application (dbt rules on DuckDB) ---------------------------------------------------------

CASH_MODELS = ["+fct_cash_applications", "+fct_cash_receipts"]
CUSTOMERS = {"CU1": ("USD", "US11"), "CU2": ("EUR", "DE11")}


def _dbt_helpers():
    """tests/dbt's conftest (run_dbt) and raw_fixture, loaded by path: tests/ has no packages and
    tests/reliability has a conftest of its own."""
    sys.path.insert(0, str(TESTS / "dbt"))
    spec = importlib.util.spec_from_file_location("dbt_test_helpers", TESTS / "dbt" / "conftest.py")
    helpers = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = helpers  # its dataclass looks its module up there
    spec.loader.exec_module(helpers)
    import raw_fixture

    return helpers, raw_fixture


@pytest.fixture(scope="module")
def cash_rules(tmp_path_factory):
    """(DuckDB path, [(relation, compiled SQL)] of the table models in dependency order)."""
    helpers, raw_fixture = _dbt_helpers()
    tmp = tmp_path_factory.mktemp("cash_properties")
    db = raw_fixture.build_raw_fixture(tmp / "warehouse.duckdb")
    with duckdb.connect(str(db)) as con:
        con.execute("alter table raw_erp.customers add column iban varchar")
        con.execute("update raw_erp.customers set iban = case customer_id when 'CU1' then 'US11' else 'DE11' end")
    (tmp / "work").mkdir()
    run = helpers.run_dbt(["run", "--select", *CASH_MODELS], db, tmp / "work")
    assert run.returncode == 0, run.output[-4000:]
    manifest = json.loads((tmp / "work" / "target" / "manifest.json").read_text())
    nodes = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model" and n.get("compiled_code")}
    order, done = [], set()

    def visit(key):  # depth-first: every model after the models it reads
        if key in done or key not in nodes:
            return
        done.add(key)
        for dep in nodes[key]["depends_on"]["nodes"]:
            visit(dep)
        order.append(key)

    for key in sorted(nodes):
        visit(key)
    tables = [(nodes[k]["relation_name"], nodes[k]["compiled_code"]) for k in order
              if nodes[k]["config"]["materialized"] == "table"]
    assert any("int_cash_applications_allocated" in r for r, _ in tables)
    return db, tables


@st.composite
def ledgers(draw):
    """Invoices of the two customers and receipts referencing them (or not), as raw rows."""
    invoices = []
    for n in range(draw(st.integers(1, 6))):
        cust = draw(st.sampled_from(sorted(CUSTOMERS)))
        issued = dt.date(2025, 1, 1) + dt.timedelta(days=draw(st.integers(0, 300)))
        total = Decimal(draw(st.integers(100, 500_000))) / 100
        invoices.append((f"P{n}", f"INV-2025-{n + 500:06d}", cust, "SO1", str(issued),
                         str(issued + dt.timedelta(days=30)), CUSTOMERS[cust][0], str(total),
                         draw(st.sampled_from(["open", "open", "open", "cancelled"])), draw(st.sampled_from([0, 0, 0, 1]))))
    receipts = []
    for n in range(draw(st.integers(1, 8))):
        inv = draw(st.sampled_from(invoices))
        cust = draw(st.sampled_from([inv[2], inv[2], "CU1", "CU2"]))
        text = draw(st.sampled_from([f"Payment {inv[1]}", f"inv {inv[1][4:8]} {inv[1][9:]} thx", "PAYMENT", None,
                                     "INV-2025-999999"]))
        iban = draw(st.sampled_from([CUSTOMERS[cust][1], "XX99"]))
        booked = dt.date(2025, 1, 1) + dt.timedelta(days=draw(st.integers(0, 360)))
        share = draw(st.sampled_from(["1", "1", "0.5", "0.999", "1.2"]))
        amount = max(Decimal("0.01"), (Decimal(inv[7]) * Decimal(share)).quantize(Decimal("0.01")))
        receipts.append((f"Z{n}", "p.xml", "x", "S9", "XX00", CUSTOMERS[cust][0], f"Z{n}", str(booked), str(booked),
                         "CRDT", str(amount), CUSTOMERS[cust][0], f"E-Z{n}", "Payer", iban, text, None))
    return invoices, receipts


def _load(con, invoices, receipts) -> None:
    con.execute("delete from raw_erp.invoices")
    con.execute("delete from raw_finance.bank_transactions")
    con.executemany("insert into raw_erp.invoices select ?, ?, ?, ?, ?::date, ?::date, ?, ?::decimal(18,2), 0, "
                    "?::decimal(18,2), ?, ?, timestamptz '2025-01-01 00:00:00+00', timestamptz '2025-01-01 00:00:00+00', "
                    "'l', gen_random_uuid()::varchar, timestamptz '2026-01-01 00:00:00+00'",
                    [(*i[:7], i[7], i[7], *i[8:]) for i in invoices])
    con.executemany("insert into raw_finance.bank_transactions select ?, ?, ?, ?, ?, ?, ?, ?::date, ?::date, ?, "
                    "?::decimal(18,2), ?, ?, ?, ?, ?, ?, 'l', gen_random_uuid()::varchar, "
                    "timestamptz '2026-01-01 00:00:00+00'", receipts)


def _apply_rules(con, tables) -> tuple[list, list]:
    for relation, sql in tables:
        con.execute(f"create or replace table {relation} as {sql}")
    receipts = con.execute("select receipt_id, amount, applied_amount, unapplied_amount, application_status "
                           "from marts.fct_cash_receipts order by 1").fetchall()
    applications = con.execute("select receipt_id, invoice_id, applied_amount, write_off_amount, match_rule "
                               "from marts.fct_cash_applications order by 1, 2").fetchall()
    return receipts, applications


@settings(max_examples=25)
@given(ledger=ledgers(), seed=st.integers(0, 2**16))
def test_cash_application_invariants_hold_for_any_ledger(cash_rules, ledger, seed):
    db, tables = cash_rules
    invoices, receipts = ledger
    with connect_warehouse(db, read_only=False) as con:  # the marts are written to their own file
        _load(con, invoices, receipts)
        got_receipts, got_apps = _apply_rules(con, tables)
        totals = dict(con.execute("select invoice_id, total_amount from staging.stg_erp__invoices").fetchall())
        currency = dict(con.execute("select invoice_id, currency from staging.stg_erp__invoices").fetchall())
        rng = random.Random(seed)  # the same rows in another order: the same answer
        _load(con, rng.sample(invoices, len(invoices)), rng.sample(receipts, len(receipts)))
        assert _apply_rules(con, tables) == (got_receipts, got_apps)
    assert len(got_receipts) == len({r[0] for r in receipts})
    by_receipt: dict[str, Decimal] = {}
    by_invoice: dict[str, Decimal] = {}
    receipt_ccy = {r[0]: r[11] for r in receipts}
    for receipt, invoice, applied, write_off, _ in got_apps:
        assert applied >= 0 and write_off >= 0
        assert applied == applied.quantize(Decimal("0.01")) and currency[invoice] == receipt_ccy[receipt]
        by_receipt[receipt] = by_receipt.get(receipt, Decimal(0)) + applied
        by_invoice[invoice] = by_invoice.get(invoice, Decimal(0)) + applied + write_off
    for receipt, amount, applied, unapplied, status in got_receipts:
        assert applied + unapplied == amount  # to the cent: DECIMAL, no float anywhere
        assert applied == by_receipt.get(receipt, Decimal(0)) and Decimal(0) <= unapplied <= amount
        assert (status == "applied") == (unapplied == 0 and applied > 0)
    for invoice, settled in by_invoice.items():
        assert settled <= totals[invoice], invoice  # never over-applied
