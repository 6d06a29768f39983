"""LTC_REPORTING_CURRENCY from the environment (or a sandbox's ground truth) to dbt's --vars.

Why: the reporting currency reaches dbt's SQL as a quoted literal (macro reporting_currency()), so
it is checked on the way in; and a run must hand dbt the same currency the finance connector reads
FX rates into, or the marts stay in dbt_project.yml's USD (the gap issue 10 left). The end-to-end
proof on a CNY company is tests/e2e/test_cny_reporting.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.settings import Settings
from orchestration.cli import sandbox_environment


def _vars(args: list[str]) -> dict:
    return json.loads(args[args.index("--vars") + 1]) if "--vars" in args else {}


@pytest.mark.parametrize("value", ["RMB", "US", "USD'; drop table x; --", "ABC", "12€"])
def test_a_reporting_currency_that_is_not_iso_4217_stops_the_settings(ltc_home: Path, monkeypatch, value):
    monkeypatch.setenv("LTC_REPORTING_CURRENCY", value)
    with pytest.raises(ValueError, match="LTC_REPORTING_CURRENCY"):
        Settings.from_env()


def test_the_reporting_currency_is_normalised(ltc_home: Path, monkeypatch):
    monkeypatch.setenv("LTC_REPORTING_CURRENCY", " cny ")
    assert Settings.from_env().reporting_currency == "CNY"


def test_dbt_gets_the_reporting_currency_with_the_as_of_date(ltc_home: Path, monkeypatch):
    from orchestration.defs.transform.dbt import dbt_build_args, dbt_vars_args

    monkeypatch.setenv("LTC_REPORTING_CURRENCY", "CNY")
    assert _vars(dbt_build_args(Settings.from_env())) == {"reporting_currency": "CNY"}
    monkeypatch.setenv("LTC_AS_OF", "2025-06-30")
    settings = Settings.from_env()
    assert _vars(dbt_build_args(settings)) == {"as_of": "2025-06-30", "reporting_currency": "CNY"}
    assert dbt_vars_args(settings) == dbt_build_args(settings)[-2:]  # parse and build agree


def test_the_project_default_currency_passes_no_var(ltc_home: Path, monkeypatch):
    """USD is dbt_project.yml's own value: no --vars, so the run's partial parse stays the project's."""
    from orchestration.defs.transform.dbt import dbt_vars_args

    monkeypatch.setenv("LTC_REPORTING_CURRENCY", "USD")
    assert dbt_vars_args(Settings.from_env()) == []


def test_a_sandbox_run_reports_in_its_ground_truths_currency(tmp_path: Path):
    env = sandbox_environment(tmp_path, "http://127.0.0.1:1", "tok", "2025-12-31", "CNY")
    assert env["LTC_REPORTING_CURRENCY"] == "CNY"


def test_sandbox_reporting_currency_defaults_by_region_and_must_be_traded(tmp_path: Path):
    from connectors.sandbox.generator import generate

    cn = generate(tmp_path / "cn", seed=3, scale=60, region="cn")
    assert cn["reporting_currency"] == "CNY"
    header, first = (tmp_path / "cn" / "finance" / "fx_rates.csv").read_text().splitlines()[:2]
    assert first.split(",")[1:3] == ["USD", "CNY"]
    assert generate(tmp_path / "cn_usd", seed=3, scale=60, region="cn",
                    reporting_currency="USD")["reporting_currency"] == "USD"
    with pytest.raises(ValueError, match="JPY"):
        generate(tmp_path / "jpy", seed=3, scale=60, region="cn", reporting_currency="JPY")
