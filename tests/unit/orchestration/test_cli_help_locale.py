"""`ltc --help` speaks the chosen language: the parser's help texts are gettext messages, and the
locale (`--locale`, else LTC_LOCALE) is known before the parser is built (orchestration/cli.py).
argparse's own words ("usage:", "options:") come from Python's catalogue and stay English."""

from __future__ import annotations

import pytest

from orchestration.cli import main


def _help(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_help_in_chinese_with_the_locale_option(capsys, monkeypatch):
    monkeypatch.delenv("LTC_LOCALE", raising=False)
    out = _help(capsys, ["--locale", "zh_CN", "sandbox", "generate", "--help"])
    assert "线索数量" in out and "公司的报告币种" in out
    assert "number of leads" not in out and "reporting currency" not in out


def test_help_in_chinese_from_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("LTC_LOCALE", "zh_CN")
    out = _help(capsys, ["--help"])
    assert "生成沙箱公司并完整运行一次" in out
    assert "generate the sandbox company" not in out


def test_help_stays_english_by_default_and_for_an_unknown_locale(capsys, monkeypatch):
    monkeypatch.delenv("LTC_LOCALE", raising=False)
    assert "generate the sandbox company and run everything once" in _help(capsys, ["--help"])
    assert "number of leads" in _help(capsys, ["--locale", "xx", "demo", "--help"])
