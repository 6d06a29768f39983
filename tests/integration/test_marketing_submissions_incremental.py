"""A form submission made after the last run lands in the next incremental run.

Found by the incremental-equals-full benchmark (benchmarks/incremental.py): `hubspot_form_submissions`
is read per form, as a child of `hubspot_forms`; while the forms resource was incremental on
`updatedAt`, a run in which no form changed passed no form on to the child, so the day's new
submissions were never requested (892 landed against 895 in a full rebuild at 1,000 leads).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from connectors.ingest import run_ingest
from connectors.sandbox.fake_hubspot import FakeHubSpot
from connectors.settings import Settings


@pytest.fixture
def hubspot(ltc_home, monkeypatch, tmp_path):
    from connectors.sandbox import generate

    root = tmp_path / "sandbox"
    generate(root, seed=5, scale=1000)  # some forms with more than one page of submissions
    with FakeHubSpot(root, retry_after_s=0) as fake:
        monkeypatch.setenv("LTC_MARKETING_API_URL", fake.url)
        monkeypatch.setenv("LTC_MARKETING_API_TOKEN", fake.access_token)
        yield fake


def _submissions() -> set[str]:
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        return {r[0] for r in con.sql("select conversion_id from raw_marketing.hubspot_form_submissions").fetchall()}


def test_a_new_submission_on_an_unchanged_form_lands_incrementally(hubspot):
    tables = ["hubspot_forms", "hubspot_form_submissions"]
    run_ingest("marketing", objects=tables)
    before = _submissions()
    # a form that is not the latest changed one (a run re-reads the latest at its cursor's boundary)
    oldest = min((f for f in hubspot.data.forms if hubspot.data.submissions[f["id"]]), key=lambda f: f["updatedAt"])
    subs = hubspot.data.submissions[oldest["id"]]
    new = {**subs[0], "conversionId": "new-submission-after-the-first-run",
           "submittedAt": int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)}
    with hubspot._lock:
        subs.insert(0, new)  # HubSpot lists a form's submissions newest first
        hubspot.requests.clear()
    run_ingest("marketing", objects=tables)
    assert _submissions() == before | {"new-submission-after-the-first-run"}
    # each form's first page already reaches below the cursor: one request per form, not every page
    pages = [r for r in hubspot.requests if "/submissions/forms/" in r]
    forms_with_pages = [f for f in hubspot.data.forms if len(hubspot.data.submissions[f["id"]]) > 50]
    assert forms_with_pages, "no form has a second page: the early stop is not exercised"
    assert sorted(r.split("?")[0] for r in pages) == sorted(
        f"GET /form-integrations/v1/submissions/forms/{f['id']}" for f in hubspot.data.forms), pages
