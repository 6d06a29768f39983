"""The `ltc` command line: commands work, and failures end in one actionable line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from connectors.settings import Settings
from orchestration.cli import main, sandbox_environment


def test_sandbox_generate_writes_the_company_and_its_ground_truth(ltc_home: Path, capsys):
    assert main(["sandbox", "generate", "--scale", "60", "--seed", "3"]) == 0
    truth = json.loads((ltc_home / "sandbox" / "ground_truth.json").read_text())
    assert truth["seed"] == 3 and truth["scale"] == 60
    assert (ltc_home / "sandbox" / "erp.sqlite").is_file()
    assert '"leads"' in capsys.readouterr().out


def test_running_without_a_sandbox_fails_with_one_line_that_says_what_to_do(ltc_home: Path, capsys):
    assert main(["sandbox", "serve"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("ltc: error:") and "ltc sandbox generate" in err[0]


def test_ingest_without_configuration_names_the_missing_variable(ltc_home: Path, capsys):
    assert main(["ingest", "erp"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "LTC_ERP_URL" in err[0]


def test_sandbox_environment_points_every_connector_at_the_sandbox(tmp_path: Path):
    env = sandbox_environment(tmp_path, "http://127.0.0.1:1234", "tok", "2025-12-31")
    assert env["LTC_ERP_URL"] == f"sqlite:///{tmp_path / 'erp.sqlite'}"
    assert env["SALESFORCE_INSTANCE_URL"].startswith("http://127.0.0.1")
    assert set(env) >= {"LTC_FINANCE_DROP", "LTC_ADSPEND_DROP", "LTC_AS_OF", "SALESFORCE_ACCESS_TOKEN"}


def test_dbt_build_args_pass_the_as_of_date_only_when_fixed(ltc_home: Path, monkeypatch):
    from orchestration.defs.transform.dbt import dbt_build_args

    monkeypatch.delenv("DBT_LOG_LEVEL_FILE", raising=False)
    assert dbt_build_args(Settings.from_env()) == ["build", "--exclude-resource-type", "unit_test",
                                                   "--log-level-file", "info"]
    monkeypatch.setenv("LTC_AS_OF", "2025-06-30")
    settings = Settings.from_env()
    assert settings.as_of == dt.date(2025, 6, 30)
    assert dbt_build_args(settings) == ["build", "--exclude-resource-type", "unit_test",
                                        "--log-level-file", "info", "--vars", '{"as_of": "2025-06-30"}']


def test_dbt_file_log_level_is_info_unless_dbt_own_variable_says(ltc_home: Path, monkeypatch):
    """dbt.log at info by default (its debug level logs every statement: slower); DBT_LOG_LEVEL_FILE wins."""
    from orchestration.defs.transform.dbt import dbt_build_args

    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")
    assert "--log-level-file" not in dbt_build_args(Settings.from_env())


def test_settings_keep_secrets_out_of_their_repr(ltc_home: Path, monkeypatch):
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "FAKE-SECRET-123")
    settings = Settings.from_env()
    assert "FAKE-SECRET-123" not in repr(settings)
    assert "FAKE-SECRET-123" in settings.secrets()
