"""Every connector, run twice against the sandbox company: no duplicates, nothing lost, exact types.

Uses the sandbox generator and its fake Salesforce server (`connectors.sandbox`). Where those are
not available yet, a tiny hand-written company following docs/contracts.md §1 stands in, served by
the unit tests' mini fake, so the landing logic is still exercised end to end.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.finance.camt053 import parse_camt053_file
from connectors.salesforce.source import table_name
from connectors.ingest import run_ingest
from connectors.settings import Settings

ERP_KEYS = {"customers": "customer_id", "sales_orders": "order_id", "invoices": "invoice_id"}
MONEY_COLUMNS = {
    "raw_salesforce.opportunity": ["amount"],
    "raw_erp.invoices": ["net_amount", "tax_amount", "total_amount"],
    "raw_erp.sales_orders": ["net_amount"],
    "raw_finance.bank_transactions": ["amount"],
    "raw_marketing.ad_spend": ["spend"],
}


def _generator():
    try:
        from connectors.sandbox import generate  # type: ignore[attr-defined]
    except ImportError:
        return None
    return generate


def _sandbox_fake():
    try:
        from connectors.sandbox import FakeSalesforce  # type: ignore[attr-defined]
    except ImportError:
        return None
    return FakeSalesforce if hasattr(FakeSalesforce, "start") else None


# ---- the stand-in company (only while connectors.sandbox is not there) -----------------------

def _ts(day: int, second: int = 0) -> str:
    return f"2025-01-{day:02d}T10:00:{second:02d}.000+0000"


def _write_tiny_company(root: Path) -> None:
    sf = root / "salesforce"
    sf.mkdir(parents=True)
    common = lambda i, day, deleted=False: {  # noqa: E731
        "IsDeleted": deleted, "CreatedDate": _ts(day), "LastModifiedDate": _ts(day), "SystemModstamp": _ts(day, i % 3)}
    leads = [{"Id": f"00Q{i:015d}", **common(i, 1 + i % 3, deleted=(i == 5)), "FirstName": "A", "LastName": f"L{i}",
              "Name": f"A L{i}", "Company": "Acme", "Status": "Qualified", "IsConverted": False, "ConvertedDate": None}
             for i in range(8)]
    opps = [{"Id": f"006{i:015d}", **common(i, 2, deleted=(i == 2)), "Name": f"Opp {i}", "StageName": "Closed Won",
             "Amount": 1000.5 + i, "CurrencyIsoCode": "EUR", "CloseDate": "2025-03-31", "IsWon": True}
            for i in range(5)]
    (sf / "Lead.json").write_text(json.dumps(leads))
    (sf / "Opportunity.json").write_text(json.dumps(opps))

    con = sqlite3.connect(root / "erp.sqlite")
    con.executescript("""
      create table customers (customer_id TEXT PRIMARY KEY, customer_number TEXT, name TEXT, country TEXT,
        currency TEXT, crm_account_id TEXT, tax_id TEXT, payment_terms_days INTEGER, created_at TIMESTAMP, updated_at TIMESTAMP);
      create table sales_orders (order_id TEXT PRIMARY KEY, order_number TEXT, customer_id TEXT, crm_opportunity_id TEXT,
        contract_number TEXT, order_date DATE, currency TEXT, net_amount DECIMAL(18,2), status TEXT,
        created_at TIMESTAMP, updated_at TIMESTAMP);
      create table invoices (invoice_id TEXT PRIMARY KEY, invoice_number TEXT, customer_id TEXT, order_id TEXT,
        issue_date DATE, due_date DATE, currency TEXT, net_amount DECIMAL(18,2), tax_amount DECIMAL(18,2),
        total_amount DECIMAL(18,2), status TEXT, is_deleted INTEGER, created_at TIMESTAMP, updated_at TIMESTAMP);
    """)
    con.executemany("insert into customers values (?,?,?,?,?,?,?,?,?,?)",
                    [(f"C{i}", f"CN{i}", f"Cust {i}", "DE", "EUR", None, "T", 30,
                      "2025-01-01T00:00:00", "2025-01-01T00:00:00") for i in range(3)])
    con.executemany("insert into sales_orders values (?,?,?,?,?,?,?,?,?,?,?)",
                    [(f"O{i}", f"SO{i}", "C1", None, None, "2025-02-01", "EUR", "1000.10", "open",
                      "2025-02-01T00:00:00", f"2025-02-0{1 + i}T00:00:00") for i in range(4)])
    con.executemany("insert into invoices values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [(f"I{i}", f"INV-2025-{i:06d}", "C1", "O1", "2025-02-03", "2025-03-05", "EUR", "100.10",
                      "19.02", "119.12", "open", int(i == 1), "2025-02-03T00:00:00", "2025-02-03T00:00:00") for i in range(4)])
    con.commit()
    con.close()

    statements = root / "finance" / "statements"
    statements.mkdir(parents=True)
    entry = """<Ntry><Amt Ccy="EUR">{amt}</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2025-03-0{n}</Dt></BookgDt>
      <ValDt><Dt>2025-03-0{n}</Dt></ValDt><AcctSvcrRef>R{n}</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>E{n}</EndToEndId></Refs>
      <RltdPties><Dbtr><Nm>Cust 1</Nm></Dbtr></RltdPties><RmtInf><Ustrd>INV-2025-00000{n}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"""
    doc = f"""<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
      <GrpHdr><MsgId>M1</MsgId></GrpHdr><Stmt><Id>EUR-2025-03</Id><Acct><Id><IBAN>DE001</IBAN></Id><Ccy>EUR</Ccy></Acct>
      {entry.format(amt="119.12", n=1)}{entry.format(amt="50.00", n=2)}</Stmt></BkToCstmrStmt></Document>"""
    (statements / "EUR_2025-03.xml").write_text(doc)
    (root / "finance" / "fx_rates.csv").write_text(
        "rate_date,currency,reporting_currency,rate\n2025-01-02,EUR,USD,1.035120\n2025-01-02,GBP,USD,1.250000\n")
    adspend = root / "marketing" / "adspend"
    adspend.mkdir(parents=True)
    (adspend / "adspend_2025-01.csv").write_text(
        "date,campaign_id,campaign_name,channel,impressions,clicks,spend,currency\n"
        "2025-01-05,701000000000000001,Brand,Paid Search,1200,34,150.10,USD\n"
        "2025-01-06,701000000000000001,Brand,Paid Search,900,12,99.99,USD\n")


CURRENCY_FIELDS = {"Amount", "BudgetedCost", "ActualCost", "TotalAmount", "Contract_Value__c"}


def _mini_fake(root: Path):
    spec = importlib.util.spec_from_file_location(
        "sf_fake_server", Path(__file__).resolve().parents[1] / "unit" / "connectors" / "sf_fake_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    objects = {}
    for path in sorted((root / "salesforce").glob("*.json")):
        records = json.loads(path.read_text())
        types = {}
        for key in records[0]:
            value = next((r[key] for r in records if r.get(key) is not None), None)
            types[key] = ("datetime" if key.endswith(("Date", "Modstamp")) and "T" in str(value) else
                          "date" if key.endswith("Date") else "boolean" if isinstance(value, bool) else
                          "currency" if key in CURRENCY_FIELDS else "id" if key == "Id" else "string")
        objects[path.stem] = {"fields": [{"name": k, "type": t} for k, t in types.items()], "records": records}
    return module.MiniSalesforce(objects, token="sandbox-token", batch_size=3)


# ---- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def company(tmp_path_factory) -> tuple[Path, bool]:
    root = tmp_path_factory.mktemp("company") / "sandbox"
    generate = _generator()
    if generate:
        generate(root, seed=7, scale=200)
        return root, True
    _write_tiny_company(root)
    return root, False


@pytest.fixture
def env(company, ltc_home, monkeypatch, tmp_path):
    src, real = company
    root = tmp_path / "sandbox"
    shutil.copytree(src, root)  # tests may add files; keep the module's copy pristine
    monkeypatch.setenv("LTC_ERP_URL", f"sqlite:///{root / 'erp.sqlite'}")
    monkeypatch.setenv("LTC_FINANCE_DROP", str(root / "finance"))
    monkeypatch.setenv("LTC_ADSPEND_DROP", str(root / "marketing" / "adspend"))
    return root, real


@pytest.fixture
def salesforce(env, monkeypatch):
    root, _ = env
    fake_class = _sandbox_fake()
    real = fake_class is not None
    fake = fake_class(root, port=0, batch_size=200) if real else _mini_fake(root)
    url = fake.start()
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", url)
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "sandbox-token")
    yield root, real, fake
    fake.stop()


def _sql(query: str):
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        return con.sql(query).fetchall()


def _assert_unique(table: str, key: str):
    """No duplicate keys, and the landing columns every raw table carries (contract §2)."""
    total, distinct = _sql(f"select count(*), count(distinct ({key})) from {table}")[0]
    assert total == distinct, f"{table}: {total} rows for {distinct} keys"
    columns = {c for (c,) in _sql(f"select column_name from (describe {table})")}
    assert {"_dlt_load_id", "_dlt_id", "_loaded_at"} <= columns, table
    assert _sql(f"select count(*) from {table} where _loaded_at is null or _dlt_load_id is null") == [(0,)]
    return total


def _assert_money_is_decimal(table: str):
    schema, name = table.split(".")
    types = dict(_sql(f"select column_name, data_type from information_schema.columns "
                      f"where table_schema = '{schema}' and table_name = '{name}'"))
    for column in MONEY_COLUMNS[table]:
        assert types[column] == "DECIMAL(18,2)", f"{table}.{column} is {types[column]}"


# ---- tests -------------------------------------------------------------------------------------

def test_salesforce_twice_lands_every_record_once_and_updates_in_place(salesforce):
    root, real, fake = salesforce
    source_counts = {p.stem: len(json.loads(p.read_text())) for p in (root / "salesforce").glob("*.json")}
    deleted = {p.stem: sum(bool(r.get("IsDeleted")) for r in json.loads(p.read_text()))
               for p in (root / "salesforce").glob("*.json")}
    objects = [table_name(o) for o in source_counts]
    run_ingest("salesforce", objects=objects)
    run_ingest("salesforce", objects=objects)
    for obj, expected in source_counts.items():
        table = f'raw_salesforce."{table_name(obj)}"'
        assert _assert_unique(table, "id") == expected, obj
        if deleted[obj]:
            assert _sql(f"select count(*) filter (where is_deleted) from {table}")[0][0] == deleted[obj]
    assert any(deleted.values())
    _assert_money_is_decimal("raw_salesforce.opportunity")

    # an org change between runs arrives as an update of the same row
    lead = json.loads((root / "salesforce" / "Lead.json").read_text())[0]
    stamp = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    changed = {**lead, "LastName": "Changed", "Name": "Changed", "SystemModstamp": stamp, "LastModifiedDate": stamp}
    if real:
        fake.upsert("Lead", changed, system_modstamp=stamp)
    else:
        fake.objects["Lead"]["records"][0] = changed
    result = run_ingest("salesforce", objects=["lead"])
    assert result.rows_loaded["lead"] >= 1
    assert _assert_unique('raw_salesforce."lead"', "id") == source_counts["Lead"]
    assert _sql(f"select last_name from raw_salesforce.lead where id = '{lead['Id']}'") == [("Changed",)]


def test_erp_twice_matches_the_source_tables(env):
    root, _ = env
    run_ingest("erp")
    second = run_ingest("erp")
    with sqlite3.connect(root / "erp.sqlite") as con:
        for table, key in ERP_KEYS.items():
            expected = con.execute(f"select count(*) from {table}").fetchone()[0]
            assert _assert_unique(f"raw_erp.{table}", key) == expected, table
            columns = [c for (c,) in _sql(f"select column_name from information_schema.columns where table_schema='raw_erp' and table_name='{table}' and column_name not like '\\_%' escape '\\'")]
            assert set(columns) == {r[1] for r in con.execute(f"pragma table_info({table})")}
        total = con.execute("select sum(total_amount) from invoices").fetchone()[0]
    _assert_money_is_decimal("raw_erp.invoices")
    _assert_money_is_decimal("raw_erp.sales_orders")
    landed = _sql("select sum(total_amount) from raw_erp.invoices")[0][0]
    assert landed == Decimal(str(total)).quantize(Decimal("0.01"))
    assert sum(second.rows_loaded.values()) <= len(ERP_KEYS) * 5  # only the re-read boundary rows


def _source_transactions(root: Path) -> set[str]:
    """Transaction ids in the sandbox bank's statements, whatever their format (CAMT.053, MT940,
    bank CSV), read with each format's own parser."""
    from connectors.finance.bank_csv import parse_bank_csv
    from connectors.finance.mt940 import parse_mt940

    ids = set()
    for path in (root / "finance" / "statements").iterdir():
        if path.suffix == ".xml":
            rows = parse_camt053_file(path)
        elif path.suffix == ".sta":
            rows = parse_mt940(path.read_bytes(), path.name)
        elif path.suffix == ".csv":
            rows = parse_bank_csv(path.read_bytes(), path.name)
        else:
            continue
        ids |= {r["transaction_id"] for r in rows}
    return ids


