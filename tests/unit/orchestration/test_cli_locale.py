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
    # a setting missing: a Chinese headline saying what failed and what to do, then the
    # connector's own detail as it was raised (orchestration/cli_errors.py)
    assert main(["ingest", "erp"]) == 1
    headline, detail = capsys.readouterr().err.strip().splitlines()
    assert headline == "ltc：错误：数据导入失败：请修正详情中指出的设置或数据源，然后重新运行"
    assert detail.startswith("  详情：LTC_ERP_URL is not set")


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


def test_every_error_kind_has_a_chinese_headline_and_keeps_its_detail():
    """Each error kind the CLI names (orchestration/cli_errors.HEADLINES) reads in Chinese, a
    subclass finds its base's headline, and an unknown error still says the command failed."""
    from connectors.erp.source import ErpSchemaError
    from connectors.warehouse_lock import WarehouseBusy
    from orchestration.cli_errors import HEADLINES, error_lines
    from reports.i18n import using

    with using("zh_CN"):
        busy = error_lines(WarehouseBusy("could not write to the warehouse x.duckdb"), "zh_CN")
        schema = error_lines(ErpSchemaError("entity 'orders' reads table so_header, which the source lacks"), "zh_CN")
        other = error_lines(KeyError("boom"), "zh_CN")
        headlines = [error_lines(type(name, (Exception,), {})("d"), "zh_CN")[0] for name, _ in HEADLINES]
    assert busy == ["ltc：错误：数据仓库正被另一个运行或程序占用：请等待其结束或将其关闭，然后重新运行",
                    "  详情：could not write to the warehouse x.duckdb"]
    assert schema[0] == "ltc：错误：ERP 映射与 ERP 数据库不符：请检查映射文件（LTC_ERP_MAPPING）"  # a subclass
    assert other == ["ltc：错误：命令执行失败", "  详情：'boom'"]
    for (name, english), line in zip(HEADLINES, headlines):
        assert english not in line and any("\u4e00" <= ch <= "\u9fff" for ch in line), (name, line)
