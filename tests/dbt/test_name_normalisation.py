"""The match-key macros on mixed scripts (issue 10, item 4), and the floor's copies of them.

Why: entity resolution and cash application compare keys, not names. A key that keeps only
[a-z0-9] erases a Chinese name (every Chinese company gets the same empty key), and one that does
not fold full-width forms splits 上海ＨＸ科技 from 上海HX科技 and misses ＩＮＶ－２０２５－０００１２３.
Each case below runs through the dbt macros as dbt renders them (one `dbt show --inline` on
DuckDB, and one on Postgres when its server is up) and through benchmarks/floor.sql's temp macros,
which must stay equal to dbt's. The Latin
cases pin the behaviour the existing entity-resolution and cash-application tests rely on.
"""

from __future__ import annotations

import json
import os
import re

import duckdb
import pytest

from conftest import REPO, run_dbt

pytestmark = pytest.mark.slow

# (macro, input, expected key)
COMPANY = [
    ("上海华信科技有限公司", "上海华信科技"),
    ("上海华信科技股份有限公司", "上海华信科技"),
    ("上海华信科技有限责任公司", "上海华信科技"),
    ("上海华信科技（集团）有限公司", "上海华信科技"),  # full-width brackets
    ("上海华信科技(集团)有限公司", "上海华信科技"),
    ("上海华信科技集团有限公司", "上海华信科技"),
    ("上海华信科技", "上海华信科技"),
    ("上海华信科技公司", "上海华信科技"),
    ("中国银行", "中国银行"),  # no legal form: unchanged
    ("上海ＨＸ科技有限公司", "上海hx科技"),  # full-width Latin
    ("上海HX科技有限公司", "上海hx科技"),
    ("北京３６０网络科技有限公司", "北京360网络科技"),  # full-width digits
    ("北京360网络科技有限公司", "北京360网络科技"),
    ("厦门东方贸易股份有限公司\u3000", "厦门东方贸易"),  # trailing ideographic space
    ("有限公司", "有限公司"),  # only legal words: kept, like "GmbH" alone
    ("华信科技 Huaxin Technology Co., Ltd.", "华信科技 huaxin technology"),  # mixed script
    ("SHANGHAI HUAXIN TECHNOLOGY CO., LTD.", "shanghai huaxin technology"),
    ("Ｓｕｍｍｉｔ　Ｌｏｇｉｓｔｉｃｓ　ＧｍｂＨ", "summit logistics"),
    # Latin names: today's keys, unchanged
    ("Summit Logistics GmbH & Co. KG", "summit logistics"),
    ("Apex Analytics B.V.", "apex analytics"),
    ("BLUE FREIGHT LTD", "blue freight"),
    ("O'Brien & Sons, Inc.", "obrien sons"),
    ("Müller Foods GmbH", "m ller foods"),
    ("GmbH", "gmbh"),
    ("   ", None),
    (None, None),
]
ACCOUNT = [
    ("6222 0212 3456 7890 123", "6222021234567890123"),
    ("６２２２０２１２３４５６７８９０１２３", "6222021234567890123"),  # full-width digits
    ("１２３４\u3000５６７８", "12345678"),  # ideographic space
    ("de89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    ("", None),
    (None, None),
]
INVOICE = [
    ("ＩＮＶ－２０２５－０００１２３", "INV-2025-123"),
    ("INV-２０２５－００１２３", "INV-2025-123"),  # only the digits full-width, a zero dropped
    ("INV-2025-000123", "INV-2025-123"),
    ("inv 2025 000123", "INV-2025-123"),
    ("Inv2025-0123", "INV-2025-123"),
    ("ｉｎｖ２０２５／１２３", "INV-2025-123"),
    (None, None),
]
MACROS = {"normalize_company_name": COMPANY, "normalize_account_identifier": ACCOUNT,
          "normalize_invoice_reference": INVOICE}
FLOOR_MACROS = {"normalize_company_name": "company_key", "normalize_account_identifier": "account_key",
                "normalize_invoice_reference": "invoice_key"}


def _literal(value: str | None) -> str:
    return "cast(null as varchar)" if value is None else "'" + value.replace("'", "''") + "'"


def _cases() -> list[tuple[str, int, str | None, str | None]]:
    return [(macro, i, value, expected) for macro, cases in MACROS.items()
            for i, (value, expected) in enumerate(cases)]


def _inline_sql() -> str:
    """One select over every case: each row applies its own macro (the others give null)."""
    rows = ",\n".join(f"('{macro}', {i}, {_literal(value)})" for macro, i, value, _ in _cases())
    keys = "\n".join(f"when '{macro}' then {{{{ {macro}('v') }}}}" for macro in MACROS)
    return (f"select macro, i, case macro {keys} end as key\n"
            f"from (values {rows}) as t(macro, i, v)")


def _postgres_up() -> bool:
    import socket

    try:
        socket.create_connection((os.environ.get("LTC_PG_HOST", "127.0.0.1"), 5432), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module", params=["duckdb", pytest.param("pg", marks=pytest.mark.postgres)])
def dbt_keys(request, tmp_path_factory) -> dict[tuple[str, int], str | None]:
    """Every case's key as dbt computes it on the target (pg: a select only, in database postgres)."""
    if request.param == "pg" and not _postgres_up():
        request.getfixturevalue("require_service")(False, "no Postgres on 127.0.0.1:5432")
    work = tmp_path_factory.mktemp(f"names_dbt_{request.param}")
    env = {"DBT_TARGET": "pg", "LTC_PG_DBNAME": "postgres"} if request.param == "pg" else None
    run = run_dbt(["show", "--inline", _inline_sql(), "--limit", "-1", "--output", "json", "--log-format", "text"],
                  work / "warehouse.duckdb", work, extra_env=env)
    assert run.returncode == 0, run.output[-4000:]
    shown = json.loads(re.search(r"^\{\s*\"show\".*?^\}", run.output, re.S | re.M).group(0))["show"]
    return {(row["macro"], int(row["i"])): row["key"] for row in shown}


@pytest.mark.parametrize(("macro", "i", "value", "expected"), _cases(),
                         ids=[f"{m}-{i}" for m, i, _v, _e in _cases()])
def test_dbt_macro_key(dbt_keys, macro, i, value, expected):
    assert dbt_keys[(macro, i)] == expected, f"{macro}({value!r})"


def _floor_macros() -> str:
    """The temp-macro section of benchmarks/floor.sql."""
    script = (REPO / "benchmarks" / "floor.sql").read_text(encoding="utf-8")
    start = script.index("-- ---- macros")
    return script[start:script.index("-- ---- seeds", start)]


def test_floor_macros_give_the_dbt_keys():
    """floor.sql mirrors the macros (tests/dbt/test_floor_equals_marts.py checks the marts at scale;
    this checks the keys on the mixed-script cases the sandbox may not contain)."""
    con = duckdb.connect()
    try:
        con.execute(_floor_macros())
        for macro, i, value, expected in _cases():
            got = con.execute(f"select {FLOOR_MACROS[macro]}({_literal(value)})").fetchone()[0]
            if macro == "normalize_invoice_reference" and value is None:
                continue  # the floor's invoice_key is only ever applied to non-null numbers
            assert got == expected, f"floor {FLOOR_MACROS[macro]}({value!r})"
    finally:
        con.close()


def test_region_cn_spellings_share_one_key():
    """Every spelling the --region cn generator plants for a company normalises to the key of its
    CRM name, except the English name, which is another script (the crosswalk's other rules match
    it); and every remittance form keeps an invoice reference the cash-application key recovers."""
    import random

    from connectors.sandbox import region_cn as cn

    rng = random.Random(3)
    legal = "上海HX科技(集团)有限公司"
    spellings = {cn.fullwidth(legal), cn.fullwidth(legal) + "\u3000", cn.short_name(legal), legal}
    con = duckdb.connect()
    try:
        con.execute(_floor_macros())
        keys = {s: con.execute("select company_key(?)", [s]).fetchone()[0] for s in spellings}
        assert set(keys.values()) == {"上海hx科技"}, keys
        assert con.execute("select company_key(?)", [cn.english_name(legal)]).fetchone()[0] == "shanghai hx technology group"
        for _ in range(40):
            text = cn.remittance(rng, "INV-2025-000123", {"payer_name": legal})
            got = con.execute(
                "select invoice_key(regexp_extract(upper(fold_width(?)), "
                "'INV[^A-Z0-9]{0,3}[0-9]{4}[^A-Z0-9]{0,3}[0-9]+', 0))", [text]).fetchone()[0]
            assert got == "INV-2025-123", text
    finally:
        con.close()