def test_finance_twice_lands_each_file_once_and_quarantines_bad_ones(env):
    root, _ = env
    expected = _source_transactions(root)
    statements = next(p.parent for p in (root / "finance").rglob("*.xml"))
    first = sorted(statements.glob("*.xml"))[0]
    shutil.copy(first, statements / "redelivered_copy.xml")  # same bytes, new name
    (statements / "broken.xml").write_text("<Document><BkToCstmrStmt><Stmt>")
    run_ingest("finance")
    second = run_ingest("finance")
    assert _assert_unique("raw_finance.bank_transactions", "transaction_id") == len(expected)
    assert "bank_transactions" not in second.rows_loaded  # every file already landed
    fx_rows = sum(1 for p in (root / "finance").glob("fx_rates*.csv") for _ in p.open()) - 1
    assert _assert_unique("raw_finance.fx_rates", "rate_date, currency, reporting_currency") == fx_rows
    quarantined = _sql("select file_name, reason from raw_finance.quarantined_files")
    assert [q[0] for q in quarantined] == ["broken.xml"] and "XML" in quarantined[0][1]
    _assert_money_is_decimal("raw_finance.bank_transactions")
    assert _sql("select data_type from information_schema.columns where table_schema='raw_finance' "
                "and table_name='fx_rates' and column_name='rate'") == [("DECIMAL(18,6)",)]


