"""What the platform exposes: the Dagster UI, SQL built from configuration, personal data.

Why this test exists (issue 9 item 7; reliability-and-performance.md §8, checklist rows 17, 18):

* **The UI.** Dagster's open-source UI has no authentication: whoever reaches its port can launch
  runs and read every event. `ltc dev` must bind it to 127.0.0.1 and the README must say how to
  put it behind an authenticating proxy. The test takes the command line `ltc dev` really builds
  (its `subprocess.call` intercepted), then starts that command and reads the kernel's socket
  table: the UI listens on loopback and nowhere else.
* **Configuration as SQL.** An ERP mapping file names source schemas, tables and columns, which
  become SQL identifiers; `LTC_SF_OBJECTS` names Salesforce objects (SOQL and table names);
  `LTC_AS_OF` reaches dbt's SQL as a literal. A hostile value (`invoices; DROP TABLE x`,
  `"a" OR 1=1`, quotes, semicolons, whitespace) must be refused before any SQL runs, with an
  error naming the file (or variable) and the key.
* **Personal data.** A failing expectation on an email column must put no email into the
  validation summary, the Dagster check metadata or the Data Docs (GX's COMPLETE/SUMMARY formats
  would); the report-ready marts carry no column tagged `meta: {pii: true}` in dbt; and no lead's
  or contact's email or name appears in any report of an edition built from the sandbox company.
"""

from __future__ import annotations

import html
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from secret_scan import decoded_views, file_leaks, hits

from connectors.marts_file import connect_warehouse
from connectors.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"

HOSTILE = [
    "invoices; DROP TABLE x",
    '"a" OR 1=1',
    "x' --",
    "due date",
    "a\tb",
    "erp.invoices",
    "1invoices",
    "",
]


# ---- the Dagster UI ----------------------------------------------------------------------------


