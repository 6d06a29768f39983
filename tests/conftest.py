"""Run-wide test fixtures: an isolated LTC_HOME per test, telemetry off, services policy.

A test that needs Postgres or Chromium may skip on a machine without them, but CI sets
`LTC_REQUIRE_SERVICES=1` and then the same test fails instead, so a missing service can never
hide work.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from connectors.settings import apply_offline_defaults

apply_offline_defaults()
# shared test data modules (tests/ has no packages, so test modules cannot import each other)
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"


def _require_service(available: bool, reason: str) -> None:
    if available:
        return
    if os.environ.get("LTC_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing (LTC_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(reason)


@pytest.fixture
def require_service():
    """`require_service(available, reason)`: skip when a service is missing, or fail when the
    run requires every service (CI). The one place that policy lives."""
    return _require_service


@pytest.fixture
def ltc_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh LTC_HOME for one test, with every source variable cleared."""
    home = tmp_path / "ltc_home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith(("LTC_", "SALESFORCE_")) and name != "LTC_REQUIRE_SERVICES":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LTC_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return home


@pytest.fixture(scope="session")
def built_company(tmp_path_factory: pytest.TempPathFactory):
    """The sandbox company (seed 7, 400 leads) landed and built into real marts, once per session
    (tests/support/sandbox_company.py). Read it read-only: other tests share the file."""
    from sandbox_company import build_company

    return build_company(tmp_path_factory.mktemp("built_company"))
