"""fct_pipeline_snapshots, rpt_pipeline_waterfall and rpt_forecast_accuracy against answers computed
independently, in plain Python, from the raw tables.

The sandbox company is landed once per module through the real connectors. dbt builds the pipeline
marts as of FIRST_AS_OF (the first build reconstructs every snapshot day from OpportunityHistory);
then one raw OpportunityHistory row is rewritten (its amount and close date) and dbt runs again as of
the sandbox's as-of date (an incremental run: it adds only the later snapshot days). The tests check:
* every snapshot row of the first build is the history version valid at the end of its day, with the
  FX rule applied, recomputed from raw_salesforce.opportunity_history and raw_finance.fx_rates;
* the second run left every earlier snapshot row unchanged (frozen) although history was rewritten,
  and its new rows follow the rewritten history;
* the waterfall balances per period to the cent, and equals a recomputation from the Python states;
* forecast, actual, WAPE and bias per category and quarter equal a recomputation in Python.
A Postgres variant runs the same two-step incremental build on the hand-made raw fixture.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from conftest import dict_rows, pg_dsn, run_dbt

from connectors.marts_file import connect_warehouse

pytestmark = pytest.mark.slow

FIRST_AS_OF = "2025-09-30"
CENT = Decimal("0.01")
REPORTING = "USD"
WON, LOST = {"Closed Won"}, {"Closed Lost"}  # vars opportunity_won_stages / opportunity_lost_stages
CATEGORY_LABELS = {"BestCase": "Best Case", "Forecast": "Commit", "MostLikely": "Most Likely"}
OPEN_PIPELINE = {"Pipeline", "Best Case", "Commit"}
FIELDS = ["opportunity_version_id", "stage_name", "forecast_category", "close_date", "currency", "amount",
          "fx_rate", "fx_rate_date", "amount_reporting", "is_open", "is_won", "is_lost", "pipeline_status"]


def _utc_date(value: dt.datetime) -> dt.date:
    return (value.astimezone(dt.timezone.utc) if value.tzinfo else value).date()


# -- the independent recomputation, from the raw tables only ----------------------------------------

@dataclass
class Raw:
    history: list[dict]
    opportunities: dict[str, dict]
    deleted_on: dict[str, dt.date | None]  # deleted opportunity -> UTC day of its deletion
    fx: dict[str, list[tuple[dt.date, Decimal]]]


def read_raw(db: Path) -> Raw:
    history = dict_rows(db, "select * from raw_salesforce.opportunity_history")
    opportunities = {o["id"]: o for o in dict_rows(db, "select * from raw_salesforce.opportunity")}
    tables = {r["table_name"] for r in dict_rows(
        db, "select table_name from information_schema.tables where table_schema = 'raw_salesforce'")}
    # when each deleted opportunity was deleted: getDeleted's deletedDate for a purged one, the
    # SystemModstamp of an IsDeleted row otherwise
    deleted_on = {i: _utc_date(o["system_modstamp"]) if o["system_modstamp"] else None
                  for i, o in opportunities.items() if o["is_deleted"]}
    if "deleted_records" in tables:
        deleted_on.update({r["id"]: _utc_date(r["deleted_date"]) if r["deleted_date"] else None for r in dict_rows(
            db, "select id, deleted_date from raw_salesforce.deleted_records where sobject = 'Opportunity'")})
    fx = defaultdict(list)
    for r in dict_rows(db, "select * from raw_finance.fx_rates"):
        if r["reporting_currency"].upper() == REPORTING:
            fx[r["currency"].upper()].append((r["rate_date"], Decimal(r["rate"])))
    for rates in fx.values():
        rates.sort()
    return Raw(history, opportunities, deleted_on, dict(fx))


def _rate(raw: Raw, currency: str, on: dt.date) -> tuple[Decimal | None, dt.date | None]:
    if currency == REPORTING:
        return Decimal("1"), on
    known = [(d, r) for d, r in raw.fx.get(currency, []) if d <= on]
    return (known[-1][1], known[-1][0]) if known else (None, None)


def snapshot_dates(first: dt.date, as_of: dt.date) -> list[dt.date]:
    """Weekly (the default var pipeline_snapshot_frequency): Sundays, month ends and the as-of date."""
    days, d = [], first
    while d <= as_of:
        if d.weekday() == 6 or (d + dt.timedelta(days=1)).day == 1 or d == as_of:
            days.append(d)
        d += dt.timedelta(days=1)
    return days


def expected_states(raw: Raw, as_of: dt.date, first_day: dt.date | None = None) -> dict[tuple, dict]:
    """{(opportunity_id, snapshot_date): state}: per snapshot day, the last history row created on or
    before the day (UTC), for every opportunity that has one and was not deleted by the day's end
    (a deleted opportunity's history rows were deleted with it and still count before that day)."""
    versions = defaultdict(list)
    for h in raw.history:
        created = h["created_date"].astimezone(dt.timezone.utc) if h["created_date"].tzinfo else h["created_date"]
        opp = h["opportunity_id"]
        if opp in raw.opportunities and (not h["is_deleted"] or opp in raw.deleted_on) and created.date() <= as_of:
            versions[opp].append((created, h["id"], h))
    for rows in versions.values():
        rows.sort(key=lambda v: (v[0], v[1]))
    first = min(rows[0][0].date() for rows in versions.values())
    states = {}
    for day in snapshot_dates(first, as_of):
        if first_day and day < first_day:
            continue
        for opp, rows in versions.items():
            valid = [v for v in rows if v[0].date() <= day]
            deleted = opp in raw.deleted_on  # unknown deletion day: left out of every day
            if not valid or (deleted and (raw.deleted_on[opp] is None or raw.deleted_on[opp] <= day)):
                continue
            _, hid, h = valid[-1]
            stage = h["stage_name"]
            currency = raw.opportunities[opp]["currency_iso_code"]
            amount = None if h["amount"] is None else Decimal(h["amount"]).quantize(CENT, ROUND_HALF_UP)
            close = h["close_date"]
            rate, rate_date = _rate(raw, currency, min(close or day, day))
            category = CATEGORY_LABELS.get(h["forecast_category"], h["forecast_category"])
            is_won, is_lost = stage in WON, stage in LOST
            states[(opp, day)] = {
                "opportunity_version_id": hid,
                "stage_name": stage,
                "forecast_category": category,
                "close_date": close,
                "currency": currency,
                "amount": amount,
                "fx_rate": rate,
                "fx_rate_date": rate_date,
                "amount_reporting": None if amount is None or rate is None
                else (amount * rate).quantize(CENT, ROUND_HALF_UP),
                "is_open": not (is_won or is_lost),
                "is_won": is_won,
                "is_lost": is_lost,
                "pipeline_status": "Won" if is_won else "Lost" if is_lost
                else "Pipeline" if category in OPEN_PIPELINE else "Other",
                "opportunity_created_date": rows[0][0].date(),
            }
    return states


def _periods(first: dt.date, as_of: dt.date, kind: str) -> list[tuple[dt.date, dt.date]]:
    step = 1 if kind == "month" else 3
    month = first.month if kind == "month" else 3 * ((first.month - 1) // 3) + 1
    start, periods = dt.date(first.year, month, 1), []
    while start <= as_of:
        nxt = dt.date(start.year + (start.month + step - 1) // 12, (start.month + step - 1) % 12 + 1, 1)
        periods.append((start, nxt - dt.timedelta(days=1)))
        start = nxt
    return periods


def _latest(days: list[dt.date], on: dt.date) -> dt.date | None:
    before = [d for d in days if d <= on]
    return before[-1] if before else None


def expected_waterfall(states: dict, as_of: dt.date, kind: str) -> dict[dt.date, dict]:
    """ltc-metrics §2.5, the buckets as rpt_pipeline_waterfall documents them, from the states."""
    by_day = defaultdict(dict)
    for (opp, day), s in states.items():
        by_day[day][opp] = s
    days = sorted(by_day)
    first = min(s["opportunity_created_date"] for s in states.values())
    result = {}
    for start, end in _periods(first, as_of, kind):
        s0_day, s1_day = _latest(days, start - dt.timedelta(days=1)), _latest(days, min(end, as_of))
        s0, s1 = by_day.get(s0_day, {}), by_day.get(s1_day, {})
        out = defaultdict(Decimal)

        def in_window(s):
            return s is not None and s["pipeline_status"] == "Pipeline" and s["close_date"] is not None \
                and start <= s["close_date"] <= end

        for opp in set(s0) | set(s1):
            a, b = s0.get(opp), s1.get(opp)
            amt_a = (a["amount_reporting"] or Decimal(0)) if a else Decimal(0)
            amt_b = (b["amount_reporting"] or Decimal(0)) if b else amt_a
            close_in = b is not None and b["close_date"] is not None and start <= b["close_date"] <= end
            won = not in_window(b) and b is not None and b["is_won"] and close_in and not (a and a["is_won"])
            lost = not in_window(b) and b is not None and b["is_lost"] and close_in and not (a and a["is_lost"])
            if in_window(a):
                out["start_amount"] += amt_a
                out["amount_change"] += amt_b - amt_a
                if not in_window(b) and not won and not lost:
                    out["pushed_out_amount"] += amt_b
            elif in_window(b) or won or lost:
                if a is None:
                    out["created_amount"] += amt_b
                else:
                    out["pulled_in_amount"] += amt_a
                    out["amount_change"] += amt_b - amt_a
            if won:
                out["won_amount"] += amt_b
            if lost:
                out["lost_amount"] += amt_b
            if in_window(b):
                out["end_amount"] += amt_b
        result[start] = {k: out[k].quantize(CENT) for k in
                         ["start_amount", "created_amount", "pulled_in_amount", "amount_change",
                          "pushed_out_amount", "lost_amount", "won_amount", "end_amount"]}
    return result


def expected_forecast(states: dict, as_of: dt.date, kind: str) -> dict[tuple, dict]:
    """ltc-metrics §2.7 category accuracy, t0 = the start of the period (var forecast_t0_offset_days 0)."""
    by_day = defaultdict(dict)
    for (opp, day), s in states.items():
        by_day[day][opp] = s
    days = sorted(by_day)
    first = min(s["opportunity_created_date"] for s in states.values())
    result = {}
    for start, end in _periods(first, as_of, kind):
        t0, t1 = _latest(days, start - dt.timedelta(days=1)), _latest(days, min(end, as_of))
        at_t0, at_end = by_day.get(t0, {}), by_day.get(t1, {})
        won = {o: s["amount_reporting"] or Decimal(0) for o, s in at_end.items()
               if s["is_won"] and s["close_date"] and start <= s["close_date"] <= end}
        for category in ("Pipeline", "Best Case", "Commit", "Closed"):
            deals = {o: s for o, s in at_t0.items()
                     if s["forecast_category"] == category and s["close_date"] and start <= s["close_date"] <= end
                     and ((s["is_open"] and category != "Closed") or (s["is_won"] and category == "Closed"))}
            forecast = sum((s["amount_reporting"] or Decimal(0) for s in deals.values()), Decimal(0))
            actual = sum((won[o] for o in deals if o in won), Decimal(0))
            result[(start, category)] = {"forecast_amount": forecast, "actual_amount": actual,
                                         "actual_won_total_amount": sum(won.values(), Decimal(0)),
                                         "complete": end <= as_of}
    return result


# -- the build: first as of FIRST_AS_OF, then history rewritten, then incremental as of the as-of date --

@dataclass
class Built:
    db: Path
    as_of: dt.date
    first_as_of: dt.date
    raw_before: Raw
    raw_after: Raw
    rewritten_version: str
    first_snapshots: dict
    snapshots: dict


def _model_snapshots(db: Path) -> dict[tuple, dict]:
    rows = dict_rows(db, "select * from marts.fct_pipeline_snapshots")
    return {(r["opportunity_id"], r["snapshot_date"]): r for r in rows}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    from sandbox_pipeline import land_sandbox

    tmp = tmp_path_factory.mktemp("pipeline_snapshots")
    with pytest.MonkeyPatch.context() as mp:
        db, truth = land_sandbox(tmp, seed=42, scale=int(os.environ.get("LTC_TEST_SCALE", "300")), monkeypatch=mp)
    as_of, first_as_of = dt.date.fromisoformat(truth["as_of"]), dt.date.fromisoformat(FIRST_AS_OF)
    work = tmp / "dbt_work"
    work.mkdir()
    run = run_dbt(["build", "--select", "+rpt_pipeline_performance", "+rpt_forecast_accuracy",
                   "--indirect-selection", "cautious"], db, work, as_of=FIRST_AS_OF)
    assert run.returncode == 0, run.output[-5000:]
    assert "PASS assert_pipeline_waterfall_balances" in run.output.replace("\x1b[32m", "").replace("\x1b[0m", "")
    raw_before = read_raw(db)
    first_snapshots = _model_snapshots(db)

    # rewrite history: the version valid at the end of FIRST_AS_OF of an opportunity that has no later
    # version (so the rewritten version is still current for the new snapshot days)
    states = expected_states(raw_before, first_as_of)
    later = {h["opportunity_id"] for h in raw_before.history if _utc_date(h["created_date"]) > first_as_of}
    candidates = sorted(s["opportunity_version_id"] for (opp, day), s in states.items()
                        if day == first_as_of and opp not in later and s["amount"] is not None)
    assert candidates, "no opportunity version to rewrite"
    rewritten = candidates[0]
    con = connect_warehouse(db, read_only=False)
    try:
        # landed again, as every landing is stamped (the versions are rebuilt for what landed)
        con.execute("update raw_salesforce.opportunity_history set amount = amount + 1000, "
                    "close_date = close_date + interval 7 day, _loaded_at = now() where id = ?", [rewritten])
    finally:
        con.close()
    raw_after = read_raw(db)

    # the pipeline models and what they feed, short of the reports that also need the AR and
    # reconciliation marts (rpt_ltc_health: built and tested in test_reconciliation)
    run = run_dbt(["build", "--select", "int_opportunity_versions_reconstructed+", "int_pipeline_periods_spined+",
                   "--exclude", "rpt_ltc_health", "--indirect-selection", "cautious"], db, work, as_of=truth["as_of"])
    assert run.returncode == 0, run.output[-5000:]
    return Built(db, as_of, first_as_of, raw_before, raw_after, rewritten, first_snapshots, _model_snapshots(db))


def _project(row: dict) -> dict:
    return {k: row[k] for k in FIELDS + ["opportunity_created_date"]}


def _combined_states(b: Built) -> dict:
    """What the table must hold after both runs: days up to FIRST_AS_OF from the history as it was
    then (frozen), later days from the rewritten history."""
    states = dict(expected_states(b.raw_before, b.first_as_of))
    states.update(expected_states(b.raw_after, b.as_of, first_day=b.first_as_of + dt.timedelta(days=1)))
    return states


def _live(states: dict, raw: Raw) -> dict:
    """The snapshot states of opportunities not deleted now: the reports built on the snapshots
    (waterfall, forecast accuracy) leave deleted opportunities out of every day."""
    return {k: s for k, s in states.items() if k[0] not in raw.deleted_on}


@pytest.mark.extended
def test_first_build_snapshots_are_the_history_version_valid_each_day(built: Built):
    expected = expected_states(built.raw_before, built.first_as_of)
    got = built.first_snapshots
    assert expected and set(got) == set(expected)
    for key, state in expected.items():
        assert _project(got[key]) == state, key
    assert {r["built_as_of_date"] for r in got.values()} == {built.first_as_of}


@pytest.mark.extended
def test_incremental_run_keeps_captured_days_frozen(built: Built):
    before = {k: v for k, v in built.snapshots.items() if k[1] <= built.first_as_of}
    assert before == built.first_snapshots  # every column, built_as_of_date included

    # the rewrite would have changed a captured day had it been rebuilt from history
    rebuilt = expected_states(built.raw_after, built.first_as_of)
    changed = [k for k, s in rebuilt.items() if s["opportunity_version_id"] == built.rewritten_version
               and s != expected_states(built.raw_before, built.first_as_of)[k]]
    assert changed and all(_project(built.snapshots[k]) != rebuilt[k] for k in changed)

    # the new days follow the rewritten history
    after = {k: v for k, v in built.snapshots.items() if k[1] > built.first_as_of}
    expected_after = expected_states(built.raw_after, built.as_of, first_day=built.first_as_of + dt.timedelta(days=1))
    assert expected_after and set(after) == set(expected_after)
    for key, state in expected_after.items():
        assert _project(after[key]) == state, key
    assert any(s["opportunity_version_id"] == built.rewritten_version for s in expected_after.values())
    assert {r["built_as_of_date"] for r in after.values()} == {built.as_of}


@pytest.mark.extended
def test_waterfall_balances_and_matches_recomputation(built: Built):
    rows = dict_rows(built.db, "select * from marts.rpt_pipeline_waterfall")
    assert rows
    for r in rows:
        assert (r["start_amount"] + r["created_amount"] + r["pulled_in_amount"] + r["amount_change"]
                - r["pushed_out_amount"] - r["lost_amount"] - r["won_amount"]) == r["end_amount"], r
        assert r["amount_change"] == r["amount_increase"] + r["amount_decrease"]
    states = _live(_combined_states(built), built.raw_after)
    for kind in ("month", "quarter"):
        expected = expected_waterfall(states, built.as_of, kind)
        got = {r["period_start"]: {k: r[k] for k in expected[next(iter(expected))]}
               for r in rows if r["period_type"] == kind}
        assert got == expected, kind
    # a waterfall that moves: something was won, lost and created over the year
    months = [r for r in rows if r["period_type"] == "month"]
    assert sum(r["won_amount"] for r in months) > 0 and sum(r["created_amount"] for r in months) > 0


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    return None if denominator == 0 else (numerator / denominator).quantize(Decimal("0.000001"), ROUND_HALF_UP)


def _close(got, want) -> bool:
    return (got is None and want is None) or (got is not None and want is not None
                                              and abs(Decimal(got) - want) <= Decimal("0.000001"))


@pytest.mark.extended
def test_forecast_accuracy_wape_and_bias_match_recomputation(built: Built):
    rows = {(r["period_type"], r["period_start"], r["forecast_category"]): r
            for r in dict_rows(built.db, "select * from marts.rpt_forecast_accuracy")}
    states = _live(_combined_states(built), built.raw_after)
    checked = 0
    for kind in ("month", "quarter"):
        expected = expected_forecast(states, built.as_of, kind)
        for (start, category), e in expected.items():
            r = rows[(kind, start, category)]
            assert (r["forecast_amount"], r["actual_amount"], r["actual_won_total_amount"]) == (
                e["forecast_amount"], e["actual_amount"], e["actual_won_total_amount"]), (kind, start, category)
            # WAPE = Σ|A - F| / ΣA, bias = Σ(F - A) / ΣA (positive = over-forecast), one period
            a, f = e["actual_amount"], e["forecast_amount"]
            assert _close(r["wape"], _ratio(abs(a - f), a)), (kind, start, category)
            assert _close(r["bias"], _ratio(f - a, a)), (kind, start, category)
            checked += a > 0
        # the roll-up over the complete quarters, for the category with the most forecast
        if kind == "quarter":
            category = max(("Pipeline", "Best Case", "Commit"),
                           key=lambda c: sum(e["forecast_amount"] for (s, cat), e in expected.items() if cat == c))
            done = [e for (s, cat), e in sorted(expected.items()) if cat == category and e["complete"]]
            last = max(s for (s, cat), e in expected.items() if cat == category and e["complete"])
            total_a = sum(e["actual_amount"] for e in done)
            r = rows[("quarter", last, category)]
            absolute = sum(abs(e["actual_amount"] - e["forecast_amount"]) for e in done)
            signed = sum(e["forecast_amount"] - e["actual_amount"] for e in done)
            assert _close(r["wape_to_date"], _ratio(absolute, total_a))
            assert _close(r["bias_to_date"], _ratio(signed, total_a))
    assert checked > 0, "no category/period with a won actual: WAPE never exercised"


# -- Postgres: the incremental snapshot and the reports are portable -------------------------------

@pytest.mark.postgres
@pytest.mark.extended  # the whole project's pg build stays in make test (test_dbt_build)
def test_incremental_snapshots_on_postgres(tmp_path: Path, dbt_work: Path, require_service):
    """On the pg target, from the hand-made raw fixture: a first build as of 2025-03-05, a rewritten
    history row, an incremental run as of 2025-12-31 that keeps the captured days and balances."""
    import uuid

    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(pg_dsn("postgres"), connect_timeout=3)
    except psycopg2.OperationalError as exc:
        require_service(False, f"no Postgres on 127.0.0.1: {exc}")
    admin.autocommit = True
    dbname = f"ltc_pipeline_test_{uuid.uuid4().hex[:8]}"
    admin.cursor().execute(f"create database {dbname}")
    env = {"DBT_TARGET": "pg", "LTC_PG_DBNAME": dbname}
    select = ["--select", "+rpt_pipeline_performance", "+rpt_forecast_accuracy", "--indirect-selection", "cautious"]
    snapshot_sql = ("select opportunity_id, snapshot_date, opportunity_version_id, amount, amount_reporting, "
                    "close_date, built_as_of_date from marts.fct_pipeline_snapshots")
    try:
        from raw_fixture import build_raw_fixture_pg

        build_raw_fixture_pg(pg_dsn(dbname))
        run = run_dbt(["build", *select], tmp_path / "unused.duckdb", dbt_work, as_of="2025-03-05", extra_env=env)
        assert run.returncode == 0, run.output[-5000:]
        con = psycopg2.connect(pg_dsn(dbname))
        con.autocommit = True
        try:
            cur = con.cursor()
            cur.execute(snapshot_sql)
            first = {(r[0], r[1]): r for r in cur.fetchall()}
            # O2's Qualification version (2025-02-20) is current from then on: rewrite its amount
            # ... landed again, as every landing is stamped (the versions are rebuilt for what landed)
            cur.execute("update raw_salesforce.opportunity_history set amount = 2500, _loaded_at = now() "
                        "where id = '008000000000003AAA'")
            run = run_dbt(["build", *select], tmp_path / "unused.duckdb", dbt_work, as_of="2025-12-31", extra_env=env)
            assert run.returncode == 0, run.output[-5000:]
            cur.execute(snapshot_sql)
            second = {(r[0], r[1]): r for r in cur.fetchall()}
            cur.execute("select start_amount + created_amount + pulled_in_amount + amount_change - pushed_out_amount"
                        " - lost_amount - won_amount - end_amount from marts.rpt_pipeline_waterfall")
            gaps = [r[0] for r in cur.fetchall()]
        finally:
            con.close()
        o2 = "006000000000002AAA"
        assert first and {k: v for k, v in second.items() if k[1] <= dt.date(2025, 3, 5)} == first
        assert first[(o2, dt.date(2025, 3, 5))][3] == Decimal("2000.00")  # frozen
        later = [v for k, v in second.items() if k[0] == o2 and k[1] > dt.date(2025, 3, 5)]
        assert later and all(v[3] == Decimal("2500.00") and v[6] == dt.date(2025, 12, 31) for v in later)
        assert gaps and all(g == 0 for g in gaps)
    finally:
        admin.cursor().execute(f"drop database if exists {dbname} with (force)")
        admin.close()
