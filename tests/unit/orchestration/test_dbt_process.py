"""`ltc-dbt` (orchestration/dbt_process.py) is dbt's command line with full garbage collections
off: the pipeline runs it, it answers as dbt does, and only the oldest generation's threshold moves."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.dbt_process import FULL_COLLECTION_AFTER, tune_collector
from orchestration.prepare import dbt_executable


@pytest.fixture
def thresholds_restored():
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


def test_full_collections_are_off_and_the_young_generations_keep_their_thresholds(thresholds_restored):
    young, middle, full = thresholds_restored
    assert full < FULL_COLLECTION_AFTER
    tune_collector()
    assert gc.get_threshold() == (young, middle, FULL_COLLECTION_AFTER)
    assert gc.isenabled()


def test_the_pipeline_runs_ltc_dbt_from_this_environment():
    executable = Path(dbt_executable())
    assert executable == Path(sys.executable).parent / "ltc-dbt"
    assert executable.exists()


def test_ltc_dbt_is_dbts_command_line():
    ours = subprocess.run([dbt_executable(), "--help"], capture_output=True, text=True, timeout=120)
    theirs = subprocess.run([str(Path(sys.executable).parent / "dbt"), "--help"], capture_output=True,
                            text=True, timeout=120)
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout == theirs.stdout and ours.stdout.startswith("Usage: dbt ")


def test_ltc_dbt_exits_with_dbts_code_for_a_wrong_command():
    ours = subprocess.run([dbt_executable(), "no-such-command"], capture_output=True, text=True, timeout=120)
    theirs = subprocess.run([str(Path(sys.executable).parent / "dbt"), "no-such-command"], capture_output=True,
                            text=True, timeout=120)
    assert ours.returncode == theirs.returncode != 0
