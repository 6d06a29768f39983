"""Prepare the dbt manifest that the Dagster definitions are built from.

`@dbt_assets` reads `dbt_project/target/manifest.json` at import time. `dagster dev` prepares it
itself, but the CLI, tests and CI must do it explicitly; this re-parses only when a dbt file is
newer than the manifest, because a parse costs about 4–5 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
_SKIP_DIRS = {"target", "logs", "dbt_packages"}


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for path in project_dir.rglob("*"):
        if path.is_file() and not _SKIP_DIRS.intersection(path.relative_to(project_dir).parts):
            newest = max(newest, path.stat().st_mtime)
    return newest


def dbt_executable() -> str:
    """The dbt next to this interpreter (the project's venv), else the one on PATH."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def manifest_is_stale(project_dir: Path = DBT_PROJECT_DIR) -> bool:
    manifest = project_dir / "target" / "manifest.json"
    return not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(project_dir)


def prepare_dbt_manifest(force: bool = False, project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """Run `dbt parse` when the manifest is missing or stale; return the manifest path."""
    manifest = project_dir / "target" / "manifest.json"
    if force or manifest_is_stale(project_dir):
        cmd = [dbt_executable(), "parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise RuntimeError(f"dbt parse failed; fix the dbt project and retry:\n{tail}")
    return manifest
