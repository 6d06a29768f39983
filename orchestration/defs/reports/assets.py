"""Report assets: the published HTML report, built last from the marts alone."""


import dagster as dg

from connectors.settings import Settings
from orchestration.defs.ingest.assets import DUCKDB_WRITER_POOL

REPORT_INPUTS = [
    ["marts", "fct_leads"],
    ["marts", "fct_opportunities"],
    ["marts", "fct_invoices"],
    ["marts", "fct_cash_receipts"],
    ["marts", "rpt_funnel_conversion"],
    ["marts", "rpt_cash_collection"],
]


@dg.asset(
    key=["reports", "ltc_report"],
    deps=[dg.AssetKey(path) for path in REPORT_INPUTS],
    group_name="reports",
    kinds={"html"},
    owners=["team:data-engineering"],
    pool=DUCKDB_WRITER_POOL,
)
def ltc_report() -> dg.MaterializeResult:
    """The executive LTC report: one self-contained HTML file (funnel and cash collection) per
    as-of date, published to `$LTC_HOME/reports`."""
    from reports.html import build_html_report

    settings = Settings.from_env()
    path = build_html_report(settings.duckdb_path, settings.reports_dir, as_of=settings.as_of)
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(path)), "bytes": path.stat().st_size}
    )
