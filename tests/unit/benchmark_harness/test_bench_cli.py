"""`ltc bench`: the parser takes the scale benchmark's options and passes any other to the chosen
benchmark, the command runs that benchmark from the repository root and then regenerates
BENCHMARKS.md, and a failure says so in one line without touching BENCHMARKS.md. Nothing is
measured here: the subprocess calls are recorded, not run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orchestration import cli
from orchestration.cli import available_benchmarks, bench_command, build_parser, main, parse_args


def test_ltc_help_lists_bench(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    assert "bench" in capsys.readouterr().out


def test_the_scale_benchmark_is_the_default_with_its_own_defaults():
    args = parse_args(["bench"])
    assert args.benchmark == "scale" and args.markdown
    assert bench_command(args) == [sys.executable, "-m", "benchmarks.scale"]


def test_scales_repeat_and_warehouse_go_to_the_scale_benchmark():
    args = parse_args(["bench", "scale", "--scales", "10000", "100000", "--repeat", "1", "--warehouse", "postgres"])
    assert bench_command(args)[1:] == ["-m", "benchmarks.scale", "--scales", "10000", "100000",
                                       "--repeat", "1", "--warehouse", "postgres"]


def test_other_options_pass_through_to_the_benchmark_unabbreviated():
    # `--scale` is floor's own option, not an abbreviation of `--scales`
    args = parse_args(["bench", "floor", "--scale", "10000", "--repeat", "2"])
    assert args.scales is None
    assert bench_command(args)[1:] == ["-m", "benchmarks.floor", "--repeat", "2", "--scale", "10000"]


def test_an_unknown_option_is_still_an_error_outside_bench():
    with pytest.raises(SystemExit):
        parse_args(["report", "--scale", "3"])
    with pytest.raises(SystemExit):
        parse_args(["bench", "--warehouse", "oracle"])


def test_every_benchmark_module_is_offered_and_no_helper():
    names = available_benchmarks()
    assert {"scale", "orchestration", "erp"} <= set(names)
    assert not {"common", "markdown", "__init__"} & set(names)
    assert all((cli.BENCHMARKS_DIR / f"{name}.py").is_file() for name in names)


@pytest.fixture
def calls(monkeypatch):
    """Record the commands `ltc bench` would run; `returncodes` scripts their exit codes."""
    recorded: list[tuple[list[str], object]] = []
    returncodes: list[int] = []

    def fake_call(cmd, cwd=None, **_):
        recorded.append((cmd, cwd))
        return returncodes.pop(0) if returncodes else 0

    monkeypatch.setattr(subprocess, "call", fake_call)
    return recorded, returncodes


def test_bench_runs_the_benchmark_from_the_repo_root_then_the_markdown(calls):
    recorded, _ = calls
    assert main(["bench", "--scales", "100000", "--repeat", "1", "--warehouse", "postgres"]) == 0
    assert [cmd[1:] for cmd, _ in recorded] == [
        ["-m", "benchmarks.scale", "--scales", "100000", "--repeat", "1", "--warehouse", "postgres"],
        ["-m", "benchmarks.markdown"],
    ]
    assert all(cwd == cli.REPO_ROOT for _, cwd in recorded)
    assert (cli.REPO_ROOT / "benchmarks" / "scale.py").is_file()


def test_no_markdown_runs_the_benchmark_alone(calls):
    recorded, _ = calls
    assert main(["bench", "--no-markdown"]) == 0
    assert [cmd[1:] for cmd, _ in recorded] == [["-m", "benchmarks.scale"]]


def test_a_failed_benchmark_leaves_benchmarks_md_alone_and_says_so(calls, capsys):
    recorded, returncodes = calls
    returncodes.append(3)
    assert main(["bench", "--scales", "10000"]) == 1
    assert len(recorded) == 1  # no markdown after a failure
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "benchmarks.scale failed (exit 3)" in err[0]


def test_an_unknown_benchmark_runs_nothing(calls, capsys):
    recorded, _ = calls
    assert main(["bench", "nosuch"]) == 1
    assert recorded == []
    assert "no benchmark 'nosuch'" in capsys.readouterr().err