def test_marketing_twice_matches_the_csv_rows(env):
    root, _ = env
    files = sorted((root / "marketing" / "adspend").glob("*.csv"))
    expected = sum(len(p.read_text().strip().splitlines()) - 1 for p in files)
    run_ingest("marketing")
    run_ingest("marketing")
    assert _assert_unique("raw_marketing.ad_spend", "date, campaign_id") == expected
    _assert_money_is_decimal("raw_marketing.ad_spend")
    types = dict(_sql("select column_name, data_type from information_schema.columns "
                      "where table_schema='raw_marketing' and table_name='ad_spend'"))
    assert types["impressions"] == "BIGINT" and types["date"] == "DATE"


def test_marketing_quarantines_a_malformed_export_and_keeps_the_rest(env):
    root, _ = env
    folder = root / "marketing" / "adspend"
    good = sum(len(p.read_text().strip().splitlines()) - 1 for p in folder.glob("*.csv"))
    (folder / "adspend_2099-01.csv").write_text(
        "date,campaign_id,campaign_name,channel,impressions,clicks,spend,currency\n2099-01-01,701x,A,Email,1,1,abc,USD\n")
    result = run_ingest("marketing")
    assert result.rows_loaded.get("quarantined_files") == 1
    assert _sql("select count(*) from raw_marketing.ad_spend") == [(good,)]
    (reason,) = _sql("select reason from raw_marketing.quarantined_files")[0]
    assert "adspend_2099-01.csv line 2: spend='abc'" in reason


