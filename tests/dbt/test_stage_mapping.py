"""The LTC funnel is configuration: editing the seed `ltc_stage_mapping.csv` changes the stages.

A copy of the dbt project gets an edited seed (what a user does to change their funnel) and is
built on the same raw fixture as the shipped one; the stage facts must follow the CSV and nothing
else may change.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from conftest import DBT_PROJECT, query, run_dbt  # noqa: E402
from raw_fixture import AS_OF, build_raw_fixture

pytestmark = pytest.mark.slow

STAGES = "select stage_code, step_name, count(*) from marts.fct_ltc_stage_events group by 1, 2 order by 1, 2"
JOURNEY_STAGES = "select journey_id, stage_code from marts.fct_ltc_stage_events order by 1, 2"
UNCHANGED = ("select count(*), sum(total_amount_reporting) from marts.fct_invoices",
             "select count(*) from marts.fct_leads where is_converted")


def _project_with(tmp_path: Path, edit) -> Path:
    """A copy of the dbt project whose stage-mapping seed went through `edit(rows) -> rows`."""
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    seed = copy / "seeds" / "ltc_stage_mapping.csv"
    with seed.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    with seed.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(edit(rows))
    return copy


def _merge_assign_into_acquire(rows: list[dict]) -> list[dict]:
    """A five-stage funnel: nobody tracks 'assign' separately; the later stages keep their codes
    and the opportunity step is renamed 'pipeline'."""
    out = []
    for row in rows:
        row = dict(row)
        if row["stage_code"] == "S2":
            row.update(stage_code="S1", stage_order="1", step_name="acquire")
        if row["step_name"] == "opportunity":
            row["step_name"] = "pipeline"
        out.append(row)
    return out


def _build(tmp_path: Path, name: str, project: Path = DBT_PROJECT) -> Path:
    db = build_raw_fixture(tmp_path / f"{name}.duckdb")
    work = tmp_path / f"work_{name}"
    work.mkdir()
    run = run_dbt(["build"], db, work, as_of=AS_OF, project_dir=project)
    assert run.returncode == 0, run.output[-5000:]
    return db


def test_editing_the_stage_mapping_seed_changes_the_funnel_and_nothing_else(tmp_path: Path):
    shipped = _build(tmp_path, "shipped")
    edited = _build(tmp_path, "edited", _project_with(tmp_path, _merge_assign_into_acquire))

    before = query(shipped, STAGES)
    after = query(edited, STAGES)
    assert any(code == "S2" for code, _, _ in before), before  # the fixture reaches 'assign'
    assert not any(code == "S2" for code, _, _ in after), after
    assert {step for _, step, _ in after} >= {"pipeline"} and "opportunity" not in {s for _, s, _ in after}

    # every journey keeps every stage but S2; counts per stage code follow
    expected = [(j, code) for j, code in query(shipped, JOURNEY_STAGES) if code != "S2"]
    assert query(edited, JOURNEY_STAGES) == expected
    # money and lead facts do not depend on the funnel definition
    for sql in UNCHANGED:
        assert query(edited, sql) == query(shipped, sql), sql
