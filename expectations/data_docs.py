"""Great Expectations Data Docs for our suites and their latest outcome: offline, without data values.

Why it is built this way:

* **GX renders, from GX objects.** The pages are made by GX's own `SiteBuilder` (a file-backed
  context in a temporary directory: an expectations store, a validation results store, one Data
  Docs site), so they read as any GX user expects. The checks, however, run on the in-DuckDB
  engine (expectations/sql_engine.py), which returns a `ValidationSummary`, not GX results: GX
  1.24 has no DuckDB datasource, so GX itself cannot produce the results here without pulling
  every checked column into pandas (16x slower; expectations/runner.py). `to_validation_result`
  therefore converts a summary into an `ExpectationSuiteValidationResult`: one
  `ExpectationValidationResult` per expectation that ran, success from whether its label is in
  `summary.failed`, the unexpected count, and nothing else.
* **No personal data.** A summary holds counts and, for failed expectations, the keys of failing
  rows, never a value. The converted results carry counts only (no `partial_unexpected_list`,
  no keys, no observed values), so no page can show a value: GX's renderers only print what the
  result holds. The suites' own parameters (value sets, regexes, bounds) are definitions, not data.
* **Offline.** GX 1.24's page templates load Bootstrap, jQuery, bootstrap-table, Font Awesome and
  Vega from six CDNs, and the navbar logo from S3 with the data context id appended (a tracking
  pixel); GX declined to ship the assets (great_expectations#994, PR #2870 closed). A site's
  `plugins/custom_data_docs/views` cannot override a built-in template (GX's `DefaultJinjaView`
  puts its package loader first), but the site config may name the view class. Ours
  (`OfflinePageView`, `OfflineIndexPageView`) puts a few replacement templates first — the index
  tables rendered as static HTML instead of by bootstrap-table, a text navbar, no newsletter
  footer, a small local stylesheet and ~20 lines of plain JavaScript for the collapsible blocks
  and the "failed only" filter — and passes every page through `strip_external`, which drops any
  `<script src>`, `<link href>`, `<img src>` and CSS `url()` that points off the machine. The
  publisher checks the finished site again (reports/docs_site.py) and refuses to publish one
  that would fetch anything.

Entry points: `collect_summaries` (validate every suite read-only, as the checks do),
`build_data_docs` (summaries → a site directory).
"""

from __future__ import annotations

import os

os.environ["GX_ANALYTICS_ENABLED"] = "false"  # before GX is imported (as expectations/runner.py does)

import datetime as dt  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable, Iterable, Mapping, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from jinja2 import ChoiceLoader, DictLoader  # noqa: E402

from expectations.core import ValidationSummary, config_label, unique_labels  # noqa: E402

SITE_NAME = "ltc"
RUN_NAME = "ltc_checks"
# The failed "label" of a suite whose query raised (`_query_failed`), like the runner's "table_exists".
QUERY_FAILED = "query_succeeds"
# Types whose outcome is a row count (GX's "column map" and pair/compound expectations): a passed
# one had 0 unexpected rows. The others (row count, column set, column type) are table-level.
_ROW_LEVEL_PREFIXES = ("expect_column_values_", "expect_column_pair_values_", "expect_compound_columns_",
                       "expect_multicolumn_")


@dataclass(frozen=True)
class SuiteOutcome:
    """One suite, the batch it was run on (``raw_erp.invoices``, ``marts.fct_invoices``) and its
    latest summary (None: not validated, the suite page is still published)."""

    suite: Any  # gx.ExpectationSuite
    batch: str
    summary: ValidationSummary | None


# ---------------------------------------------------------------------------------------------
# Summaries → GX validation results


def _is_row_level(expectation_type: str) -> bool:
    return expectation_type.startswith(_ROW_LEVEL_PREFIXES)


