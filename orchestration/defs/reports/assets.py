"""Report assets, built last from the marts alone: the published edition, then its mail.

`reports/edition` builds every report of the as-of date (executive HTML + PDF, cash collection,
contract-to-receipt reconciliation, the finance workbook) into a staging folder and publishes it
as one edition (reports/publish.py): a blocked or failed run leaves the last good edition and
`latest` untouched. It depends on every mart, so a blocking (ERROR) check on any mart stops it.

`reports/mail` sends the edition when report mail is configured (LTC_REPORT_MAIL_TO and the SMTP
server). It is its own asset so that a mail server that is down fails only the mail, visibly,
and a retry re-sends without rebuilding anything.
"""


import dagster as dg

from connectors.settings import Settings
from orchestration.defs.ingest.assets import DUCKDB_WRITER_POOL
from orchestration.defs.transform.dbt import ltc_dbt_models

# Every mart (fct_/dim_/rpt_ under `marts/`), read from the dbt manifest rather than listed, so a
# new mart is upstream of the reports and the docs without anyone remembering to add it.
REPORT_INPUTS = sorted(
    key.path for key in ltc_dbt_models.keys
    if key.path[0] == "marts" and key.path[-1].startswith(("fct_", "dim_", "rpt_"))
)


@dg.asset(
    key=["reports", "edition"],
    deps=[dg.AssetKey(path) for path in REPORT_INPUTS],
    group_name="reports",
    kinds={"html", "excel", "pdf"},
    owners=["team:data-engineering"],
    pool=DUCKDB_WRITER_POOL,
)
def report_edition(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Every report for the as-of date, published at once to `$LTC_HOME/reports/<as-of>/`, with
    `latest` and the editions index updated only when all of them were built."""
    from reports.edition import publish_reports

    settings = Settings.from_env()
    edition = publish_reports(settings, run_id=context.run_id)
    metadata = {
        "edition": dg.MetadataValue.path(str(edition.path)),
        "as_of": edition.as_of.isoformat(),
        "files": dg.MetadataValue.json([f.name for f in edition.files]),
        "bytes": sum(f.stat().st_size for f in edition.files if f.exists()),
    }
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=["reports", "mail"],
    deps=[report_edition],
    group_name="reports",
    kinds={"email"},
    owners=["team:data-engineering"],
)
def report_mail(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """The edition this run published (the warehouse's as-of date) mailed to LTC_REPORT_MAIL_TO
    (summary in the body, files attached), when report mail is configured; otherwise recorded as
    not sent."""
    from reports.edition import mail_edition, published_edition

    settings = Settings.from_env()
    try:
        edition = published_edition(settings)
    except LookupError as exc:
        raise dg.Failure(str(exc)) from exc
    sent = mail_edition(settings, edition)
    if not sent:
        context.log.info("report mail not configured (LTC_REPORT_MAIL_TO, LTC_SMTP_HOST, LTC_SMTP_FROM)")
    return dg.MaterializeResult(
        metadata={"sent": sent, "as_of": edition.as_of.isoformat(),
                  "recipients": len(settings.report_mail_to or ()) if sent else 0}
    )