def test_salesforce_through_bulk_lands_the_same_records_as_rest(salesforce, monkeypatch):
    """Above the size threshold the connector reads through Bulk 2.0; the landed rows are the org's."""
    import connectors.salesforce.bulk as bulk

    root, real, _ = salesforce
    assert real, "needs the sandbox's FakeSalesforce (the stand-in fake has no Bulk API)"
    monkeypatch.setattr(bulk, "POLL_WAIT", 0.01)
    monkeypatch.setenv("LTC_SF_BULK_THRESHOLD", "1")
    result = run_ingest("salesforce", objects=["opportunity", "lead"])
    assert any("Bulk API 2.0" in note for note in result.notes), result.notes
    for obj, table in (("Opportunity", "opportunity"), ("Lead", "lead")):
        records = json.loads((root / "salesforce" / f"{obj}.json").read_text())
        landed = dict(_sql(f"select id, is_deleted from raw_salesforce.{table}"))
        assert landed == {r["Id"]: r["IsDeleted"] for r in records}, obj
    source_total = sum(Decimal(str(r["Amount"])) for r in json.loads((root / "salesforce" / "Opportunity.json").read_text())
                       if r["Amount"] is not None)
    assert _sql("select sum(amount) from raw_salesforce.opportunity")[0][0] == source_total
    _assert_money_is_decimal("raw_salesforce.opportunity")