def _evaluated(suite: Any, summary: ValidationSummary) -> list[tuple[str, Any]]:
    """(label, configuration) of the expectations that ran, labelled as the engines label them:
    skipped ones (optional column absent) removed first, then repeated labels numbered."""
    skipped = set(summary.skipped)
    configs = [e.configuration for e in suite.expectations]
    kept = [c for c in configs if config_label(c) not in skipped]
    return list(zip(unique_labels([config_label(c) for c in kept]), kept))


def _exception(message: str) -> dict[str, Any]:
    # GX's renderer prints the traceback as text (None breaks the page): the message stands in
    return {"raised_exception": True, "exception_message": message, "exception_traceback": message}


_WHOLE_SUITE = ("table_exists", QUERY_FAILED)


def _whole_suite_failure(summary: ValidationSummary) -> str | None:
    """Why no expectation could run, when that is the outcome: the table is missing, or the
    query raised (its error type is kept in `errored`)."""
    if "table_exists" in summary.failed:
        return "the table does not exist"
    if QUERY_FAILED in summary.failed:
        return f"the query failed ({', '.join(summary.errored) or 'error'})"
    return None


def _expectation_result(label: str, config: Any, summary: ValidationSummary, reason: str | None) -> Any:
    from great_expectations.core import ExpectationValidationResult

    if reason is not None:
        return ExpectationValidationResult(
            success=False, expectation_config=config, result={}, exception_info=_exception(reason)
        )
    failed = label in summary.failed
    result: dict[str, Any] = {}
    if _is_row_level(config.type) and label not in summary.errored:
        count = int(summary.unexpected_counts.get(label, 0)) if failed else 0
        result["unexpected_count"] = count
        if summary.row_count:
            # a share of all rows: GX divides by the non-null rows, a count the summary does not hold
            result["element_count"] = int(summary.row_count)
            result["unexpected_percent"] = 100.0 * count / summary.row_count
    exception_info = None
    if label in summary.errored:
        # e.g. a required column is missing: GX raised instead of evaluating (no count exists)
        exception_info = _exception("not evaluated: the expectation raised (a column it needs is missing)")
    return ExpectationValidationResult(
        success=not failed, expectation_config=config, result=result, exception_info=exception_info
    )


def to_validation_result(
    suite: Any, summary: ValidationSummary, *, batch: str, run_id: Any
) -> Any:
    """`summary` as a GX `ExpectationSuiteValidationResult` over `suite`: one result per
    expectation that ran (skipped ones are listed in `meta`), failed exactly when its label is
    in `summary.failed`, with the unexpected count for row-level expectations. No values, no
    keys. A missing table or a query that raised fails every expectation with the reason;
    failed labels that are not in the suite (the run-time row-count bound ``…[vs_previous]``)
    are listed in `meta`."""
    from great_expectations.core import ExpectationSuiteValidationResult

    reason = _whole_suite_failure(summary)
    optional_absent = "table_exists" in summary.skipped
    evaluated = [] if optional_absent else _evaluated(suite, summary)
    results = [_expectation_result(label, config, summary, reason) for label, config in evaluated]
    labels = {label for label, _ in evaluated}
    ok = sum(1 for r in results if r.success)
    meta = {
        "run_id": run_id,
        "validation_time": run_id.run_time.strftime("%Y%m%dT%H%M%S.%fZ"),
        "batch_spec": {"data_asset_name": batch},
        "batch_markers": {
            "rows": summary.row_count,
            "severity": summary.severity or "passed",
            "skipped_expectations": list(summary.skipped),
            "failed_outside_suite": [f for f in summary.failed if f not in labels and f not in _WHOLE_SUITE],
        },
    }
    return ExpectationSuiteValidationResult(
        success=bool(summary.success),
        results=results,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": ok,
            "unsuccessful_expectations": len(results) - ok,
            "success_percent": 100.0 * ok / len(results) if results else None,
        },
        meta=meta,
    )


# ---------------------------------------------------------------------------------------------
# Offline views: replacement templates and the external-reference filter

