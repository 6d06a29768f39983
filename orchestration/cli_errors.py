"""What `ltc` says when a command fails, in the reader's language.

Why a module of its own: the connectors, checks and reports are plain Python libraries whose errors
also land in logs, Dagster events and alerts, and whose details are technical by nature (a setting's
name, a file and line, a Salesforce error code, a table). Those details stay as they are raised, in
English: a support search or a colleague's grep finds them. What a Chinese reader needs on top is
what kind of failure it is and what to do, so each kind of error (its class, or a base class) has
one translated headline here, and the CLI prints the headline, then the detail:

    ltc：错误：数据导入失败：请按下面的详情修正设置或数据源，然后重新运行。
      详情：LTC_ERP_URL is not set; set it to the ERP's SQLAlchemy URL (...)

In English the detail is the message, as before: one line. Errors the CLI raises itself (CliError)
are already translated and print as one line in every locale.
"""

from __future__ import annotations

from reports.i18n import DEFAULT_LOCALE, N_, _

_BAD_FILE = N_("an input file cannot be read: correct or replace it, then run again")
# (class name anywhere in the exception's MRO, headline); the first match wins, so a subclass is
# listed before its base. Names, not classes: the CLI must not import every connector to say this.
HEADLINES: tuple[tuple[str, str], ...] = (
    ("WarehouseBusy", N_("the warehouse is in use by another run or program: let it finish, or close it, "
                         "then run again")),
    ("HalfAppliedLoad", N_("an earlier ingest stopped while loading: run that system's ingest again "
                           "before building")),
    ("SalesforceConfigError", N_("the Salesforce connection is not configured correctly: check the "
                                 "SALESFORCE_* settings")),
    ("SalesforceLimitError", N_("the Salesforce API quota is used up: run again when it has recovered "
                                "(what was landed is kept)")),
    ("SalesforceExtractError", N_("reading from Salesforce failed: a new run continues where this one "
                                  "stopped")),
    ("BulkJobFailed", N_("a Salesforce Bulk API job failed: a new run continues where this one stopped")),
    ("BulkCsvError", N_("Salesforce sent Bulk API results that cannot be read; nothing of them was "
                        "landed")),
    ("HubSpotApiError", N_("a marketing API request failed: a new run continues where this one stopped")),
    ("HubSpotDataError", N_("the marketing API sent data of an unexpected shape; nothing of it was "
                            "landed")),
    ("ErpMappingError", N_("the ERP mapping does not fit the ERP database: check the mapping file "
                           "(LTC_ERP_MAPPING)")),
    ("LandingConfigError", N_("the warehouse is not configured correctly: check LTC_WAREHOUSE and its "
                              "connection settings")),
    ("IngestError", N_("the ingest failed: fix the setting or the source the detail names, then run "
                       "again")),
    ("CamtParseError", _BAD_FILE),
    ("BankFileError", _BAD_FILE),
    ("FileFormatError", _BAD_FILE),
    ("PipelineError", N_("the full refresh failed: fix the failed steps listed in the detail, then run "
                         "`ltc run` again")),
    ("MailError", N_("the reports could not be mailed: check the LTC_SMTP_* settings")),
    ("PdfError", N_("the PDF report could not be printed with Chromium")),
    ("AlertDeliveryError", N_("the alert could not be delivered: check LTC_ALERT_WEBHOOK_URL")),
)
# anything else (a setting refused by Settings, a bug): still say that the detail follows
FALLBACK = N_("the command failed")


def headline(exc: BaseException) -> str:
    """The untranslated headline of `exc`'s kind (a catalogue msgid)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return next((text for name, text in HEADLINES if name in names), FALLBACK)


def detail(exc: BaseException) -> str:
    """The first line of the error's own message, else its class name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def error_lines(exc: BaseException, locale: str) -> list[str]:
    """The lines `ltc` prints to stderr for `exc`, in the current gettext locale `locale`."""
    if locale == DEFAULT_LOCALE or type(exc).__name__ == "CliError":
        return [_("ltc: error: %(message)s") % {"message": detail(exc)}]
    return [_("ltc: error: %(message)s") % {"message": _(headline(exc))},
            "  " + _("detail: %(detail)s") % {"detail": detail(exc)}]
