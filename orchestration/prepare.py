"""Prepare the dbt manifest that the Dagster definitions are built from.

`@dbt_assets` reads `dbt_project/target/manifest.json` at import time. `dagster dev` prepares it
itself, but the CLI, tests and CI must do it explicitly; this re-parses only when a dbt file is
newer than the manifest, because a parse costs about 4–5 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from reports.docs_site import DBT_OP_NAME, dbt_target_dir

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
_SKIP_DIRS = {"target", "logs", "dbt_packages"}
# Per-run dbt target folders kept: the latest runs' artifacts and logs, for whoever debugs them.
KEEP_RUN_TARGETS = 5


def _newest_source_mtime(project_dir: Path) -> float:
    # os.walk, pruned: target/ holds every run's compiled SQL (about 900 files a run), which a
    # plain rglob walked on each call, 0.45 s with a dozen runs there and growing.
    newest = 0.0
    for root, dirs, files in os.walk(project_dir):
        if Path(root) == project_dir:
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        for name in files:
            newest = max(newest, os.stat(os.path.join(root, name)).st_mtime)
    return newest


def prune_dbt_run_dirs(keep: int = KEEP_RUN_TARGETS, project_dir: Path = DBT_PROJECT_DIR) -> list[Path]:
    """Delete all but the newest `keep` per-run dbt target folders; return the deleted ones.

    dagster-dbt gives every run its own `target/<op>-<run>-<hash>/` (artifacts, compiled SQL and a
    16 MB debug log, 24 MB in all at scale 2000) and never deletes one."""
    runs = sorted((p for p in dbt_target_dir(project_dir).glob(f"{DBT_OP_NAME}-*") if p.is_dir()),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    for path in runs[keep:]:
        shutil.rmtree(path, ignore_errors=True)
    return runs[keep:]


def keep_partial_parse(run_target: Path, project_dir: Path = DBT_PROJECT_DIR) -> bool:
    """Hand a run's `partial_parse.msgpack` back to `<project>/target/`; True when it did.

    dagster-dbt copies `target/partial_parse.msgpack` into each run's own target folder, and dbt
    reuses it only when the vars, the profile's connection values and the project's env vars are
    those it was parsed with. `make dbt-parse` cannot know a run's warehouse path or as-of date, so
    every run parsed the whole project again ("Unable to do partial parsing because profile has
    changed"): 5 s of a 63 s demo run on a 2-core machine. The file a run leaves is valid for the
    next run of the same LTC_HOME and as-of. It is replaced atomically, so a concurrent run reads
    the old file or the new one; dbt checks every file's hash, so an older one is only slower."""
    source = run_target / "partial_parse.msgpack"
    target = dbt_target_dir(project_dir)
    if not source.is_file() or not target.is_dir():
        return False
    staging = target / f".partial_parse.{os.getpid()}.tmp"
    shutil.copyfile(source, staging)
    os.replace(staging, target / "partial_parse.msgpack")
    return True


# dbt's commands in this environment (the project's venv), preferred first: `ltc-dbt` is dbt with the
# collector tuned (orchestration/dbt_process.py), `dbt` itself.
VENV_DBT_COMMANDS = ("ltc-dbt", "dbt")


def is_venv_dbt(executable: str | Path) -> bool:
    """Whether `executable` is one of this environment's dbt commands (the installed dbt-core)."""
    path = Path(executable)
    return path.parent == Path(sys.executable).parent and path.name in VENV_DBT_COMMANDS


def dbt_executable() -> str:
    """The dbt command the pipeline runs: the first of `VENV_DBT_COMMANDS` next to this
    interpreter, else the `dbt` on PATH."""
    here = Path(sys.executable).parent
    for name in VENV_DBT_COMMANDS:
        if (here / name).exists():
            return str(here / name)
    return "dbt"


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