_EXTERNAL = r"""(?:https?:)?//"""
_STRIP_PATTERNS = (
    re.compile(r"<script\b[^>]*\bsrc\s*=\s*['\"]?" + _EXTERNAL + r"[^>]*>\s*</script\s*>", re.I | re.S),
    re.compile(r"<link\b[^>]*\bhref\s*=\s*['\"]?" + _EXTERNAL + r"[^>]*>", re.I | re.S),
    re.compile(r"<img\b[^>]*\bsrc\s*=\s*['\"]?" + _EXTERNAL + r"[^>]*>", re.I | re.S),
)
_CSS_URL = re.compile(r"url\(\s*['\"]?" + _EXTERNAL + r"[^)]*\)", re.I)
_CSS_IMPORT = re.compile(r"@import\s+(?:url\()?\s*['\"]?" + _EXTERNAL + r"[^;]*;", re.I)


def strip_external(html: str) -> str:
    """`html` without the tags and CSS that would fetch something off the machine."""
    for pattern in _STRIP_PATTERNS:
        html = pattern.sub("", html)
    html = _CSS_IMPORT.sub("", html)
    return _CSS_URL.sub("none", html)


# What Bootstrap 4 gave the pages, as far as GX's markup uses it: the grid, cards, tables, badges,
# alerts, collapse, and the Font Awesome icons GX prints for pass/fail (as text glyphs).
_OFFLINE_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #212529;
       font-size: 14px; line-height: 1.45; }
