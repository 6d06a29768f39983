"""The benchmarks' measured children run as the pipeline runs: with dbt's, dlt's and Great
Expectations' telemetry off (nothing at run time reaches the internet), unless the caller's own
environment says otherwise, as `connectors.settings.apply_offline_defaults` decides in the pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.common import child_env
from benchmarks.scale import _env
from connectors.settings import OFFLINE_DEFAULTS


@pytest.fixture
def no_telemetry_settings(monkeypatch):
    for name in OFFLINE_DEFAULTS:
        monkeypatch.delenv(name, raising=False)


def test_every_phase_child_has_the_pipelines_telemetry_opt_outs(no_telemetry_settings, tmp_path: Path):
    env = _env(tmp_path, tmp_path / "home", "2026-01-01")
    assert {name: env.get(name) for name in OFFLINE_DEFAULTS} == OFFLINE_DEFAULTS
    assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"


def test_the_callers_own_setting_wins_as_in_the_pipeline(no_telemetry_settings, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("DO_NOT_TRACK", "0")
    env = child_env(tmp_path)
    assert env["DO_NOT_TRACK"] == "0"
    assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"


def test_extra_settings_and_the_bytecode_cache_still_apply(no_telemetry_settings, tmp_path: Path):
    env = child_env(tmp_path, GX_ANALYTICS_ENABLED="true")
    assert env["GX_ANALYTICS_ENABLED"] == "true"
    assert env["PYTHONPYCACHEPREFIX"] == str(tmp_path / "pycache")
