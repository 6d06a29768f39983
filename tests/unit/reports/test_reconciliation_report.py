"""The contract-to-receipt reconciliation report (reports/reconciliation.py).

Pure pieces first (the worklist <-> exception-type mapping against the dbt contract, the worklist
shapes), then a tiny hand-built marts schema (names, numbers, as-of checks, no payer names), then
the tie-out on the sandbox company (`built_company`): every worklist's rows and totals equal an
independent query on the marts, the summary tiles equal the marts' counts and sums, every planted
anomaly of the ground truth is in its worklist by id, and the page holds no personal data.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from connectors.marts_file import connect_warehouse
from reports.reconciliation import (
    EXCEPTION_WORKLISTS, RECONCILIATION_STATUSES, ContractLine, ExceptionLine, ReconciliationData,
    build_reconciliation_report, load_reconciliation, reconciliation_worklists, render_reconciliation,
    worklist_for_type,
)

REPO = Path(__file__).resolve().parents[3]
RECONCILIATION_YML = REPO / "dbt_project" / "models" / "marts" / "_marts__reconciliation.yml"
GENERATED = dt.datetime(2026, 1, 2, 8, 30, tzinfo=dt.timezone.utc)

# The issue's exception worklists (issue 7, item 3), written down here from the mart's accepted
# values, independently of the module: the report must agree with this.
EXPECTED_MAPPING = {
    "unapplied_cash": {"unapplied receipt"},
    "short_over_payments": {"short payment", "overpayment"},
    "duplicate_payments": {"duplicate payment"},
    "invoices_without_contract": {"invoice without contract"},
    "orders_without_signed_contract": {"order without signed contract"},
    "won_not_invoiced": {"contract won not invoiced"},
    "invoice_over_contract_value": {"invoice over contract value"},
    "fx_differences": {"fx difference"},
}
# columns of a worklist that are fct_reconciliation_exceptions' own columns (the rest are joined)
MART_COLUMNS = ("exception_type", "receipt_id", "invoice_id", "order_id", "contract_id", "opportunity_id",
                "detected_date", "age_days", "currency", "amount", "amount_reporting", "severity")
PHONE = re.compile(r"\+\d[\d ()./-]{6,}\d|\(\d{3}\)\s?\d{3}[-. ]\d{4}|\b\d{3}[-.]\d{3}[-.]\d{4}\b")


def _accepted_values(model: str, column: str) -> list[str]:
    spec = yaml.safe_load(RECONCILIATION_YML.read_text())
    (found,) = [m for m in spec["models"] if m["name"] == model]
    (col,) = [c for c in found["columns"] if c["name"] == column]
    for test in col.get("data_tests", []):
        if isinstance(test, dict) and "accepted_values" in test:
            body = test["accepted_values"]
            return list(body.get("arguments", body)["values"])
    raise AssertionError(f"{model}.{column} has no accepted_values test")


class _Metrics(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = dict(attrs)
        if a.get("data-metric"):
            self.values[a["data-metric"]] = a.get("data-value") or ""
        for name in ("src", "href", "xlink:href", "srcset", "action", "poster"):
            if a.get(name) and not a[name].startswith("#"):
                self.external.append(f"{tag} {name}={a[name]}")


def _metrics(html: str) -> _Metrics:
    parser = _Metrics()
    parser.feed(html)
    return parser


# ----------------------------------------------------------------------------- mapping (pure)


def test_mapping_covers_every_exception_type_the_mart_can_emit():
    emitted = _accepted_values("fct_reconciliation_exceptions", "exception_type")
    mapped = [t for spec in EXCEPTION_WORKLISTS for t in spec.exception_types]
    assert len(mapped) == len(set(mapped)), "an exception type is in two worklists"
    assert set(mapped) == set(emitted), (
        f"unmapped: {sorted(set(emitted) - set(mapped))}, unknown to the mart: {sorted(set(mapped) - set(emitted))}")
    for t in emitted:
        assert t in worklist_for_type(t).exception_types


def test_mapping_is_the_issues_worklists():
    assert {spec.key: set(spec.exception_types) for spec in EXCEPTION_WORKLISTS} == EXPECTED_MAPPING


def test_unknown_exception_type_is_an_error_not_dropped():
    with pytest.raises(ValueError, match="no worklist"):
        worklist_for_type("bank fee")


def test_statuses_are_the_marts_in_its_order():
    assert list(RECONCILIATION_STATUSES) == _accepted_values("rpt_contract_reconciliation", "reconciliation_status")


def test_worklist_titles_fit_a_sheet_name_and_keys_are_unique():
    data = ReconciliationData(dt.date(2025, 12, 31), "USD", (), ())
    worklists = reconciliation_worklists(data)
    assert [w.key for w in worklists] == ["contracts"] + list(EXPECTED_MAPPING)
    for w in worklists:
        assert 0 < len(w.title) <= 31 and not set(w.title) & set("[]:*?/\\"), w.title
        assert not w.rows and all(v == 0 for v in w.totals().values())


# ----------------------------------------------------------------------------- worklists (pure)


def _exception(exception_type: str, amount: str, **kw) -> ExceptionLine:
    fields = {name: None for name in ExceptionLine.__dataclass_fields__}
    fields.update(exception_id=f"{exception_type}:{kw.get('receipt_id') or kw.get('order_id') or amount}",
                  exception_type=exception_type, exception_category="cash", severity="low",
                  currency="EUR", amount=Decimal(amount), amount_reporting=Decimal(amount) * 2)
    fields.update(kw)
    return ExceptionLine(**fields)


def _contract(key: str, section: str, status: str, value: str, received: str) -> ContractLine:
    zero = Decimal("0.00")
    return ContractLine(
        reconciliation_key=key, section=section, contract_id=key if section == "contract" else None,
        contract_number=f"N-{key}" if section == "contract" else None, customer="Acme", contract_status=None,
        signed_date=None, currency="USD", order_count=1, invoice_count=1, contract_value=Decimal(value),
        ordered=Decimal(value), delivered=Decimal(value), invoiced=Decimal(value), invoiced_total=Decimal(value),
        received=Decimal(received), unordered=zero, undelivered=zero, delivered_not_invoiced=zero,
        uncollected=Decimal(value) - Decimal(received), reconciliation_status=status)


def test_every_exception_lands_in_its_worklist_with_totals():
    lines = (
        _exception("unapplied receipt", "10.00", receipt_id="R1"),
        _exception("short payment", "1.50", receipt_id="R2", invoice_id="I2"),
        _exception("overpayment", "2.25", receipt_id="R3"),
        _exception("duplicate payment", "100.00", receipt_id="R4", invoice_id="I4"),
        _exception("invoice without contract", "7.00", invoice_id="I5"),
        _exception("order without signed contract", "8.00", order_id="O6"),
        _exception("contract won not invoiced", "9.00", opportunity_id="P7"),
        _exception("invoice over contract value", "3.00", contract_id="K8"),
        _exception("fx difference", "-0.40", receipt_id="R9"),
    )
    contracts = (_contract("K1", "contract", "reconciled", "100.00", "100.00"),
                 _contract("no contract:EUR", "no contract", "no contract", "0.00", "5.00"))
    data = ReconciliationData(dt.date(2025, 12, 31), "USD", contracts, lines)
    by_key = {w.key: w for w in reconciliation_worklists(data)}
    assert sum(len(w.rows) for k, w in by_key.items() if k != "contracts") == len(lines)
    short_over = by_key["short_over_payments"]
    assert Counter(short_over.values("exception_type")) == {"short payment": 1, "overpayment": 1}
    assert short_over.totals() == {"amount_reporting": Decimal("7.50")}
    assert by_key["fx_differences"].totals() == {"amount_reporting": Decimal("-0.80")}
    assert by_key["orders_without_signed_contract"].values("order_id") == ["O6"]
    # the transaction-currency amount is shown but never totalled (currencies do not add up)
    assert "amount" not in by_key["unapplied_cash"].totals()
    contracts_wl = by_key["contracts"]
    assert contracts_wl.values("contract") == ["N-K1", "no contract:EUR"]
    assert contracts_wl.totals()["received"] == Decimal("105.00")
    assert contracts_wl.totals()["uncollected"] == Decimal("-5.00")


def test_render_is_escaped_and_shows_the_summary(tmp_path: Path):
    lines = (_exception("unapplied receipt", "10.00", receipt_id="<b>R1</b>", customer="A & <i>B</i>"),)
    data = ReconciliationData(dt.date(2025, 12, 31), "USD", (), lines)
    html = render_reconciliation(data, generated_at=GENERATED)
    assert "<b>R1</b>" not in html and "&lt;b&gt;R1&lt;/b&gt;" in html
    assert "<i>B</i>" not in html
    m = _metrics(html)
    assert m.values["exceptions.unapplied_cash.count"] == "1"
    assert m.values["exceptions.unapplied_cash.amount"] == "20.00"
    assert m.values["exceptions.total.amount"] == "20.00"
    assert m.values["exceptions.duplicate_payments.count"] == "0"
    assert m.values["unapplied_cash.amount_reporting.total"] == "20.00"
    assert not m.external


# ----------------------------------------------------------------------------- a tiny marts schema

AS_OF = "2025-12-31"


def _tiny_marts(path: Path, *, extra_type: str | None = None) -> Path:
    """Only the columns the report reads; three contracts rows, five exceptions."""
    con = connect_warehouse(path, read_only=False)
    try:
        con.execute("create schema marts")
        con.execute("""create table marts.rpt_contract_reconciliation (
            reconciliation_key varchar, section varchar, contract_id varchar, contract_number varchar,
            account_id varchar, contract_status varchar, signed_date date, currency varchar,
            reporting_currency varchar, order_count integer, invoice_count integer,
            contract_value decimal(18,2), contract_value_reporting decimal(18,2),
            ordered_amount_reporting decimal(18,2), delivered_amount_reporting decimal(18,2),
            invoiced_amount decimal(18,2), invoiced_amount_reporting decimal(18,2),
            invoiced_total_amount_reporting decimal(18,2), received_amount_reporting decimal(18,2),
            unordered_amount_reporting decimal(18,2), undelivered_amount_reporting decimal(18,2),
            delivered_not_invoiced_amount_reporting decimal(18,2), uncollected_amount_reporting decimal(18,2),
            reconciliation_status varchar, as_of_date date)""")
        con.execute(f"""insert into marts.rpt_contract_reconciliation values
            ('K1', 'contract', 'K1', '00000101', 'A1', 'Activated', '2025-02-01', 'EUR', 'USD', 1, 2,
             1000.00, 1100.00, 1100.00, 1100.00, 1200.00, 1320.00, 1500.00, 1000.00, 0.00, 0.00, -220.00, 500.00,
             'over invoiced', '{AS_OF}'),
            ('K2', 'contract', 'K2', '00000102', 'A2', 'Draft', null, 'USD', 'USD', 0, 0,
             500.00, 500.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 500.00, 0.00, 0.00, 0.00, 'not ordered', '{AS_OF}'),
            ('no contract:USD', 'no contract', null, null, null, null, null, 'USD', 'USD', 1, 1,
             0.00, 0.00, 50.00, 50.00, 50.00, 50.00, 60.00, 60.00, -50.00, 0.00, 0.00, 0.00, 'no contract', '{AS_OF}')""")
        con.execute("""create table marts.fct_reconciliation_exceptions (
            exception_id varchar, exception_type varchar, exception_category varchar, severity varchar,
            detected_date date, age_days integer, currency varchar, amount decimal(18,2),
            amount_reporting decimal(18,2), reporting_currency varchar, receipt_id varchar, invoice_id varchar,
            order_id varchar, contract_id varchar, opportunity_id varchar, account_id varchar,
            customer_id varchar, owner_id varchar, description varchar, as_of_date date)""")
        rows = [
            ("unapplied receipt:R1", "unapplied receipt", "cash", "medium", "2025-12-01", 30, "USD", "250.00",
             "250.00", "R1", None, None, None, None, None, None, None),
            ("short payment:R2:I2", "short payment", "cash", "low", "2025-11-01", 60, "EUR", "20.00", "22.00",
             "R2", "I2", None, "K1", "P1", "A1", "C1", "U1"),
            ("invoice_without_contract:I3", "invoice without contract", "contract", "high", "2025-10-01", 91,
             "USD", "50.00", "50.00", None, "I3", "O3", None, None, None, "C3", "U2"),
            ("order_without_signed_contract:O3", "order without signed contract", "contract", "high",
             "2025-09-30", 92, "USD", "50.00", "50.00", None, None, "O3", None, None, None, "C3", None),
            ("invoice_over_contract_value:K1", "invoice over contract value", "contract", "high", "2025-06-01",
             213, "EUR", "200.00", "220.00", None, "I2", "O1", "K1", "P1", "A1", "C1", "U1"),
        ]
        if extra_type:
            rows.append((f"{extra_type}:X", extra_type, "cash", "low", "2025-12-01", 30, "USD", "1.00", "1.00",
                         "R9", None, None, None, None, None, None, None))
        for r in rows:
            con.execute("insert into marts.fct_reconciliation_exceptions values "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'USD', ?, ?, ?, ?, ?, ?, ?, ?, 'x', ?)", [*r, AS_OF])
        con.execute("""create table marts.fct_cash_receipts (receipt_id varchar, payer_name varchar,
            application_status varchar, unapplied_reason varchar)""")
        con.execute("""insert into marts.fct_cash_receipts values
            ('R1', 'Jane Q. Payer', 'unidentified', 'unidentified'), ('R2', 'ACME GMBH', 'applied', null)""")
        con.execute("create table marts.fct_invoices (invoice_id varchar, invoice_number varchar, "
                    "reporting_currency varchar, as_of_date date)")
        con.execute(f"""insert into marts.fct_invoices values ('I2', 'INV-2025-000002', 'USD', '{AS_OF}'),
            ('I3', 'INV-2025-000003', 'USD', '{AS_OF}')""")
        con.execute("create table marts.fct_orders (order_id varchar, order_number varchar, contract_number varchar)")
        con.execute("insert into marts.fct_orders values ('O1', 'SO-1', '00000101'), ('O3', 'SO-3', '00000999')")
        con.execute("create table marts.fct_opportunities (opportunity_id varchar, close_date date)")
        con.execute("insert into marts.fct_opportunities values ('P1', '2025-01-15')")
        con.execute("""create table marts.dim_accounts (account_key varchar, account_id varchar,
            account_name varchar, customer_id varchar, customer_name varchar, payer_name varchar)""")
        con.execute("""insert into marts.dim_accounts values
            ('A1', 'A1', 'Acme GmbH', 'C1', 'ACME GMBH ERP', 'ACME GMBH'),
            ('A2', 'A2', 'Beta Ltd', null, null, null),
            ('erp:C3', null, null, 'C3', 'Gamma Inc', null),
            ('bank:P9', null, null, null, null, 'Jane Q. Payer')""")
        con.execute("""create table marts.rpt_funnel_conversion (dimension varchar, dimension_value varchar,
            dimension_label varchar)""")
        con.execute("insert into marts.rpt_funnel_conversion values ('owner', 'U1', 'Olive Owner'), "
                    "('owner', 'U1', 'Olive Owner'), ('channel', 'U2', 'Not an owner')")
    finally:
        con.close()
    return path


def test_tiny_marts_load_with_names_numbers_and_no_payer_names(tmp_path: Path):
    data = load_reconciliation(_tiny_marts(tmp_path / "w.duckdb"))
    assert data.as_of == dt.date(2025, 12, 31) and data.reporting_currency == "USD"
    by_id = {e.exception_id: e for e in data.exceptions}
    assert len(by_id) == 5
    short = by_id["short payment:R2:I2"]
    assert (short.customer, short.owner, short.invoice_number) == ("Acme GmbH", "Olive Owner", "INV-2025-000002")
    # an ERP customer with no CRM account is named by the ERP; an owner with no name shows its id
    iwc = by_id["invoice_without_contract:I3"]
    assert (iwc.customer, iwc.owner) == ("Gamma Inc", "U2")
    # an order referencing a contract Salesforce does not know shows the reference it carries
    owc = by_id["order_without_signed_contract:O3"]
    assert (owc.order_number, owc.contract_number, owc.contract_id) == ("SO-3", "00000999", None)
    over = by_id["invoice_over_contract_value:K1"]
    assert (over.contract_value, over.invoiced_net, over.won_date) == (
        Decimal("1000.00"), Decimal("1200.00"), dt.date(2025, 1, 15))
    unapplied = by_id["unapplied receipt:R1"]
    assert (unapplied.customer, unapplied.application_status) == (None, "unidentified")
    # largest at stake first, and contracts in the marts' status order
    assert [e.amount_reporting for e in data.exceptions] == sorted(
        (e.amount_reporting for e in data.exceptions), reverse=True)
    assert [c.reconciliation_status for c in data.contracts] == ["no contract", "over invoiced", "not ordered"]

    path = build_reconciliation_report(tmp_path / "w.duckdb", tmp_path / "out", generated_at=GENERATED)
    assert path.name == "contract_reconciliation_2025-12-31.html"
    html = path.read_text(encoding="utf-8")
    assert "Jane Q. Payer" not in html  # a bank payer's name can be a person's
    m = _metrics(html)
    assert m.values["exceptions.total.count"] == "5"
    assert m.values["exceptions.total.amount"] == "592.00"
    assert m.values["status.over_invoiced.count"] == "1"
    assert m.values["status.not_ordered.contract_value"] == "500.00"
    assert m.values["contracts.received.total"] == "1060.00"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    con = connect_warehouse(tmp_path / "w.duckdb", read_only=False)  # read-write open works: the report closed its connection
    con.close()


def test_as_of_must_be_the_marts(tmp_path: Path):
    path = _tiny_marts(tmp_path / "w.duckdb")
    assert load_reconciliation(path, dt.date(2025, 12, 31)).as_of == dt.date(2025, 12, 31)
    with pytest.raises(ValueError, match="built as of 2025-12-31, not 2025-06-30"):
        load_reconciliation(path, dt.date(2025, 6, 30))
    with pytest.raises(FileNotFoundError):
        load_reconciliation(tmp_path / "missing.duckdb")


def test_a_new_exception_type_fails_loudly(tmp_path: Path):
    path = _tiny_marts(tmp_path / "w.duckdb", extra_type="bank fee")
    with pytest.raises(ValueError, match="'bank fee'.*no worklist"):
        load_reconciliation(path)


# ----------------------------------------------------------------------------- the sandbox company


def _q(db: Path, sql: str, params=()) -> list[tuple]:
    con = connect_warehouse(db, read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def company_report(built_company, tmp_path_factory):
    out = tmp_path_factory.mktemp("reconciliation_report")
    data = load_reconciliation(built_company.warehouse)
    path = build_reconciliation_report(built_company.warehouse, out, generated_at=GENERATED)
    return built_company, data, path, path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_exception_worklists_tie_out_to_the_mart(company_report):
    company, data, _, html = company_report
    db = company.warehouse
    assert data.as_of.isoformat() == company.as_of
    worklists = {w.key: w for w in reconciliation_worklists(data)}
    m = _metrics(html).values
    (n_all, amount_all), = _q(db, "select count(*), coalesce(sum(amount_reporting), 0) "
                                  "from marts.fct_reconciliation_exceptions")
    assert sum(len(worklists[k].rows) for k in EXPECTED_MAPPING) == n_all
    assert m["exceptions.total.count"] == str(n_all)
    assert Decimal(m["exceptions.total.amount"]) == amount_all
    for key, types in EXPECTED_MAPPING.items():
        w = worklists[key]
        marks = ", ".join("?" for _ in types)
        (n, amount), = _q(db, "select count(*), coalesce(sum(amount_reporting), 0) from "
                              f"marts.fct_reconciliation_exceptions where exception_type in ({marks})", sorted(types))
        assert len(w.rows) == n, key
        assert w.totals()["amount_reporting"] == amount, key
        # the HTML: the tile, the totals row and every row in the table
        assert (m[f"exceptions.{key}.count"], Decimal(m[f"exceptions.{key}.amount"])) == (str(n), amount), key
        if n:
            assert Decimal(m[f"{key}.amount_reporting.total"]) == amount, key
            assert re.search(rf'data-worklist="{key}" data-rows="{n}"', html), key
        # row by row: the mart's own columns, as a multiset
        cols = [c for c in MART_COLUMNS if c in {col.key for col in w.columns}]
        expected = _q(db, f"select {', '.join(cols)} from marts.fct_reconciliation_exceptions "
                          f"where exception_type in ({marks})", sorted(types))
        shown = [tuple(row[w.column_index(c)] for c in cols) for row in w.rows]
        assert Counter(shown) == Counter(tuple(r) for r in expected), key


@pytest.mark.slow
def test_contract_worklist_and_status_summary_tie_out(company_report):
    company, data, _, html = company_report
    db = company.warehouse
    w = {w.key: w for w in reconciliation_worklists(data)}["contracts"]
    m = _metrics(html).values
    mart = {"contract_value": "contract_value_reporting", "ordered": "ordered_amount_reporting",
            "delivered": "delivered_amount_reporting", "invoiced": "invoiced_amount_reporting",
            "invoiced_total": "invoiced_total_amount_reporting", "received": "received_amount_reporting",
            "unordered": "unordered_amount_reporting", "undelivered": "undelivered_amount_reporting",
            "delivered_not_invoiced": "delivered_not_invoiced_amount_reporting",
            "uncollected": "uncollected_amount_reporting"}
    (n, *sums), = _q(db, f"select count(*), {', '.join(f'sum({c})' for c in mart.values())} "
                         "from marts.rpt_contract_reconciliation")
    assert len(w.rows) == n > 0
    totals = w.totals()
    for (key, _), expected in zip(mart.items(), sums):
        assert totals[key] == expected, key
        assert Decimal(m[f"contracts.{key}.total"]) == expected, key
    (n_live,), = _q(db, "select count(*) from marts.fct_contracts where not is_deleted")
    assert sum(1 for s in w.values("contract_id") if s) == n_live
    by_status = _q(db, "select reconciliation_status, count(*), sum(contract_value_reporting), "
                       "sum(received_amount_reporting) from marts.rpt_contract_reconciliation group by 1")
    assert by_status
    for status, count, value, received in by_status:
        s = status.replace(" ", "_")
        assert (m[f"status.{s}.count"], Decimal(m[f"status.{s}.contract_value"]),
                Decimal(m[f"status.{s}.received"])) == (str(count), value, received), status
    # the flow table adds up to the same totals
    (value, received), = _q(db, "select sum(contract_value_reporting), sum(received_amount_reporting) "
                               "from marts.rpt_contract_reconciliation")
    assert Decimal(m["flow.Contract_value.total"]) == value
    assert Decimal(m["flow.Received.total"]) == received


@pytest.mark.slow
def test_planted_anomalies_are_in_their_worklists(company_report):
    company, data, _, _ = company_report
    a = company.truth["anomalies"]
    w = {w.key: w for w in reconciliation_worklists(data)}

    def ids(key: str, column: str, exception_type: str | None = None) -> set[str]:
        wl = w[key]
        rows = wl.as_dicts()
        return {r[column] for r in rows if exception_type is None or r["exception_type"] == exception_type}

    expected = {
        ("orders_without_signed_contract", "order_id"): set(a["orders_without_contract"])
        | set(a["work_without_signed_contract"]),
        ("invoices_without_contract", "invoice_id"): set(a["invoices_without_contract"]),
        ("won_not_invoiced", "opportunity_id"): set(a["won_not_invoiced"]),
        ("invoice_over_contract_value", "contract_id"): set(a["contracts_invoiced_over_value"]),
        ("duplicate_payments", "receipt_id"): set(company.truth["cash_application"]["planted"]["duplicate_payments"]),
    }
    for (key, column), truth_ids in expected.items():
        assert ids(key, column) == truth_ids, key
    for key in ("orders_without_contract", "work_without_signed_contract", "invoices_without_contract",
                "won_not_invoiced", "contracts_invoiced_over_value", "short_payments", "overpayments"):
        assert a[key], f"the sandbox company should plant some {key}"
    assert set(a["short_payments"]) <= ids("short_over_payments", "receipt_id", "short payment")
    assert set(a["overpayments"]) <= ids("short_over_payments", "receipt_id", "overpayment")
    # a receipt with a wrong or missing reference cannot be applied cleanly: it is in a cash worklist
    cash = set().union(*(ids(k, "receipt_id") for k in ("unapplied_cash", "short_over_payments",
                                                         "duplicate_payments", "fx_differences")))
    unreferenced = set(a["receipts_wrong_reference"]) | set(a["receipts_missing_reference"])
    assert unreferenced and unreferenced <= cash, sorted(unreferenced - cash)


@pytest.mark.slow
def test_no_personal_data_in_the_report(company_report):
    company, _, _, html = company_report
    page = re.sub(r"<style>.*?</style>", "", html, flags=re.S)  # CSS at-rules (@media) are not data
    assert "@" not in page
    assert not PHONE.findall(html), PHONE.findall(html)[:5]
    people = _q(company.warehouse, """
        select distinct trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) from raw_salesforce.lead
        union select distinct trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) from raw_salesforce.contact""")
    names = {p for (p,) in people if p and " " in p}
    assert names, "the sandbox has leads and contacts with names"
    shown = [n for n in names if n in html]
    assert not shown, shown[:5]
    assert not _metrics(html).external