a { color: #0062cc; } .navbar { display: flex; align-items: center; padding: 0 1.25rem; background: #fff; }
.navbar-brand a { background: none; font-weight: 600; font-size: 1.2rem; text-decoration: none; color: #212529; }
.container-fluid { padding: 1rem 2rem; } .row { display: flex; flex-wrap: wrap; margin: 0 -0.5rem; }
.row > * { padding: 0 0.5rem; box-sizing: border-box; } .col-12 { width: 100%; }
.col-md-2, .col-lg-2 { width: 16.66%; } .col-md-10, .col-lg-10 { width: 83.33%; }
.col-md-6 { width: 50%; } .col-md-4 { width: 33.3%; } .col-md-8 { width: 66.6%; }
@media (max-width: 900px) { .row > [class*="col-"] { width: 100%; } }
.card { border: 1px solid #dee2e6; border-radius: 4px; margin-bottom: 1rem; background: #fff; }
.card-header { background: #f7f7f9; border-bottom: 1px solid #dee2e6; padding: 0.5rem 0.75rem; }
.card-body { padding: 0.75rem; } .sticky { position: sticky; top: 1rem; }
table, .table { border-collapse: collapse; width: 100%; margin-bottom: 0.75rem; }
.table th, .table td, table.table-sm th, table.table-sm td { border-top: 1px solid #dee2e6; padding: 0.3rem 0.5rem;
       text-align: left; vertical-align: top; }
.collapse:not(.show) { display: none; } .d-none { display: none; } .d-md-block { display: block; }
.badge { display: inline-block; padding: 0.15em 0.45em; border-radius: 3px; background: #e9ecef; font-size: 85%; }
.alert { padding: 0.5rem 0.75rem; border-radius: 4px; border: 1px solid #dee2e6; }
.alert-secondary { background: #e2e3e5; } .text-danger { color: #b00020; } .text-success { color: #137333; }
.nav { list-style: none; padding: 0; margin: 0; } .nav-link { display: block; padding: 0.2rem 0.5rem; }
.btn { border: 1px solid #0062cc; background: #0062cc; color: #fff; padding: 0.2rem 0.6rem; border-radius: 3px;
       cursor: pointer; display: inline-block; } .btn input { display: none; }
.fas, .far, .fa { font-style: normal; }
.fa-check-circle::before, .fa-check::before { content: "\\2714"; color: #137333; }
.fa-times::before, .fa-times-circle::before, .fa-exclamation-triangle::before { content: "\\2716"; color: #b00020; }
.cooltip .top { display: none; }
.ltc-offline-note { color: #6c757d; font-size: 85%; }
"""

_TEMPLATES = {
    # the CDN <script>/<link> tags, replaced by a few lines of plain JavaScript
    "js_script_imports.j2": """<script>
document.addEventListener("click", function (event) {
  var link = event.target.closest('[data-toggle="collapse"]');
  if (!link) return;
  event.preventDefault();
  var target = document.getElementById((link.getAttribute("href") || "").slice(1));
  if (target) target.classList.toggle("show");
});
function ltcShowValidations(failedOnly) {
  var selectors = ".hide-succeeded-validation-target, .hide-succeeded-validation-target-child";
  document.querySelectorAll(selectors).forEach(function (el) {
    var box = el.classList.contains("hide-succeeded-validation-target-child") ? el.parentElement : el;
    box.style.display = failedOnly ? "none" : "";
  });
}
</script>""",
    "top_navbar.j2": """{% set dots = expectation_suite_name.count(".") if expectation_suite_name else 0 -%}
{% if "ValidationResults" in renderer_type %}{% set home_url = ((dots + 4) * "../") + "index.html" -%}
{% elif "ExpectationSuite" in renderer_type %}{% set home_url = ((dots + 1) * "../") + "index.html" -%}
{% else %}{% set home_url = "#" -%}{% endif %}
<nav class="navbar border-bottom" style="height: 56px">
  <div class="navbar-brand"><a href="{{ home_url }}">Lead-to-cash data quality</a></div>
  {% if page_title %}<span class="ml-2">&rsaquo; {{ page_title }}</span>{% endif %}
</nav>""",
    "cloud-footer.j2": "",
    "page_action_card.j2": """<div class="card mb-3">
  <div class="card-header p-2"><strong>Actions</strong></div>
  <div class="card-body p-3">
    <button class="btn" type="button" onclick="ltcShowValidations(false)">Show all</button>
    <button class="btn" type="button" onclick="ltcShowValidations(true)">Failed only</button>
  </div>
</div>""",
    # bootstrap-table filled the index tables from JSON in the browser; here they are plain HTML
    "bootstrap_table.j2": """{% include 'content_block_header.j2' %}
{% set table_columns = content_block["table_columns"] %}
<table class="table table-sm ltc-static-table" id="{{ content_block_id ~ '-body-table' }}">
  <thead><tr>{% for column in table_columns %}<th>{{ column["title"] }}</th>{% endfor %}</tr></thead>
  <tbody>
  {% for row in content_block["table_data"] | render_bootstrap_table_data %}
    {% set link = row.get("_table_row_link_path") -%}
    <tr>{% for column in table_columns %}{% set cell = row.get(column["field"], "") %}
      <td>{% if link and "<" not in (cell | string) %}<a href="{{ link }}">{{ cell }}</a>
          {%- else %}{{ cell | safe }}{% endif %}</td>{% endfor %}
    </tr>
  {% endfor %}
  </tbody>
</table>""",
    "data_docs_custom_styles.css": _OFFLINE_CSS,
}


class _Offline:
    """Mixin for GX's Jinja page views: our templates first, external references stripped."""

    def __init__(self, custom_styles_directory: str | None = None, custom_views_directory: str | None = None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)  # type: ignore[call-arg]
        self.env.loader = ChoiceLoader([DictLoader(_TEMPLATES), self.env.loader])  # type: ignore[attr-defined]

    def render(self, *args: Any, **kwargs: Any) -> str:
        return strip_external(super().render(*args, **kwargs))  # type: ignore[misc]


def _view_classes() -> tuple[type, type]:
    from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

    class OfflinePageView(_Offline, DefaultJinjaPageView):
        pass

    class OfflineIndexPageView(_Offline, DefaultJinjaIndexPageView):
        pass

    return OfflinePageView, OfflineIndexPageView


# GX instantiates views by module and class name: module-level names are needed.
OfflinePageView, OfflineIndexPageView = _view_classes()


def site_config(base_directory: Path) -> dict[str, Any]:
    """A Data Docs site written to `base_directory`, rendered by the offline views, without GX's
    "how to" buttons and walkthrough modal, and without the (empty) profiling section."""
    view = {"module_name": __name__, "class_name": "OfflinePageView"}
    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(base_directory)},
        "site_index_builder": {
            "class_name": "DefaultSiteIndexBuilder",
            "view": {"module_name": __name__, "class_name": "OfflineIndexPageView"},
        },
        "site_section_builders": {
            "expectations": {"view": view},
            "validations": {"view": view},
            "profiling": "None",
        },
    }


# ---------------------------------------------------------------------------------------------
# Building the site


def _file_context(root: Path) -> Any:
    import great_expectations as gx

    context = gx.get_context(mode="file", project_root_dir=str(root))
    try:
        context.config.analytics_enabled = False
    except Exception:  # pragma: no cover - config shape differs across GX versions
        pass
    return context


def _store_outcomes(context: Any, outcomes: Sequence[SuiteOutcome], run_time: dt.datetime) -> None:
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    run_id = RunIdentifier(run_name=RUN_NAME, run_time=run_time)
    for outcome in outcomes:
        context.suites.add(outcome.suite)
        if outcome.summary is None:
            continue
        result = to_validation_result(outcome.suite, outcome.summary, batch=outcome.batch, run_id=run_id)
        key = ValidationResultIdentifier(ExpectationSuiteIdentifier(outcome.suite.name), run_id, outcome.batch)
        context.validation_results_store.set(key, result)


def build_data_docs(
    outcomes: Sequence[SuiteOutcome],
    site_dir: str | Path,
    *,
    run_time: dt.datetime | None = None,
    verify: Callable[[Path], None] | None = None,
) -> Path:
    """Render `outcomes` with GX's site builder into `site_dir` (replaced whole); return its
    index.html. `verify(staging_dir)` may refuse the new site by raising, before it replaces the
    published one. The GX context lives in a temporary directory that is removed afterwards: the
    suites are code (expectations/suites) and the summaries are recomputed, so there is no GX
    state worth keeping between runs."""
    site_dir = Path(site_dir)
    run_time = run_time or dt.datetime.now(dt.timezone.utc)
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    from expectations.runner import _GX_LOCK  # GX contexts are not documented as thread-safe

    with _GX_LOCK, tempfile.TemporaryDirectory(prefix="ltc_gx_") as tmp:
        staging = Path(tempfile.mkdtemp(prefix=f".{site_dir.name}.", dir=site_dir.parent))
        try:
            staging.chmod(0o755)  # mkdtemp makes it private; the site is published to be read
            context = _file_context(Path(tmp))
            _store_outcomes(context, outcomes, run_time)
            context.add_data_docs_site(SITE_NAME, site_config(staging))
            context.build_data_docs(site_names=[SITE_NAME])
            _check_pages(staging, outcomes)
            _strip_static_css(staging)
            if verify is not None:
                verify(staging)
            _swap_in(staging, site_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return site_dir / "index.html"


def _check_pages(site: Path, outcomes: Sequence[SuiteOutcome]) -> None:
    """GX logs a page that failed to render and carries on; a missing page must not be published."""
    missing = [o.suite.name for o in outcomes if not (site / "expectations" / f"{o.suite.name}.html").exists()]
    validated = sum(1 for o in outcomes if o.summary is not None)
    pages = list((site / "validations").rglob("*.html")) if validated else []
    if missing or len(pages) != validated or not (site / "index.html").exists():
        raise RuntimeError(
            f"GX did not render every Data Docs page (missing suites: {missing}; "
            f"{len(pages)} of {validated} validation pages)"
        )


def _strip_static_css(site: Path) -> None:
    """GX copies its stylesheet into static/ too (pages inline it; the copy is unused), with the
    S3 logo `url()` in it: strip that copy as well, so nothing under the site points elsewhere."""
    for path in site.rglob("*.css"):
        text = path.read_text(encoding="utf-8")
        stripped = strip_external(text)
        if stripped != text:
            path.write_text(stripped, encoding="utf-8")


def _swap_in(staging: Path, site_dir: Path) -> None:
    """Replace `site_dir` by `staging` with two renames, so a reader sees the old site or the new
    one (for a moment, none), never a half-written one."""
    old = site_dir.with_name(f".{site_dir.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if site_dir.exists():
        os.replace(site_dir, old)
    os.replace(staging, site_dir)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The latest outcome of every suite


def _query_failed(suite: Any, key: Sequence[str], exc: Exception) -> ValidationSummary:
    """A suite whose query raised (a mart without a column the dataset query needs, a type DuckDB
    cannot compare): failed, with the error's type only. Its message is not kept: a conversion
    error quotes the value it could not convert."""
    return ValidationSummary(suite_name=suite.name, success=False, evaluated=0, failed=(QUERY_FAILED,),
                             severity="error", key=tuple(key), errored=(type(exc).__name__,))


def _raw_outcomes(con: Any, systems: Mapping[str, Mapping[str, Any]], run_date: dt.date | None) -> list[SuiteOutcome]:
    import duckdb

    from expectations.runner import validate_table

    outcomes = []
    for system, specs in systems.items():
        for table, spec in specs.items():
            batch = f"raw_{system}.{table}"
            suite = spec.suite()
            try:
                summary = validate_table(con, batch, suite, spec.key, run_date=run_date)
            except duckdb.Error as exc:
                summary = _query_failed(suite, spec.key_columns, exc)
            outcomes.append(SuiteOutcome(suite, batch, summary))
    return outcomes


def _mart_outcomes(con: Any, names: Iterable[str], run_date: dt.date | None) -> list[SuiteOutcome]:
    """One `validate_marts` call per dataset, so that one dataset's failing query (which the
    runner raises) costs that dataset's page only."""
    import duckdb

    from expectations.runner import validate_marts
    from expectations.suites import MART_SUITES

    outcomes = []
    for name in names:
        spec = MART_SUITES[name]
        try:
            (summary,) = validate_marts(con, names=[name], run_date=run_date)
        except duckdb.Error as exc:
            summary = _query_failed(spec.suite(), spec.key_columns, exc)
        outcomes.append(SuiteOutcome(spec.suite(), f"marts.{name}", summary))
    return outcomes


def suites_only() -> list[SuiteOutcome]:
    """Every suite without an outcome: its page, no validation (a warehouse the runner cannot read)."""
    from expectations.suites import MART_SUITES, SUITES_BY_SYSTEM

    raw = [SuiteOutcome(spec.suite(), f"raw_{system}.{table}", None)
           for system, specs in SUITES_BY_SYSTEM.items() for table, spec in specs.items()]
    return raw + [SuiteOutcome(spec.suite(), f"marts.{name}", None) for name, spec in MART_SUITES.items()]


def collect_summaries(duckdb_path: str | Path, *, run_date: dt.date | None = None) -> list[SuiteOutcome]:
    """Every raw and mart suite validated now, in one short read-only connection, the way the
    checks validate (same engine, same run date default) but without the row-count state: this
    reads and records nothing, and the check of this run already recorded the count (a bound
    against it would compare the table with itself)."""
    from connectors.warehouse_lock import read_connection
    from expectations.suites import MART_SUITES, SUITES_BY_SYSTEM

    with read_connection(duckdb_path) as con:
        return [*_raw_outcomes(con, SUITES_BY_SYSTEM, run_date), *_mart_outcomes(con, MART_SUITES, run_date)]
