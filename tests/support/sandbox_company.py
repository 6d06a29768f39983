"""A sandbox company landed and built into real marts once, for the tests that read marts.

The report tests check every figure against a mart query and the generator's ground truth, so
they need real marts, not a hand-made fixture: generate (seed 7, 400 leads) → the real connectors
against the sandbox's local sources → one `dbt build`, without Dagster (the e2e tests cover the
job). About 30 s on a 2-core machine; tests/conftest.py builds it once per session
(`built_company`). Readers open the warehouse read-only and must not write to it.

`LTC_TEST_COMPANY_CACHE=<dir>` (a developer's loop, never CI) reuses a company built before with
the same seed, scale and dbt project files: the key hashes every file under dbt_project/ that dbt
reads, so changing a model rebuilds.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from connectors.marts_file import copy_warehouse

SEED, SCALE = 7, 400


@dataclass(frozen=True)
class BuiltCompany:
    home: Path
    warehouse: Path
    truth: dict

    @property
    def as_of(self) -> str:
        return self.truth["as_of"]


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    cleared = [n for n in os.environ
               if n.startswith(("LTC_", "SALESFORCE_", "DBT_")) and n != "LTC_REQUIRE_SERVICES"]
    saved = dict(os.environ)
    for name in cleared:
        os.environ.pop(name)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _cache_key(seed: int, scale: int, story: str = "default", region: str = "default") -> str:
    from orchestration.defs.transform.dbt import DBT_PROJECT_DIR

    digest = hashlib.sha256(f"{seed}/{scale}".encode() + (b"" if story == "default" else f"/{story}".encode())
                            + (b"" if region == "default" else f"/region={region}".encode()))
    for folder in ("models", "seeds", "macros", "data-tests", "snapshots"):
        for path in sorted((DBT_PROJECT_DIR / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode() + path.read_bytes())
    for name in ("dbt_project.yml", "profiles.yml"):  # the profile decides where the marts live
        digest.update((DBT_PROJECT_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def build_company(root: Path, *, seed: int = SEED, scale: int = SCALE, story: str = "default",
                  region: str = "default") -> BuiltCompany:
    """Generate, land and build the sandbox company under `root`; raise if any step fails.
    `story`: the generator's story (connectors/sandbox/story.py); `region`: its world ('cn':
    Chinese names, reporting in CNY, the ground truth's `reporting_currency`)."""
    cache = os.environ.get("LTC_TEST_COMPANY_CACHE")
    if not cache:
        return _build(root, seed=seed, scale=scale, story=story, region=region)
    entry = Path(cache) / _cache_key(seed, scale, story, region)
    entry.mkdir(parents=True, exist_ok=True)
    with open(entry / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel sessions: one builds, the others wait
        if not (entry / "truth.json").exists():
            shutil.rmtree(entry / "build", ignore_errors=True)
            built = _build(entry / "build", seed=seed, scale=scale, story=story, region=region)
            copy_warehouse(built.warehouse, entry / "warehouse.duckdb")
            (entry / "truth.json").write_text(json.dumps(built.truth, default=str))
    home = root / "ltc_home"
    home.mkdir(parents=True, exist_ok=True)
    copy_warehouse(entry / "warehouse.duckdb", home / "warehouse.duckdb")
    return BuiltCompany(home=home, warehouse=home / "warehouse.duckdb",
                        truth=json.loads((entry / "truth.json").read_text()))


def _build(root: Path, *, seed: int, scale: int, story: str = "default", region: str = "default") -> BuiltCompany:
    from connectors.ingest import run_ingest
    from connectors.sandbox import generate
    from connectors.settings import SYSTEMS, Settings
    from orchestration.cli import serving_sandbox
    from orchestration.defs.transform.dbt import DBT_PROJECT_DIR, dbt_build_args, dbt_target
    from orchestration.prepare import dbt_executable, prepare_dbt_manifest

    home = root / "ltc_home"
    with _environment(LTC_HOME=str(home), LTC_FINANCE_SETTLE_S="0"):
        settings = Settings.from_env()
        truth = generate(settings.sandbox_dir, seed=seed, scale=scale, story=story, region=region)
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        with serving_sandbox(settings):
            settings = Settings.from_env()  # now with the sandbox's sources, as-of date and currency
            settings.export_paths()
            for system in SYSTEMS:
                run_ingest(system, settings)
            prepare_dbt_manifest()
            target = root / "dbt_target"
            cmd = [dbt_executable(), *dbt_build_args(settings), "--target", dbt_target(settings)]
            proc = subprocess.run(
                cmd, cwd=DBT_PROJECT_DIR, capture_output=True, text=True,
                env={**os.environ, "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
                     "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)})
            if proc.returncode != 0:
                failed = [line for line in proc.stdout.splitlines() if "ERROR" in line or "FAIL " in line]
                raise RuntimeError("dbt build of the sandbox company failed:\n" + "\n".join(failed[:40])
                                   + f"\n...\n{proc.stdout[-2000:]}")
            warehouse = settings.duckdb_path
    (root / "truth.json").write_text(json.dumps(truth, default=str))
    return BuiltCompany(home=home, warehouse=warehouse, truth=truth)