def _dev_command(ltc_home: Path, monkeypatch) -> list[str]:
    """The `dagster dev` command line `ltc dev --port <p>` runs, with its environment applied."""
    from connectors.sandbox import generate
    from orchestration.cli import main

    generate(Settings.from_env().sandbox_dir, seed=3, scale=30)  # so `ltc dev` generates nothing big
    monkeypatch.setenv("PATH", os.environ["PATH"])  # `ltc dev` prepends the venv: undone after the test
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, *a, **k: calls.append(list(cmd)) or 0)
    assert main(["dev", "--port", str(_free_port())]) == 0
    assert len(calls) == 1, calls
    return calls[0]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _option(cmd: list[str], *names: str) -> str | None:
    for i, arg in enumerate(cmd):
        if arg in names and i + 1 < len(cmd):
            return cmd[i + 1]
        for name in names:
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _listening(port: int) -> set[str]:
    """The local addresses with a socket listening on `port` (the kernel's tables, IPv4 and IPv6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(_address(address, width))
    return found


def _address(hexed: str, width: int) -> str:
    import ipaddress

    raw = bytes.fromhex(hexed)
    # /proc prints each 32-bit word in host (little-endian) order
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words if width == 32 else words[:4]))


def test_ltc_dev_serves_the_ui_on_loopback_only(ltc_home, monkeypatch):
    cmd = _dev_command(ltc_home, monkeypatch)
    assert Path(cmd[0]).name == "dagster" and cmd[1] == "dev", cmd
    assert _option(cmd, "-h", "--host") == "127.0.0.1", f"`ltc dev` does not bind loopback: {cmd}"
    assert not any("0.0.0.0" in arg or arg == "::" for arg in cmd), cmd

    # start exactly that command and ask the kernel where it listens
    port = int(_option(cmd, "-p", "--port"))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 150
        while not _listening(port) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        addresses = _listening(port)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the process group of the command started above
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert addresses, f"the Dagster UI never listened on port {port}"
    assert addresses == {"127.0.0.1"}, f"the Dagster UI listens on {addresses}"


def test_readme_explains_the_authenticating_proxy():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The Dagster UI"):]
    section = section[:section.index("\n## ", 4)]
    for needle in ("127.0.0.1", "oauth2-proxy", "forward-auth", "--read-only", "no authentication"):
        assert needle in section, f"the README's Dagster UI section does not mention {needle!r}"


# ---- configuration used as SQL -----------------------------------------------------------------


def _mapping_with(tmp_path: Path, key: str, value: str) -> Path:
    """The sandbox mapping with one entry replaced: `schema`, `table` or `column` (of invoices)."""
    from connectors.erp.mapping import DEFAULT_MAPPING

    doc = yaml.safe_load(DEFAULT_MAPPING.read_text())
    if key == "schema":
        doc["schema"] = value
    elif key == "table":
        doc["entities"]["invoices"]["table"] = value
    else:
        doc["entities"]["invoices"]["columns"]["due_date"] = value
    path = tmp_path / f"hostile_{key}.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


KEYS = {"schema": "schema", "table": "entities.invoices.table", "column": "entities.invoices.columns.due_date"}


@pytest.mark.parametrize("key", sorted(KEYS))
@pytest.mark.parametrize("value", HOSTILE)
def test_an_erp_mapping_with_a_hostile_identifier_is_refused(tmp_path, key, value):
    from connectors.erp.mapping import ErpMappingError, load_mapping

    path = _mapping_with(tmp_path, key, value)
    with pytest.raises(ErpMappingError) as refused:
        load_mapping(path)
    message = str(refused.value)
    if key == "table" and not value:  # an empty table is a missing one, refused as such
        assert str(path) in message and "'invoices' needs `table:`" in message, message
        return
    assert str(path) in message and KEYS[key] in message and repr(value) in message, message


def test_the_shipped_mappings_are_plain_identifiers():
    from connectors.erp.mapping import DEFAULT_MAPPING, load_mapping

    for path in sorted(DEFAULT_MAPPING.parent.glob("*.yml")):
        load_mapping(path)  # raises on any name that is not a plain identifier


def test_the_erp_ingest_refuses_a_hostile_mapping_before_touching_anything(ltc_home, monkeypatch, tmp_path):
    from connectors.ingest import run_ingest
    from connectors.sandbox import generate

    sandbox = ltc_home / "sandbox"
    generate(sandbox, seed=3, scale=30)
    erp = sandbox / "erp.sqlite"
    before = erp.read_bytes()
    monkeypatch.setenv("LTC_ERP_URL", f"sqlite:///{erp}")
    monkeypatch.setenv("LTC_ERP_MAPPING", str(_mapping_with(tmp_path, "table", "invoices; DROP TABLE customers")))
    with pytest.raises(Exception) as refused:
        run_ingest("erp")
    assert "hostile_table.yml" in str(refused.value) and "entities.invoices.table" in str(refused.value)
    assert erp.read_bytes() == before, "the source database was changed"
    warehouse = Settings.from_env().duckdb_path
    if warehouse.exists():
        with connect_warehouse(warehouse, read_only=True) as con:
            landed = con.execute("select count(*) from information_schema.tables where table_schema = 'raw_erp' "
                                 "and table_name not like '\\_dlt%' escape '\\'").fetchone()[0]
        assert landed == 0, "ERP tables landed under a refused mapping"


@pytest.mark.parametrize("value", [v for v in HOSTILE if v])
def test_hostile_salesforce_object_names_are_refused(ltc_home, monkeypatch, value):
    from connectors.salesforce.errors import SalesforceConfigError
    from connectors.salesforce.objects import configured_objects

    monkeypatch.setenv("LTC_SF_OBJECTS", f"Lead,{value.replace(',', ' ')}")
    with pytest.raises(SalesforceConfigError) as refused:
        configured_objects(Settings.from_env())
    assert "LTC_SF_OBJECTS" in str(refused.value)


@pytest.mark.parametrize("value", ["2025-12-31'; drop table marts.fct_invoices; --", "2025-12-31 or 1=1", "today"])
def test_a_hostile_as_of_date_is_refused(ltc_home, monkeypatch, value):
    """LTC_AS_OF reaches dbt as `--vars` and its SQL as `cast('<as_of>' as date)`."""
    monkeypatch.setenv("LTC_AS_OF", value)
    with pytest.raises(ValueError, match="LTC_AS_OF"):
        Settings.from_env()


# ---- personal data -----------------------------------------------------------------------------

PEOPLE = [  # distinctive values: found anywhere only if they leaked
    ("00Q000000000001AAA", "zelda.quixote-7731@leak-probe.example", "+49 30 77317731", "Zelda", "Quixotewright"),
    ("00Q000000000002AAA", "Yannick.Oddbody-4242@LEAK-PROBE.example", "+1 415 424 2424", "Yannick", "Oddbodyson"),
    ("00Q000000000003AAA", "not-an-email-8813", "", "Xavera", "Plumtreeling"),
    ("00Q000000000004AAA", "zelda.quixote-7731@leak-probe.example", "+49 30 77317731", "Zelda", "Quixotewright"),
]


def _pii_values() -> dict[str, str]:
    values = {}
    for _, email, phone, first, last in PEOPLE:
        values.update({f"email {email}": email, f"name {first} {last}": f"{first} {last}", f"last name {last}": last})
        if phone:
            values[f"phone {phone}"] = phone
    return values


def _leads_table(path: Path) -> None:
    with connect_warehouse(path, read_only=False) as con:
        con.execute("create schema raw_salesforce")
        con.execute("create table raw_salesforce.lead (id varchar, email varchar, phone varchar, "
                    "first_name varchar, last_name varchar, name varchar)")
        con.executemany("insert into raw_salesforce.lead values (?, ?, ?, ?, ?, ?)",
                        [(i, e, p or None, f, last, f"{f} {last}") for i, e, p, f, last in PEOPLE])


def _pii_suite():
    """Expectations a real suite could hold on personal columns, each failing on the rows above."""
    from expectations.suites._common import SuiteBuilder

    b = SuiteBuilder("salesforce", "lead", "id")
    b.regex("email", r"^[a-z0-9.]+@[a-z0-9.-]+\.[a-z]+$")  # rows 2 (upper case) and 3 fail
    b.unique(["email"])  # rows 1 and 4 share an email
    b.not_null("phone")  # row 3
    b.in_set("last_name", ["Smith"])  # every row
    return b.build()


@pytest.mark.parametrize("engine", ["sql", "pandas"])
def test_a_failing_expectation_on_personal_columns_leaks_no_value(tmp_path, engine):
    """Summary, Dagster check metadata and Data Docs of a failing suite on email/phone/name hold
    counts and record ids, never a value."""
    import dagster as dg
    from dagster._serdes import serialize_value

    from expectations.data_docs import SuiteOutcome, build_data_docs
    from expectations.runner import validate_table
    from orchestration.defs.quality.checks import check_result

    warehouse = tmp_path / "w.duckdb"
    _leads_table(warehouse)
    suite = _pii_suite()
    summary = validate_table(warehouse, "raw_salesforce.lead", suite, engine=engine)
    assert not summary.success and len(summary.failed) >= 4, summary  # the expectations really failed
    assert any(n > 0 for n in summary.unexpected_counts.values()), summary

    result = check_result(dg.AssetKey(["raw", "salesforce", "lead"]), summary)
    site = build_data_docs([SuiteOutcome(suite, "raw_salesforce.lead", summary)], tmp_path / "data_docs")
    assert site.is_file()
    pii = _pii_values()
    leaks = hits(pii, repr(summary), "the validation summary")
    leaks += hits(pii, repr(result), "the Dagster asset check result")
    leaks += hits(pii, serialize_value(dict(result.metadata)), "the Dagster asset check metadata, as stored")
    leaks += file_leaks(pii, tmp_path / "data_docs", label="data_docs")
    assert not leaks, "personal data leaked:\n" + "\n".join(sorted(set(leaks)))
    assert any(PEOPLE[2][0] in str(keys) for keys in summary.failing_keys.values()), \
        "the failing rows are not identified by their record id"


def _pii_columns() -> dict[str, set[str]]:
    """Model or source table name → its columns tagged `meta: {pii: true}` in the dbt yml."""
    tagged: dict[str, set[str]] = {}
    for path in (DBT_PROJECT / "models").rglob("*.yml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        tables = list(doc.get("models") or [])
        for source in doc.get("sources") or []:
            tables += [{**t, "name": f"{source['name']}.{t['name']}"} for t in source.get("tables") or []]
        for table in tables:
            for column in table.get("columns") or []:
                meta = {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}
                if meta.get("pii"):
                    tagged.setdefault(table["name"], set()).add(column["name"])
    return tagged


def test_personal_columns_of_leads_and_contacts_are_tagged():
    tagged = _pii_columns()
    for table in ("raw_salesforce.lead", "raw_salesforce.contact", "stg_salesforce__leads", "stg_salesforce__contacts"):
        assert {"email", "first_name", "last_name"} <= tagged.get(table, set()), (table, tagged.get(table))


def test_report_ready_marts_expose_no_personal_column(built_company):
    names = set().union(*_pii_columns().values())
    with connect_warehouse(built_company.warehouse, read_only=True) as con:
        rows = con.execute("select table_name, column_name from information_schema.columns "
                           "where table_schema = 'marts' and table_name like 'rpt\\_%' escape '\\'").fetchall()
    assert {t for t, _ in rows}, "no report-ready marts in the warehouse"
    exposed = sorted(f"marts.{t}.{c}" for t, c in rows if c in names)
    assert not exposed, f"report-ready marts expose columns tagged pii: {exposed}"


@pytest.fixture(scope="module")
def edition(built_company, tmp_path_factory):
    from reports.edition import build_edition

    out = tmp_path_factory.mktemp("edition")
    build_edition(built_company.warehouse, out, pdf=False)
    return out


def _people(warehouse: Path) -> dict[str, str]:
    """Every email and full name of a lead or contact, from the raw columns tagged pii (names that
    are also a user's name are left out: owners are shown by design)."""
    tagged = _pii_columns()
    values: dict[str, str] = {}
    with connect_warehouse(warehouse, read_only=True) as con:
        users = {n for (n,) in con.execute("select name from raw_salesforce.user").fetchall()}
        for table in ("raw_salesforce.lead", "raw_salesforce.contact"):
            for column in sorted(tagged[table] & {"email", "name"}):
                for (value,) in con.execute(f"select distinct {column} from {table} where {column} is not null").fetchall():
                    if value not in users and len(value) >= 6:
                        values[f"{table}.{column} {value}"] = value
    assert len(values) > 100, "found no personal data to look for"
    return values


def _report_leaks(people: dict[str, str], folder: Path) -> list[str]:
    """Personal values in the edition's pages and workbook (its sheets' XML, unzipped)."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".html", ".xlsx"))
    assert any(p.name.startswith("ltc_report_") for p in files), [p.name for p in files]
    leaks = []
    for path in files:
        for where, data in decoded_views(path.name, path.read_bytes()):
            text = data.decode("utf-8", "replace")
            leaks += [f"{kind} in {where}" for kind, value in people.items()
                      if value in text or html.escape(value) in text]
    return leaks


def test_no_lead_or_contact_personal_data_in_any_report(built_company, edition):
    leaks = _report_leaks(_people(built_company.warehouse), edition)
    assert not leaks, f"{len(leaks)} personal values in the reports, e.g.:\n" + "\n".join(sorted(leaks)[:20])


def test_the_personal_data_scan_can_fail(built_company, edition, tmp_path):
    """The scan above finds a lead's name when the executive report does show one."""
    people = _people(built_company.warehouse)
    name = next(v for k, v in people.items() if k.startswith("raw_salesforce.lead.name "))
    copy = tmp_path / "edition"
    shutil.copytree(edition, copy)
    page = next(copy.glob("ltc_report_*.html"))
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", f"<p>{html.escape(name)}</p></body>"),
                    encoding="utf-8")
    assert [leak for leak in _report_leaks(people, copy) if name in leak]

