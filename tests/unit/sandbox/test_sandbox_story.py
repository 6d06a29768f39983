"""The improving story (`ltc sandbox generate --story improving`, connectors/sandbox/story.py).

Generator-level checks, fast: the story spans two years ending on the default as-of date, its
ground truth holds the planted figures, the planted figures are what the generated files say, and
the discipline it plants shows in them (the panel's end-to-end check against the built marts is
tests/e2e/test_ltc_health_story.py). The default company is untouched by the story: it has no
`story` in its truth and the story module is never consulted for it (its byte-identity is pinned
by test_sandbox_generator's figures and bytes tests).
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

import pytest

from connectors.sandbox import generate

SEED, SCALE = 11, 3000


@pytest.fixture(scope="module")
def improving(tmp_path_factory):
    out = tmp_path_factory.mktemp("improving")
    return out, generate(out, seed=SEED, scale=SCALE, story="improving")


def _mean(values):
    values = [Decimal(str(v)) for v in values if v is not None]
    return sum(values) / len(values)


def test_unknown_story_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown story"):
        generate(tmp_path, seed=1, scale=50, story="declining")


def test_default_story_writes_no_story(tmp_path):
    truth = generate(tmp_path, seed=3, scale=120)
    assert "story" not in truth and truth["period_start"] == "2025-01-01"
    assert json.loads((tmp_path / "ground_truth.json").read_text()) == truth


def test_two_years_ending_on_the_as_of_date(improving):
    out, truth = improving
    assert (truth["period_start"], truth["as_of"]) == ("2024-01-01", "2025-12-31")
    assert json.loads((out / "ground_truth.json").read_text()) == truth
    con = sqlite3.connect(out / "erp.sqlite")
    try:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
        table = next(t for t in ("invoices", "invoice") if t in tables)
        first, last = con.execute(f"select min(issue_date), max(issue_date) from {table}").fetchone()
    finally:
        con.close()
    assert first < "2024-07-01" and "2025-07-01" < last <= "2025-12-31"
    leads = json.loads((out / "salesforce" / "Lead.json").read_text())
    by_year = {y: sum(l["CreatedDate"].startswith(y) for l in leads) for y in ("2024", "2025")}
    assert abs(by_year["2024"] - by_year["2025"]) < 0.15 * by_year["2025"], by_year  # flat arrivals
    campaigns = [c["Name"] for c in json.loads((out / "salesforce" / "Campaign.json").read_text())]
    assert len(campaigns) == len(set(campaigns)) and any(n.endswith("(2024)") for n in campaigns)


def test_ground_truth_holds_the_planted_figures(improving):
    _, truth = improving
    story = truth["story"]
    assert story["adoption_date"] == "2025-01-01"
    months = sorted(story["monthly"])
    assert months[0] == "2024-01-01" and months[-1] == "2025-12-01" and len(months) == 24
    names = {"forecast_accuracy", "on_time_collection_rate", "overdue_ar", "work_without_signed_contract_count",
             "work_without_signed_contract_amount"}
    assert set(story["monthly"]["2025-06-01"]) == names == set(story["definitions"])
    assert set(story["half_year_mean"]) == {"2024H1", "2024H2", "2025H1", "2025H2"}
    # the no-contract count agrees with the anomaly ids the truth already lists
    a = truth["anomalies"]
    assert sum(f["work_without_signed_contract_count"] for f in story["monthly"].values()) == \
        len(set(a["orders_without_contract"]) | set(a["work_without_signed_contract"]))


def test_the_planted_discipline_shows(improving):
    """Second year against first: forecasts closer to outcome, more paid on time, less overdue
    (second halves: the company starts with no receivables), fewer orders before a signature."""
    _, truth = improving
    story = truth["story"]
    before, after = story["yearly_mean"]["first_year"], story["yearly_mean"]["second_year"]
    assert Decimal(after["forecast_accuracy"]) - Decimal(before["forecast_accuracy"]) > Decimal("0.15")
    assert Decimal(after["on_time_collection_rate"]) - Decimal(before["on_time_collection_rate"]) > Decimal("0.05")
    halves = story["half_year_mean"]
    assert Decimal(halves["2025H2"]["overdue_ar"]) < Decimal("0.75") * Decimal(halves["2024H2"]["overdue_ar"])
    assert Decimal(after["work_without_signed_contract_count"]) < \
        Decimal("0.5") * Decimal(before["work_without_signed_contract_count"])
    # the yearly means are the means of the monthly figures
    first_year = [f["on_time_collection_rate"] for m, f in story["monthly"].items() if m < "2025"]
    assert abs(_mean(first_year) - Decimal(before["on_time_collection_rate"])) < Decimal("0.000001")


def test_invoices_due_after_adoption_are_paid_on_time_more_often(improving):
    _, truth = improving
    late = set(truth["anomalies"]["invoices_paid_late"])
    assert late  # some are still late: discipline, not perfection
    monthly = truth["story"]["monthly"]
    worst_after = min(f["on_time_collection_rate"] for m, f in monthly.items()
                      if m >= "2025" and f["on_time_collection_rate"] is not None)
    assert Decimal(worst_after) > Decimal("0.5")
