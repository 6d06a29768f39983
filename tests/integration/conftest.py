"""Fixtures shared by the integration tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sandbox_erp(tmp_path_factory) -> Path:
    """The sandbox company's ERP (SQLite, seed 11, 300 leads), generated once; copy it to change it."""
    from connectors.sandbox.generator import generate

    root = tmp_path_factory.mktemp("erp_sandbox")
    generate(root, seed=11, scale=300)
    return root / "erp.sqlite"


@pytest.fixture
def erp(sandbox_erp, ltc_home, monkeypatch, tmp_path) -> Path:
    """A copy of the sandbox ERP of this test's own, as LTC_ERP_URL, in a fresh LTC_HOME."""
    path = tmp_path / "erp.sqlite"
    shutil.copy(sandbox_erp, path)
    monkeypatch.setenv("LTC_ERP_URL", f"sqlite:///{path}")
    return path
