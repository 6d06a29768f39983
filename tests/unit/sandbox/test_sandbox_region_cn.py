"""`ltc sandbox generate --region cn`: a deterministic Chinese company whose systems spell names,
bank accounts and invoice numbers the way Chinese systems do (connectors/sandbox/region_cn.py).

Why: the entity-resolution and cash-application tests on it (tests/dbt/test_region_cn_sandbox.py)
only mean something if the messiness is really planted; these check that it is, cheaply."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from connectors.sandbox import generate

CJK = re.compile(r"[\u4e00-\u9fff]")
FULLWIDTH = re.compile(r"[\uff01-\uff5e]")


@pytest.fixture(scope="module")
def cn(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cn")
    generate(out, seed=11, scale=1200, region="cn")
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_files(cn, tmp_path):
    generate(tmp_path, seed=11, scale=1200, region="cn")
    assert _files(tmp_path) == _files(cn)


def test_chinese_names_and_cny(cn):
    accounts = json.loads((cn / "salesforce" / "Account.json").read_text(encoding="utf-8"))
    assert accounts and all(CJK.search(a["Name"]) for a in accounts)
    assert any(a["Name"].endswith("股份有限公司") for a in accounts)
    assert any("(集团)" in a["Name"] for a in accounts)
    assert sum(a["CurrencyIsoCode"] == "CNY" for a in accounts) > len(accounts) / 2
    leads = json.loads((cn / "salesforce" / "Lead.json").read_text(encoding="utf-8"))
    assert all(CJK.search(l["Name"]) and " " not in l["Name"] for l in leads if not l["IsDeleted"])
    assert any(a["BillingCity"].endswith("市") and "省" in a["BillingCity"] for a in accounts)
    assert (cn / "finance" / "statements" / "camt053_CNY_2025-06.xml").exists()
    assert "CNY" in (cn / "finance" / "fx_rates.csv").read_text()


def test_erp_and_bank_spell_names_differently(cn):
    con = sqlite3.connect(cn / "erp.sqlite")
    try:
        names = [n for (n,) in con.execute("select name from customers")]
        accounts = [a for (a,) in con.execute("select iban from customers")]
    finally:
        con.close()
    assert any(FULLWIDTH.search(n) for n in names), "some ERP names typed full-width"
    assert any(a and " " in a for a in accounts) and any(a and FULLWIDTH.search(a) for a in accounts)
    statements = "".join(p.read_text(encoding="utf-8") for p in (cn / "finance" / "statements").glob("*.xml"))
    payers = re.findall(r"<Nm>(.*?)</Nm>", statements)
    assert any(re.search(r"CO\., LTD\.$", p) for p in payers), "English bank names"
    assert any(CJK.search(p) and not p.endswith("公司") and not p.endswith("\u3000") for p in payers), \
        "short names without the legal form"
    remittances = re.findall(r"<Ustrd>(.*?)</Ustrd>", statements)
    assert any("发票号" in r for r in remittances)
    assert any(FULLWIDTH.search(r) and "２０２５" in r for r in remittances), "full-width invoice numbers"


def test_unknown_region_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown sandbox region"):
        generate(tmp_path, seed=1, scale=10, region="xx")
