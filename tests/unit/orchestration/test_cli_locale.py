"""`ltc` speaks Chinese with `--locale zh_CN` or LTC_LOCALE=zh_CN: its summary and error lines
come from the report catalogue (reports/i18n.py). Argparse's --help stays English."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.cli import main


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(autouse=True)
def _restore_locale(monkeypatch: pytest.MonkeyPatch):
    """`--locale` exports LTC_LOCALE for the reports the command builds: set it through monkeypatch
    first, so the test's end restores it and no later test renders in Chinese."""
    monkeypatch.setenv("LTC_LOCALE", "en")


def test_locale_option_gives_chinese_error_lines(ltc_home: Path, capsys):
    assert main(["--locale", "zh_CN", "sandbox", "serve"]) == 1
    line = _error_line(capsys)
    assert line.startswith("ltc：错误：") and "沙箱公司" in line and "ltc sandbox generate" in line


def test_ltc_locale_variable_gives_chinese_summary_lines(ltc_home: Path, capsys, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LTC_LOCALE", "zh_CN")
    assert main(["sandbox", "generate", "--scale", "40", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "[ltc] 沙箱公司已写入" in out and "条线索" in out
    assert main(["ingest", "erp"]) == 1  # a setting missing: the error line is Chinese too
    assert _error_line(capsys).startswith("ltc：错误：")


def test_english_stays_the_default(ltc_home: Path, capsys):
    assert main(["sandbox", "serve"]) == 1
    assert _error_line(capsys).startswith("ltc: error:")


@pytest.mark.parametrize(("argv", "env", "source"), [
    (["--locale", "fr", "sandbox", "serve"], None, "--locale='fr'"),
    (["sandbox", "serve"], "klingon", "LTC_LOCALE='klingon'"),
])
def test_unknown_locale_is_refused_naming_the_allowed_values(ltc_home: Path, capsys, monkeypatch, argv, env, source):
    if env:
        monkeypatch.setenv("LTC_LOCALE", env)
    assert main(argv) == 2
    line = _error_line(capsys)
    assert source in line and "en, zh_CN" in line
