"""The dbt manifest is re-parsed only when a dbt file changed (the per-run target folders do not
count, and they do not slow the check down), only the latest runs' target folders are kept, and a
run's partial-parse state is handed back to the project."""

from __future__ import annotations

import os
import time
from pathlib import Path

from orchestration.prepare import KEEP_RUN_TARGETS, keep_partial_parse, manifest_is_stale, prune_dbt_run_dirs
from reports.docs_site import DBT_OP_NAME


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "dbt_project"
    (project / "models").mkdir(parents=True)
    (project / "models" / "a.sql").write_text("select 1")
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text("{}")
    return project


def _age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def test_a_newer_model_makes_the_manifest_stale_and_run_folders_do_not(tmp_path, monkeypatch):
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    project = _project(tmp_path)
    _age(project / "models" / "a.sql", 60)
    assert not manifest_is_stale(project)

    run_dir = project / "target" / f"{DBT_OP_NAME}-abc1234-0000000" / "compiled"
    run_dir.mkdir(parents=True)
    (run_dir / "b.sql").write_text("select 2")  # newer than the manifest, but a build artefact
    (project / "logs").mkdir()
    (project / "logs" / "dbt.log").write_text("x")
    assert not manifest_is_stale(project)

    (project / "models" / "a.sql").write_text("select 3")
    _age(project / "target" / "manifest.json", 30)
    assert manifest_is_stale(project)


def test_only_the_latest_run_target_folders_are_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    project = _project(tmp_path)
    runs = []
    for i in range(KEEP_RUN_TARGETS + 3):
        run = project / "target" / f"{DBT_OP_NAME}-{i:07d}-0000000"
        (run / "compiled").mkdir(parents=True)
        _age(run, 1000 - i)  # run i is newer than run i-1
        runs.append(run)

    deleted = prune_dbt_run_dirs(project_dir=project)

    assert sorted(deleted) == runs[:3]
    assert [r.exists() for r in runs] == [False] * 3 + [True] * KEEP_RUN_TARGETS
    assert (project / "target" / "manifest.json").exists()  # the shared manifest stays


def test_a_runs_partial_parse_state_replaces_the_projects(tmp_path, monkeypatch):
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    project = _project(tmp_path)
    (project / "target" / "partial_parse.msgpack").write_bytes(b"parsed by make dbt-parse")
    run = project / "target" / f"{DBT_OP_NAME}-abc1234-0000000"
    run.mkdir()

    assert not keep_partial_parse(run, project)  # the run failed before dbt parsed: nothing to keep
    assert (project / "target" / "partial_parse.msgpack").read_bytes() == b"parsed by make dbt-parse"

    (run / "partial_parse.msgpack").write_bytes(b"parsed by the run")
    assert keep_partial_parse(run, project)
    assert (project / "target" / "partial_parse.msgpack").read_bytes() == b"parsed by the run"
    assert sorted(p.name for p in (project / "target").iterdir()) == [
        run.name, "manifest.json", "partial_parse.msgpack"]  # no staging file left behind
