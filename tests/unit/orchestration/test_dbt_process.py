"""`ltc-dbt` (orchestration/dbt_process.py) is dbt's command line with full garbage collections off
(connectors/collector.py): the pipeline runs it, and it answers as dbt does."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from connectors.collector import FULL_COLLECTION_AFTER
from orchestration.prepare import dbt_executable

DBT = str(Path(sys.executable).parent / "dbt")


def _run(executable: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([executable, *args], capture_output=True, text=True, timeout=120)


def test_the_pipeline_runs_ltc_dbt_from_this_environment():
    executable = Path(dbt_executable())
    assert executable == Path(sys.executable).parent / "ltc-dbt"
    assert executable.exists()


def test_ltc_dbt_is_dbts_command_line():
    ours, theirs = _run(dbt_executable(), "--help"), _run(DBT, "--help")
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout == theirs.stdout and ours.stdout.startswith("Usage: dbt ")


def test_ltc_dbt_exits_with_dbts_code_for_a_wrong_command():
    ours, theirs = _run(dbt_executable(), "no-such-command"), _run(DBT, "no-such-command")
    assert ours.returncode == theirs.returncode != 0


def test_ltc_dbts_process_makes_no_full_collections():
    # main() in a process of its own, on `--help`: dbt answers, then the thresholds are printed
    code = ("import gc, sys; from orchestration.dbt_process import main; sys.argv = ['ltc-dbt', '--help']\n"
            "try:\n    main()\nexcept SystemExit as done:\n    code = done.code\n"
            "print('THRESHOLDS', code, *gc.get_threshold())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("Usage: dbt ")
    assert out.stdout.splitlines()[-1] == f"THRESHOLDS 0 {gc.get_threshold()[0]} {gc.get_threshold()[1]} {FULL_COLLECTION_AFTER}"
