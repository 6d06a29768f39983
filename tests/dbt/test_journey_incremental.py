"""The key-scoped models rebuild only the changed keys, and equal a rebuild.

Issue 8: the journey-grain facts, the lead fact and the opportunity-history models are
incremental and key-scoped (dbt_project/macros/incremental.sql, changed_journeys.sql). On the landed sandbox (300 leads), one
lead given the email of an earlier one (a duplicate); a first build as of the sandbox's as-of date;
then, in the raw tables, stamped as a later load, a lead converted into an opportunity that had no
lead (its opportunity journey must vanish), an opportunity deleted, a user moved to another region
(every journey it owns changes region, though none of them landed again), an invoice deleted and
the earlier lead of the duplicate pair given another email (the duplicate, which did not land
again, is no longer one), an open opportunity moved to another stage on the new as-of date (a
new history row); then an incremental build a day later, and a --full-refresh build of a
copy. The facts must be equal (every column of every row), the incremental run must have been
scoped (its compiled SQL holds the change detection), and its state must record the new as-of date
and watermark. A third build after the state row of one model is dropped rebuilds that model
whole, still equal.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import dict_rows, run_dbt

from benchmarks.incremental import mart_hashes
from connectors.marts_file import MARTS_CATALOG, connect_warehouse, copy_warehouse

pytestmark = pytest.mark.slow

FACTS = ["fct_ltc_stage_events", "fct_lead_to_cash", "fct_leads", "fct_opportunity_stage_history"]
SELECT = ["--select", "+fct_lead_to_cash", "+fct_leads", "+fct_opportunity_stage_history",
          "+int_opportunity_versions_reconstructed", "--indirect-selection", "cautious"]
SCOPED_MARKER = "tombstones as ("  # the first CTE of the change detection: only a scoped run has it

# the key-scoped marts' state lives in the marts file (macros/incremental.sql, connectors/marts_file.py)
STATE = f"{MARTS_CATALOG}.main.ltc_incremental_state"


@dataclass
class Built:
    db: Path
    rebuilt: Path
    work: Path
    as_of: dt.date
    first_state: dict[str, dict]
    state: dict[str, dict]
    compiled: dict[str, str]
    changed: dict[str, str]


def _state(db: Path) -> dict[str, dict]:
    return {r["model_name"]: r for r in dict_rows(db, f"select * from {STATE}")}


def _compiled(work: Path) -> dict[str, str]:
    root = work / "target" / "compiled" / "ltc" / "models" / "marts"
    return {name: (root / f"{name}.sql").read_text() for name in FACTS}


def _change_sources(db: Path, as_of: dt.date) -> dict[str, str]:
    """Edit raw rows as a later load would land them (`_loaded_at` now); return what was changed."""
    con = connect_warehouse(db, read_only=False)
    try:
        opportunity = con.execute(
            "select opportunity_id from marts.fct_lead_to_cash where journey_type = 'opportunity' "
            "and not is_deleted order by opportunity_id limit 1").fetchone()[0]
        lead = con.execute(
            "select id from raw_salesforce.lead where not coalesce(is_converted, false) "
            "and not coalesce(is_deleted, false) order by id limit 1").fetchone()[0]
        deleted = con.execute(
            "select opportunity_id from marts.fct_lead_to_cash where journey_type = 'lead' "
            "and opportunity_id is not null and opportunity_id <> ? order by journey_id limit 1",
            [opportunity]).fetchone()[0]
        user = con.execute(
            "select owner_id from marts.fct_lead_to_cash group by owner_id order by count(*) desc limit 1").fetchone()[0]
        invoice = con.execute(
            "select invoice_id from marts.fct_invoices where not is_deleted order by invoice_id limit 1").fetchone()[0]
        con.execute("update raw_salesforce.lead set is_converted = true, converted_opportunity_id = ?, "
                    "status = 'Closed - Converted', _loaded_at = now() where id = ?", [opportunity, lead])
        con.execute("update raw_salesforce.opportunity set is_deleted = true, _loaded_at = now() where id = ?",
                    [deleted])
        con.execute("update raw_salesforce.user set department = 'Antarctica', _loaded_at = now() where id = ?",
                    [user])
        con.execute("update raw_erp.invoices set is_deleted = true, _loaded_at = now() where invoice_id = ?",
                    [invoice])
        first, duplicate = _duplicate_pair(con)
        con.execute("update raw_salesforce.lead set email = 'moved.' || email, _loaded_at = now() where id = ?",
                    [first])
        moved = _move_stage(con, as_of, exclude=(opportunity, deleted))
    finally:
        con.close()
    return {"opportunity": opportunity, "lead": lead, "deleted": deleted, "user": user, "invoice": invoice,
            "first": first, "duplicate": duplicate, "moved": moved}


def _move_stage(con, as_of: dt.date, exclude: tuple[str, ...]) -> str:
    """A new history row for an open opportunity: Negotiation/Review, created at noon on `as_of`."""
    history_id, opportunity = con.execute(
        "select max_by(h.id, h.created_date), h.opportunity_id from raw_salesforce.opportunity_history as h "
        "inner join marts.fct_opportunity_stage_history as s on s.opportunity_id = h.opportunity_id "
        "where s.is_current and s.stage_name not in ('Closed Won', 'Closed Lost', 'Negotiation/Review') "
        "and h.opportunity_id not in (?, ?) group by h.opportunity_id order by h.opportunity_id limit 1",
        list(exclude)).fetchone()
    created = dt.datetime.combine(as_of, dt.time(12), tzinfo=dt.timezone.utc)
    con.execute("insert into raw_salesforce.opportunity_history select * replace ("
                "'moved-' || id as id, 'Negotiation/Review' as stage_name, ? as created_date, "
                "? as last_modified_date, ? as system_modstamp, now() as _loaded_at, 'moved-' || _dlt_id as _dlt_id) "
                "from raw_salesforce.opportunity_history where id = ?", [created, created, created, history_id])
    return opportunity


def _duplicate_pair(con) -> tuple[str, str]:
    """The two leads the fixture gave one email before the first build: (earlier, duplicate)."""
    return tuple(r[0] for r in con.execute(
        "select id from raw_salesforce.lead where email = 'duplicate.pair@example.com' order by created_date, id"
    ).fetchall())


def _make_duplicate(db: Path) -> None:
    """Two non-deleted leads, created on different days, share one email before the first build."""
    con = connect_warehouse(db, read_only=False)
    try:
        first, later = con.execute(
            "select min_by(id, created_date), max_by(id, created_date) from raw_salesforce.lead "
            "where not coalesce(is_deleted, false) and email is not null").fetchone()
        con.execute("update raw_salesforce.lead set email = 'duplicate.pair@example.com' where id in (?, ?)",
                    [first, later])
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    from sandbox_pipeline import land_sandbox

    tmp = tmp_path_factory.mktemp("journey_incremental")
    with pytest.MonkeyPatch.context() as mp:
        db, truth = land_sandbox(tmp, seed=42, scale=int(os.environ.get("LTC_TEST_SCALE", "300")), monkeypatch=mp)
    _make_duplicate(db)
    work = tmp / "dbt_work"
    work.mkdir()
    run = run_dbt(["build", *SELECT], db, work, as_of=truth["as_of"])
    assert run.returncode == 0, run.output[-5000:]
    duplicates = dict_rows(db, "select lead_id from marts.fct_leads where is_duplicate")
    first_state = _state(db)

    as_of = dt.date.fromisoformat(truth["as_of"]) + dt.timedelta(days=1)
    changed = _change_sources(db, as_of)
    assert {"lead_id": changed["duplicate"]} in duplicates  # a duplicate before the change
    run = run_dbt(["build", *SELECT], db, work, as_of=as_of.isoformat())
    assert run.returncode == 0, run.output[-5000:]
    compiled = _compiled(work)

    rebuilt = tmp / "rebuilt.duckdb"
    copy_warehouse(db, rebuilt)
    rebuild_work = tmp / "rebuild_work"
    rebuild_work.mkdir()
    run = run_dbt(["build", *SELECT, "--full-refresh"], rebuilt, rebuild_work, as_of=as_of.isoformat())
    assert run.returncode == 0, run.output[-5000:]
    return Built(db, rebuilt, work, as_of, first_state, _state(db), compiled, changed)


def _max_loaded_at(db: Path) -> dt.datetime:
    """The latest landing among the Salesforce tables this test changes (UTC, naive)."""
    union = " union all ".join(f"select max(_loaded_at) as t from raw_salesforce.{t}"
                               for t in ("lead", "opportunity", "opportunity_history", '"user"'))
    rows = dict_rows(db, f"select cast(max(t) at time zone 'UTC' as timestamp) as t from ({union})")
    return rows[0]["t"]


def test_first_build_records_its_state(built: Built):
    assert set(built.first_state) == set(FACTS)
    for row in built.first_state.values():
        assert row["as_of_date"] == built.as_of - dt.timedelta(days=1)
        assert row["watermark"] < built.state[row["model_name"]]["watermark"]
        assert row["fingerprint"]


def test_incremental_run_was_scoped_and_moved_the_state(built: Built):
    for name in FACTS:
        assert SCOPED_MARKER in built.compiled[name], f"{name} was rebuilt whole, not scoped"
        assert built.state[name]["as_of_date"] == built.as_of
        assert built.state[name]["watermark"] == _max_loaded_at(built.db)


@pytest.mark.parametrize("fact", FACTS)
def test_incremental_equals_full_refresh(built: Built, fact: str):
    incremental, rebuilt = mart_hashes(built.db, [fact])[fact], mart_hashes(built.rebuilt, [fact])[fact]
    assert incremental["rows"] and incremental == rebuilt


def test_absorbed_journey_is_gone_and_the_changes_show(built: Built):
    c = built.changed
    journeys = {r["journey_id"]: r for r in dict_rows(built.db, "select * from marts.fct_lead_to_cash")}
    assert c["opportunity"] not in journeys  # now the lead's journey
    assert journeys[c["lead"]]["opportunity_id"] == c["opportunity"]
    events = dict_rows(built.db, f"select distinct journey_id from marts.fct_ltc_stage_events "
                                 f"where journey_id = '{c['opportunity']}'")
    assert events == []
    regions = {r["region"] for r in journeys.values() if r["owner_id"] == c["user"]}
    assert regions == {"Antarctica"}
    assert all(r["as_of_date"] == built.as_of for r in journeys.values())


def test_lead_attributes_were_scoped_and_equal_a_rebuild(built: Built):
    """int_leads_attributed (the warehouse's intermediate schema, its state beside it) is key-scoped too."""
    compiled = (built.work / "target" / "compiled" / "ltc" / "models" / "intermediate"
                / "int_leads_attributed.sql").read_text()
    assert SCOPED_MARKER in compiled
    sql = "select * from intermediate.int_leads_attributed order by lead_id"
    rows = dict_rows(built.db, sql)
    assert rows and rows == dict_rows(built.rebuilt, sql)
    regions = {r["region"] for r in rows if r["owner_id"] == built.changed["user"]}
    assert regions == {"Antarctica"}


def test_a_duplicate_whose_first_lead_moved_away_is_not_one_any_more(built: Built):
    """The duplicate did not land again: only the lead it duplicated did, with another email."""
    leads = {r["lead_id"]: r for r in dict_rows(built.db, "select lead_id, is_duplicate from marts.fct_leads")}
    assert leads[built.changed["duplicate"]]["is_duplicate"] is False
    assert leads[built.changed["first"]]["is_duplicate"] is False


def test_a_model_without_state_is_rebuilt_whole(built: Built, tmp_path: Path):
    con = connect_warehouse(built.db, read_only=False)
    try:
        con.execute(f"delete from {STATE} where model_name = 'fct_lead_to_cash'")
    finally:
        con.close()
    run = run_dbt(["build", *SELECT], built.db, built.work, as_of=built.as_of.isoformat())
    assert run.returncode == 0, run.output[-5000:]
    compiled = _compiled(built.work)
    assert SCOPED_MARKER not in compiled["fct_lead_to_cash"]
    assert SCOPED_MARKER in compiled["fct_ltc_stage_events"]
    for fact in FACTS:
        assert mart_hashes(built.db, [fact])[fact] == mart_hashes(built.rebuilt, [fact])[fact]
    assert set(_state(built.db)) == set(FACTS)


def test_opportunity_versions_were_scoped_and_equal_a_rebuild(built: Built):
    """int_opportunity_versions_reconstructed (intermediate, its state beside it) is key-scoped too."""
    compiled = (built.work / "target" / "compiled" / "ltc" / "models" / "intermediate"
                / "int_opportunity_versions_reconstructed.sql").read_text()
    assert SCOPED_MARKER in compiled
    sql = "select * from intermediate.int_opportunity_versions_reconstructed order by opportunity_version_id"
    rows = dict_rows(built.db, sql)
    assert rows and rows == dict_rows(built.rebuilt, sql)
    assert built.changed["deleted"] in {r["opportunity_id"] for r in rows if r["is_opportunity_deleted"]}


def test_a_stage_move_and_the_as_of_date_show_in_the_stage_history(built: Built):
    """The moved opportunity has a new current interval; every other current interval, which the
    incremental run kept, counts its days to the new as-of date."""
    rows = dict_rows(built.db, "select * from marts.fct_opportunity_stage_history where is_current")
    moved = [r for r in rows if r["opportunity_id"] == built.changed["moved"]]
    assert [(r["stage_name"], r["entered_date"], r["days_in_stage"]) for r in moved] == [
        ("Negotiation/Review", built.as_of, 0)]
    assert all(r["days_in_stage"] == (built.as_of - r["entered_date"]).days and r["as_of_date"] == built.as_of
               for r in rows)
    assert built.changed["deleted"] not in {r["opportunity_id"] for r in rows}
