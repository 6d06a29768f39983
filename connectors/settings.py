"""One place that turns the environment into settings.

Every variable the project reads is read here (and listed in `.env.example`), so that the
CLI, the connectors, dbt's profile and Dagster agree on paths and targets. Values are read
when `Settings.from_env()` is called, never at import time, so tests can set the
environment first. Secrets are kept out of `repr()` so they cannot leak into logs.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from connectors.values import ISO_4217

SYSTEMS = ("salesforce", "erp", "finance", "marketing")

# Nothing at run time may reach the internet: every library that phones home by default is
# told not to. Applied with setdefault, so an operator can still override a value.
OFFLINE_DEFAULTS = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "GX_ANALYTICS_ENABLED": "false",
}


def apply_offline_defaults() -> None:
    """Switch off telemetry of dlt, dbt and Great Expectations for this process (Dagster: see `orchestration.instance`)."""
    for name, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _date(name: str, value: str | None) -> dt.date | None:
    """An ISO date variable; anything else is refused naming the variable (the as-of date reaches
    dbt's SQL as a literal, so it must be a date and nothing more)."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a date; use YYYY-MM-DD") from None


def _reporting_currency(value: str) -> str:
    """LTC_REPORTING_CURRENCY as an active ISO 4217 code, or ValueError naming the variable: it
    reaches dbt's SQL as a quoted literal (macro reporting_currency()), so nothing but three
    letters from the list may pass, and a typo ("RMB", "usd ") must not silently match no FX rate."""
    code = value.strip().upper()
    if code not in ISO_4217:
        raise ValueError(f"LTC_REPORTING_CURRENCY={value!r} is not an active ISO 4217 currency code (e.g. USD, CNY)")
    return code


def _csv_tuple(value: str | None) -> tuple[str, ...] | None:
    items = tuple(v.strip() for v in (value or "").split(",") if v.strip())
    return items or None


# The SMTP settings and the deprecated variables each falls back to (the alert-only names of
# before report mail shared the server).
SMTP_VARIABLES = {
    "host": ("LTC_SMTP_HOST", "LTC_ALERT_SMTP_HOST"),
    "port": ("LTC_SMTP_PORT", "LTC_ALERT_SMTP_PORT"),
    "from": ("LTC_SMTP_FROM", "LTC_ALERT_SMTP_FROM"),
    "user": ("LTC_SMTP_USER", "LTC_ALERT_SMTP_USER"),
    "password": ("LTC_SMTP_PASSWORD", "LTC_ALERT_SMTP_PASSWORD"),
    "tls": ("LTC_SMTP_TLS", "LTC_ALERT_SMTP_TLS"),
}


def deprecated_smtp_variables() -> list[str]:
    """The deprecated LTC_ALERT_SMTP_* variables set in the environment (for a notice in the logs)."""
    return [legacy for _, legacy in SMTP_VARIABLES.values() if _env(legacy) is not None]


def _smtp_from_env() -> dict[str, object]:
    """The SMTP server's settings: each LTC_SMTP_* variable, else its deprecated LTC_ALERT_SMTP_*
    twin. The legacy values describe the legacy host: when LTC_SMTP_HOST names another server, none
    of them (port, sender, TLS mode, user, password) is used, so a `LTC_ALERT_SMTP_TLS=none` meant
    for a local relay can never send new credentials in clear text to a remote server."""
    host = _env("LTC_SMTP_HOST", _env("LTC_ALERT_SMTP_HOST"))
    legacy_host = _env("LTC_ALERT_SMTP_HOST")
    same_server = legacy_host is None or host == legacy_host

    def pick(name: str) -> str | None:
        current, legacy = SMTP_VARIABLES[name]
        return _env(current, _env(legacy) if same_server else None)

    tls = pick("tls") or "auto"
    return {
        "smtp_host": host,
        "smtp_port": int(pick("port") or ("465" if tls.lower() == "ssl" else "25")),
        "smtp_from": pick("from"),
        "smtp_user": pick("user"),
        "smtp_password": pick("password"),
        "smtp_tls": tls,
    }


@dataclass(frozen=True)
class Settings:
    home: Path
    duckdb_path: Path
    warehouse: str = "duckdb"
    # LTC_WAREHOUSE=spark: raw tables land as Parquet files (dlt's filesystem destination) under
    # <raw_path>/raw_<system>/<table>/, for dbt on Spark (dbt target `spark`, docs/scale-out.md)
    raw_path: Path | None = None
    # DuckDB's memory cap while landing (it spills to $LTC_HOME/duckdb_tmp beyond it); DuckDB's own
    # default is 80 % of RAM. Landing 1M Salesforce rows peaked at 1,039 MB RSS with 1GB, 853 MB with
    # 512MB (+4 % time), 678 MB with 256MB (+16 %) (benchmarks/salesforce.py; LTC_DUCKDB_MEMORY_LIMIT)
    duckdb_memory_limit: str = "512MB"
    pg_dsn: str | None = field(default=None, repr=False)
    # Dagster's instance storage (runs, event log, schedules): Postgres on this host when
    # LTC_DAGSTER_PG_HOST is set, else SQLite under $LTC_HOME/dagster (orchestration/instance.py).
    # dagster.yaml names the password's variable, never its value.
    dagster_pg_host: str | None = None
    dagster_pg_port: int = 5432
    dagster_pg_db: str = "dagster"
    dagster_pg_user: str = "postgres"
    dagster_pg_password: str | None = field(default=None, repr=False)
    reporting_currency: str = "USD"
    as_of: dt.date | None = None
    locale: str = "en"
    # Salesforce
    salesforce_instance_url: str | None = None
    salesforce_access_token: str | None = field(default=None, repr=False)
    salesforce_client_id: str | None = field(default=None, repr=False)
    salesforce_client_secret: str | None = field(default=None, repr=False)
    salesforce_username: str | None = None
    salesforce_password: str | None = field(default=None, repr=False)
    salesforce_security_token: str | None = field(default=None, repr=False)
    # stop a run when fewer than this % of the org's daily API requests remain (Sforce-Limit-Info)
    salesforce_api_reserve_pct: float = 10.0
    # Rows at or above which a read window goes through Bulk API 2.0 (the first REST page's
    # totalSize is the estimate, so deciding costs no extra call); 0 = REST only.
    salesforce_bulk_threshold: int = 20_000
    # The objects to land (LTC_SF_OBJECTS, comma-separated, custom `__c` objects allowed);
    # None = connectors.salesforce.source.DEFAULT_OBJECTS.
    salesforce_objects: tuple[str, ...] | None = None
    # Overlap re-read below the saved cursor (SystemModstamp can lag the commit; Airbyte uses 600 s)
    salesforce_lookback_s: int = 600
    # Read timeout of every Salesforce HTTP call, seconds (connect timeout is 10 s)
    salesforce_timeout_s: float = 120.0
    # ERP, finance, marketing
    erp_url: str | None = field(default=None, repr=False)
    erp_mapping: Path | None = None  # LTC_ERP_MAPPING; None = connectors/erp/mappings/sandbox.yml
    # Lookback re-read below the saved ERP cursor, seconds (a row's updated_at can precede its commit)
    erp_lookback_s: int = 300
    # dlt sql_database backend for the ERP read: auto (connectorx for PostgreSQL when installed,
    # else pyarrow), pyarrow or connectorx; connectorx read 1M Postgres lines ~1.5x faster (benchmarks/erp.py)
    erp_backend: str = "auto"
    finance_drop: str | None = None
    # Finance drop: where unreadable statement files are moved (default <drop>/.quarantine), the
    # settle window in seconds (a file whose size/mtime moves within it is left for the next run),
    # and the bank-CSV column map (JSON; default connectors.finance.bank_csv.DEFAULT_MAP)
    finance_quarantine: str | None = None
    finance_settle_s: float = 2.0
    finance_csv_map: Path | None = None
    # Extra processes parsing statement files beside the ingest process when a run has more than
    # `drop.PARALLEL_MIN_BYTES` of them (0: parse in-process only); default: cores - 1, at most 3
    finance_workers: int = 1
    adspend_drop: str | None = None
    marketing_api_url: str | None = None
    marketing_api_token: str | None = field(default=None, repr=False)
    # Read timeout of every marketing API call, seconds (a stalled answer is retried like a 5xx)
    marketing_api_timeout_s: float = 60.0
    # Automation (orchestration/defs/automation). Time zone of every cron schedule (LTC_TIMEZONE)
    # and the hourly incremental CRM refresh's cron (LTC_CRM_CRON).
    timezone: str = "UTC"
    crm_cron: str = "0 * * * *"
    # Finance-drop sensor: seconds between two looks at the drop (LTC_FINANCE_SENSOR_INTERVAL_S)
    finance_sensor_interval_s: int = 30
    # Freshness checks: a raw asset is overdue when its last update is older than this many hours
    # (LTC_FRESHNESS_<SYSTEM>_H). CRM refreshes hourly (2 h = one missed run); the rest daily (26 h =
    # a day plus slack for a slow run).
    freshness_salesforce_h: float = 2.0
    freshness_erp_h: float = 26.0
    freshness_finance_h: float = 26.0
    freshness_marketing_h: float = 26.0
    # Ingest retries of transient failures (LTC_RETRY_MAX retries; waits LTC_RETRY_DELAY_S, then x2 each time)
    retry_max: int = 3
    retry_delay_s: float = 10.0
    # Mail (reports/mail.py): the one SMTP server of report mail and run-failure alerts
    # (LTC_SMTP_HOST/PORT/FROM/USER/PASSWORD/TLS; TLS auto | starttls | ssl | none; the port defaults
    # to 465 with ssl, else 25). Deprecated but still read: LTC_ALERT_SMTP_HOST/PORT/FROM/USER/
    # PASSWORD/TLS, each a fallback for its LTC_SMTP_* twin; the legacy USER/PASSWORD are only used
    # for the legacy host, never sent to a different LTC_SMTP_HOST (`_smtp_from_env`).
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str | None = None
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_tls: str = "auto"
    # Report mail: recipients (LTC_REPORT_MAIL_TO, comma-separated; unset = no report mail) and the
    # largest file attached, in MB of 1,000,000 bytes (LTC_REPORT_MAIL_MAX_MB); a larger file is
    # named in the body instead (base64 makes an attachment a third larger in the mail).
    report_mail_to: tuple[str, ...] | None = None
    report_mail_max_mb: float = 10.0
    # Run-failure alerts: mailed to LTC_ALERT_SMTP_TO (comma-separated) through the SMTP server
    # above, and/or posted to a webhook (LTC_ALERT_WEBHOOK_URL, which may carry a token: a secret)
    alert_smtp_to: tuple[str, ...] | None = None
    alert_webhook_url: str | None = field(default=None, repr=False)
    # Deprecated: LTC_ALERT_SMTP_PASSWORD as set. The server's password is `smtp_password`; this
    # field only keeps the legacy value among `secrets()`, so it is redacted even when unused.
    alert_smtp_password: str | None = field(default=None, repr=False)
    alert_timeout_s: float = 10.0

    @classmethod
    def from_env(cls) -> "Settings":
        home = Path(_env("LTC_HOME", ".ltc")).expanduser().resolve()
        as_of = _env("LTC_AS_OF")
        mapping = _env("LTC_ERP_MAPPING")
        return cls(
            home=home,
            duckdb_path=Path(_env("LTC_DUCKDB_PATH", str(home / "warehouse.duckdb"))).expanduser().resolve(),
            warehouse=_env("LTC_WAREHOUSE", "duckdb"),
            raw_path=Path(_env("LTC_RAW_PATH", str(home / "raw"))).expanduser().resolve(),
            duckdb_memory_limit=_env("LTC_DUCKDB_MEMORY_LIMIT", "512MB"),
            pg_dsn=_env("LTC_PG_DSN"),
            dagster_pg_host=_env("LTC_DAGSTER_PG_HOST"),
            dagster_pg_port=int(_env("LTC_DAGSTER_PG_PORT", "5432")),
            dagster_pg_db=_env("LTC_DAGSTER_PG_DB", "dagster"),
            dagster_pg_user=_env("LTC_DAGSTER_PG_USER", "postgres"),
            dagster_pg_password=_env("LTC_DAGSTER_PG_PASSWORD"),
            reporting_currency=_reporting_currency(_env("LTC_REPORTING_CURRENCY", "USD")),
            as_of=_date("LTC_AS_OF", as_of),
            locale=_env("LTC_LOCALE", "en"),
            salesforce_instance_url=_env("SALESFORCE_INSTANCE_URL"),
            salesforce_access_token=_env("SALESFORCE_ACCESS_TOKEN"),
            salesforce_client_id=_env("SALESFORCE_CLIENT_ID"),
            salesforce_client_secret=_env("SALESFORCE_CLIENT_SECRET"),
            salesforce_username=_env("SALESFORCE_USERNAME"),
            salesforce_password=_env("SALESFORCE_PASSWORD"),
            salesforce_security_token=_env("SALESFORCE_SECURITY_TOKEN"),
            salesforce_api_reserve_pct=float(_env("LTC_SF_API_RESERVE_PCT", "10")),
            salesforce_bulk_threshold=int(_env("LTC_SF_BULK_THRESHOLD", "20000")),
            salesforce_objects=_csv_tuple(_env("LTC_SF_OBJECTS")),
            salesforce_lookback_s=int(_env("LTC_SF_LOOKBACK_S", "600")),
            salesforce_timeout_s=float(_env("LTC_SF_TIMEOUT_S", "120")),
            erp_url=_env("LTC_ERP_URL"),
            erp_mapping=Path(mapping) if mapping else None,
            erp_lookback_s=int(_env("LTC_ERP_LOOKBACK_S", "300")),
            erp_backend=_env("LTC_ERP_BACKEND", "auto"),
            finance_drop=_env("LTC_FINANCE_DROP"),
            finance_quarantine=_env("LTC_FINANCE_QUARANTINE"),
            finance_settle_s=float(_env("LTC_FINANCE_SETTLE_S", "2")),
            finance_csv_map=Path(_env("LTC_FINANCE_CSV_MAP")) if _env("LTC_FINANCE_CSV_MAP") else None,
            finance_workers=int(_env("LTC_FINANCE_WORKERS", str(min((os.cpu_count() or 1) - 1, 3)))),
            adspend_drop=_env("LTC_ADSPEND_DROP"),
            marketing_api_url=_env("LTC_MARKETING_API_URL"),
            marketing_api_token=_env("LTC_MARKETING_API_TOKEN"),
            marketing_api_timeout_s=float(_env("LTC_MARKETING_API_TIMEOUT_S", "60")),
            timezone=_env("LTC_TIMEZONE", "UTC"),
            crm_cron=_env("LTC_CRM_CRON", "0 * * * *"),
            finance_sensor_interval_s=int(_env("LTC_FINANCE_SENSOR_INTERVAL_S", "30")),
            freshness_salesforce_h=float(_env("LTC_FRESHNESS_SALESFORCE_H", "2")),
            freshness_erp_h=float(_env("LTC_FRESHNESS_ERP_H", "26")),
            freshness_finance_h=float(_env("LTC_FRESHNESS_FINANCE_H", "26")),
            freshness_marketing_h=float(_env("LTC_FRESHNESS_MARKETING_H", "26")),
            retry_max=int(_env("LTC_RETRY_MAX", "3")),
            retry_delay_s=float(_env("LTC_RETRY_DELAY_S", "10")),
            **_smtp_from_env(),
            report_mail_to=_csv_tuple(_env("LTC_REPORT_MAIL_TO")),
            report_mail_max_mb=float(_env("LTC_REPORT_MAIL_MAX_MB", "10")),
            alert_smtp_to=_csv_tuple(_env("LTC_ALERT_SMTP_TO")),
            alert_smtp_password=_env("LTC_ALERT_SMTP_PASSWORD"),
            alert_webhook_url=_env("LTC_ALERT_WEBHOOK_URL"),
            alert_timeout_s=float(_env("LTC_ALERT_TIMEOUT_S", "10")),
        )

    @property
    def sandbox_dir(self) -> Path:
        return self.home / "sandbox"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def dlt_dir(self) -> Path:
        """dlt's local working folder; the authoritative state lives in the warehouse."""
        return self.home / "dlt"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def alerts_dir(self) -> Path:
        """Where run-failure alerts are recorded (`alerts.jsonl`, one JSON line per failed run)."""
        return self.home / "alerts"

    def freshness_hours(self, system: str) -> float:
        """The freshness lower bound of `system`'s raw assets, in hours."""
        return float(getattr(self, f"freshness_{system}_h"))

    def export_paths(self) -> None:
        """Put the resolved paths into this process's environment, so that subprocesses (dbt,
        `dagster dev`) use the same warehouse file whatever their working directory."""
        os.environ["LTC_HOME"] = str(self.home)
        os.environ["LTC_DUCKDB_PATH"] = str(self.duckdb_path)

    def secrets(self) -> list[str]:
        """Every secret value set, so callers can check that none leaked into an artifact."""
        return [
            getattr(self, f.name)
            for f in fields(self)
            if not f.repr and getattr(self, f.name)
        ]
