"""The cash-collection report for finance: what is owed, how old it is, and who to chase.

Finance reads it to run collections: AR aging by bucket and by customer as of the as-of date, the
DSO / best possible DSO / CEI trend, collections against the amount due, the overdue worklist with
a suggested dunning level, and the customers that carry the largest risk. One self-contained HTML
file per as-of date (inline CSS and SVG, a small inline sort/filter script with a no-script
fallback); the same worklists feed the finance workbook (`collection_worklists`).

Everything is read from the marts (fct_ar_aging, rpt_cash_collection and rpt_collection_worklist,
which joins fct_ar_aging to dim_accounts, the Salesforce owner and the finance-edited dunning seed)
through one short-lived read-only connection. The SQL only selects, filters, counts and sums mart
columns: buckets, days past due, DSO, BPDSO, CEI, on-time rate and dunning levels are the marts'.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from reports.collection_charts import (
    aging_bar_svg,
    customer_aging_svg,
    grouped_bars_svg,
    line_chart_svg,
)
from reports.datasets import (
    Connection, fetch_rows, money, month_of, read_only, resolve_as_of, to_date, to_decimal,
)
from reports.formatting import (
    data_value,
    environment,
    fmt_compact_money,
    fmt_date_long,
    fmt_days,
    fmt_int,
    fmt_money,
    fmt_month,
    fmt_pct,
    write_atomic,
)
from reports.html import Tile
from reports.i18n import _
from reports.labels import label as display_label
from reports.worklist import Column, Worklist

TEMPLATE = "cash_collection.html.j2"
RATE_QUANTUM = Decimal("0.0001")
# The buckets fct_ar_aging defines (its aging_bucket accepted values, in aging_bucket_order), with
# the labels people read. Every bucket shows, an empty one as 0.
BUCKETS: tuple[tuple[str, str], ...] = (
    ("current", "Current"),
    ("1-30", "1–30 days"),
    ("31-60", "31–60 days"),
    ("61-90", "61–90 days"),
    ("90+", "90+ days"),
)
BUCKET_KEYS = ("current", "d1_30", "d31_60", "d61_90", "d90_plus")  # worklist column keys
LARGEST_RISKS = 10  # customers in the largest-risks list
CHART_CUSTOMERS = 12  # customers in the stacked AR-by-customer chart
# rpt_cash_collection columns the trend reads that an older mart may lack: shown as missing.
OPTIONAL_TREND_COLUMNS = {
    "countback_dso_days": "Countback DSO",
    "best_possible_dso_days": "Best possible DSO",
    "average_days_delinquent": "Average days delinquent",
    "collection_effectiveness_index_pct": "CEI",
}


# ---------------------------------------------------------------------------------------------
# Data shapes


@dataclass(frozen=True)
class AgingBucket:
    bucket: str  # the mart's aging_bucket
    label: str
    invoices: int
    amount: Decimal  # Σ outstanding_amount_reporting


@dataclass(frozen=True)
class CustomerAR:
    """One unified customer's open AR as of the as-of date (rpt_collection_worklist sums)."""

    customer_key: str
    customer_name: str
    owner_name: str | None  # the account's owner
    invoices: int
    by_bucket: tuple[Decimal, ...]  # in BUCKETS order
    total: Decimal
    overdue: Decimal
    overdue_invoices: int
    max_days_past_due: int
    last_payment_date: dt.date | None
    max_dunning_level: int | None

    @property
    def over_90(self) -> Decimal:
        return self.by_bucket[-1]


@dataclass(frozen=True)
class CollectionMonth:
    """One rpt_cash_collection row (None where the mart has no value or lacks the column)."""

    period_month: dt.date
    invoiced_amount: Decimal
    collected_amount: Decimal
    amount_due: Decimal
    collected_on_time_amount: Decimal
    on_time_collection_rate: Decimal | None
    beginning_ar: Decimal
    ending_ar: Decimal
    current_ar: Decimal
    overdue_ar: Decimal
    dso_days: Decimal | None
    countback_dso_days: Decimal | None
    best_possible_dso_days: Decimal | None
    average_days_delinquent: Decimal | None
    cei_pct: Decimal | None


@dataclass(frozen=True)
class OverdueItem:
    """One overdue invoice of the worklist (rpt_collection_worklist, is_overdue)."""

    customer_name: str
    invoice_number: str
    due_date: dt.date | None
    days_past_due: int
    aging_bucket: str
    currency: str | None
    outstanding_amount: Decimal  # invoice currency
    outstanding_amount_reporting: Decimal
    owner_name: str | None
    last_payment_date: dt.date | None
    dunning_level: int | None
    dunning_level_name: str | None


@dataclass(frozen=True)
class DunningLevel:
    """Overdue invoices at one suggested dunning level (None: no level in the seed's ranges)."""

    level: int | None
    name: str | None
    action: str | None
    invoices: int
    amount: Decimal


@dataclass(frozen=True)
class CollectionData:
    as_of: dt.date
    reporting_currency: str
    buckets: tuple[AgingBucket, ...]
    customers: tuple[CustomerAR, ...]  # by total AR, largest first
    months: tuple[CollectionMonth, ...]  # by month
    overdue: tuple[OverdueItem, ...]  # most days overdue first
    dunning: tuple[DunningLevel, ...]
    missing_metrics: tuple[str, ...]  # trend metrics rpt_cash_collection does not hold

    @property
    def total_ar(self) -> Decimal:
        return sum((b.amount for b in self.buckets), Decimal("0.00"))

    @property
    def overdue_ar(self) -> Decimal:
        return sum((b.amount for b in self.buckets if b.bucket != "current"), Decimal("0.00"))

    @property
    def open_invoices(self) -> int:
        return sum(b.invoices for b in self.buckets)

    @property
    def overdue_invoices(self) -> int:
        return sum(b.invoices for b in self.buckets if b.bucket != "current")

    @property
    def as_of_month(self) -> CollectionMonth | None:
        """The rpt_cash_collection row of the as-of month (the headline DSO, BPDSO, CEI)."""
        month = month_of(self.as_of)
        return next((m for m in self.months if m.period_month == month), None)

    @property
    def on_time_collection_rate(self) -> Decimal | None:
        """Period to date, value-weighted: Σ collected on time ÷ Σ amount due over the months
        (the mart's monthly numerator and denominator summed, as the executive report does)."""
        due = sum((m.amount_due for m in self.months), Decimal(0))
        on_time = sum((m.collected_on_time_amount for m in self.months), Decimal(0))
        return _ratio(on_time, due)

    @property
    def largest_risks(self) -> tuple[CustomerAR, ...]:
        """Customers with overdue AR, 90+ days first, then all overdue, then the name."""
        risky = [c for c in self.customers if c.overdue > 0]
        risky.sort(key=lambda c: (-c.over_90, -c.overdue, c.customer_name, c.customer_key))
        return tuple(risky[:LARGEST_RISKS])


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if not denominator:
        return None
    return (numerator / denominator).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------
# Reading the marts (selects, filters, counts and sums of mart columns only)


def _columns(con: Connection, table: str) -> set[str]:
    return {
        r[0]
        for r in fetch_rows(
            con,
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = ?",
            [table],
        )
    }


def _require(con: Connection, *tables: str) -> None:
    held = {r[0] for r in fetch_rows(con, "select table_name from information_schema.tables where table_schema = 'marts'")}
    missing = [t for t in tables if t not in held]
    if missing:
        raise ValueError(
            f"the warehouse lacks marts.{', marts.'.join(missing)}: run `dbt build` on this dbt project first"
        )


def _as_of(con: Connection, requested: dt.date | None) -> dt.date:
    return resolve_as_of(con, ("rpt_cash_collection", "rpt_collection_worklist"), requested)


def _reporting_currency(con: Connection) -> str:
    for table in ("rpt_cash_collection", "rpt_collection_worklist"):
        (value,) = fetch_rows(con, f"select min(reporting_currency) from marts.{table}")[0]
        if value:
            return str(value)
    return "USD"


def _buckets(con: Connection, as_of: dt.date) -> tuple[AgingBucket, ...]:
    found = {
        str(r[0]): (int(r[1]), money(r[2]))
        for r in fetch_rows(
            con,
            """
            select aging_bucket, count(*), sum(outstanding_amount_reporting)
            from marts.fct_ar_aging
            where as_of_date = ?
            group by aging_bucket
            """,
            [as_of],
        )
    }
    unknown = set(found) - {b for b, _ in BUCKETS}
    if unknown:
        raise ValueError(f"fct_ar_aging has aging buckets this report does not know: {sorted(unknown)}")
    return tuple(
        AgingBucket(bucket=b, label=display_label(label), invoices=found.get(b, (0, Decimal("0.00")))[0],
                    amount=found.get(b, (0, Decimal("0.00")))[1])
        for b, label in BUCKETS
    )


def _customers(con: Connection, as_of: dt.date) -> tuple[CustomerAR, ...]:
    sums = ",\n".join(
        f"sum(outstanding_amount_reporting) filter (where aging_bucket = '{b}')" for b, _ in BUCKETS
    )
    rows = fetch_rows(
        con,
        f"""
        select customer_key, min(customer_name), min(account_owner_name), count(*),
               {sums},
               sum(outstanding_amount_reporting),
               sum(outstanding_amount_reporting) filter (where is_overdue),
               count(*) filter (where is_overdue),
               max(days_past_due), max(last_payment_date), max(dunning_level)
        from marts.rpt_collection_worklist
        where as_of_date = ?
        group by customer_key
        order by sum(outstanding_amount_reporting) desc, min(customer_name), customer_key
        """,
        [as_of],
    )
    n = len(BUCKETS)
    return tuple(
        CustomerAR(
            customer_key=str(r[0]),
            customer_name=str(r[1] or r[0]),
            owner_name=r[2],
            invoices=int(r[3]),
            by_bucket=tuple(money(v) for v in r[4: 4 + n]),
            total=money(r[4 + n]),
            overdue=money(r[5 + n]),
            overdue_invoices=int(r[6 + n] or 0),
            max_days_past_due=int(r[7 + n] or 0),
            last_payment_date=to_date(r[8 + n]),
            max_dunning_level=None if r[9 + n] is None else int(r[9 + n]),
        )
        for r in rows
    )


def _months(con: Connection, as_of: dt.date) -> tuple[tuple[CollectionMonth, ...], tuple[str, ...]]:
    held = _columns(con, "rpt_cash_collection")
    optional = [c if c in held else f"null as {c}" for c in OPTIONAL_TREND_COLUMNS]
    missing = tuple(label for c, label in OPTIONAL_TREND_COLUMNS.items() if c not in held)
    rows = fetch_rows(
        con,
        f"""
        select period_month, invoiced_amount, collected_amount, amount_due, collected_on_time_amount,
               on_time_collection_rate, beginning_ar, ending_ar, current_ar, overdue_ar, dso_days,
               {', '.join(optional)}
        from marts.rpt_cash_collection
        where as_of_date = ?
        order by period_month
        """,
        [as_of],
    )
    months = tuple(
        CollectionMonth(
            period_month=month_of(r[0]),
            invoiced_amount=money(r[1]),
            collected_amount=money(r[2]),
            amount_due=money(r[3]),
            collected_on_time_amount=money(r[4]),
            on_time_collection_rate=to_decimal(r[5]),
            beginning_ar=money(r[6]),
            ending_ar=money(r[7]),
            current_ar=money(r[8]),
            overdue_ar=money(r[9]),
            dso_days=to_decimal(r[10]),
            countback_dso_days=to_decimal(r[11]),
            best_possible_dso_days=to_decimal(r[12]),
            average_days_delinquent=to_decimal(r[13]),
            cei_pct=to_decimal(r[14]),
        )
        for r in rows
    )
    return months, missing


def _overdue(con: Connection, as_of: dt.date) -> tuple[OverdueItem, ...]:
    rows = fetch_rows(
        con,
        """
        select customer_name, invoice_number, due_date, days_past_due, aging_bucket, currency,
               outstanding_amount, outstanding_amount_reporting, owner_name, last_payment_date,
               dunning_level, dunning_level_name, invoice_id
        from marts.rpt_collection_worklist
        where as_of_date = ? and is_overdue
        order by days_past_due desc, outstanding_amount_reporting desc, invoice_number, invoice_id
        """,
        [as_of],
    )
    return tuple(
        OverdueItem(
            customer_name=str(r[0] or ""),
            invoice_number=str(r[1] or r[12]),
            due_date=to_date(r[2]),
            days_past_due=int(r[3]),
            aging_bucket=str(r[4]),
            currency=r[5],
            outstanding_amount=money(r[6]),
            outstanding_amount_reporting=money(r[7]),
            owner_name=r[8],
            last_payment_date=to_date(r[9]),
            dunning_level=None if r[10] is None else int(r[10]),
            dunning_level_name=r[11],
        )
        for r in rows
    )


def _dunning(con: Connection, as_of: dt.date) -> tuple[DunningLevel, ...]:
    rows = fetch_rows(
        con,
        """
        select dunning_level, min(dunning_level_name), min(dunning_action), count(*),
               sum(outstanding_amount_reporting)
        from marts.rpt_collection_worklist
        where as_of_date = ? and is_overdue
        group by dunning_level
        order by dunning_level nulls last
        """,
        [as_of],
    )
    return tuple(
        DunningLevel(level=None if r[0] is None else int(r[0]), name=r[1], action=r[2],
                     invoices=int(r[3]), amount=money(r[4]))
        for r in rows
    )


def load_collection(duckdb_path: Path, as_of: dt.date | None = None) -> CollectionData:
    """Everything the report shows, read through one short-lived read-only connection.

    `as_of` None = the marts' as-of date; any other date than the one the marts were built for is
    an error (the marts hold one as-of date; rebuild them for another).
    """
    with read_only(duckdb_path) as con:
        _require(con, "fct_ar_aging", "rpt_cash_collection", "rpt_collection_worklist")
        day = _as_of(con, as_of)
        months, missing = _months(con, day)
        return CollectionData(
            as_of=day,
            reporting_currency=_reporting_currency(con),
            buckets=_buckets(con, day),
            customers=_customers(con, day),
            months=months,
            overdue=_overdue(con, day),
            dunning=_dunning(con, day),
            missing_metrics=missing,
        )


# ---------------------------------------------------------------------------------------------
# Worklists (the HTML tables and the finance workbook's sheets)


def _level_label(level: int | None, name: str | None) -> str | None:
    if level is None:
        return None
    return f"{level} · {name}" if name else str(level)


def overdue_worklist(data: CollectionData) -> Worklist:
    cur = data.reporting_currency
    return Worklist(
        key="collection_overdue",
        title=_("Overdue invoices"),
        description=_(
            "One row per invoice past its due date with an open balance as of %(date)s, "
            "most days overdue first: chase it at the suggested dunning level."
        ) % {"date": data.as_of.isoformat()},
        columns=(
            Column("customer", _("Customer")),
            Column("invoice", _("Invoice")),
            Column("due_date", _("Due date"), "date"),
            Column("days_overdue", _("Days overdue"), "int"),
            Column("bucket", _("Bucket"), "label"),
            Column("currency", _("Currency")),
            Column("open_amount", _("Open (invoice ccy)"), "money"),
            Column("outstanding", _("Outstanding (%(currency)s)") % {"currency": cur}, "money", total=True),
            Column("owner", _("Owner")),
            Column("last_payment", _("Last payment"), "date"),
            Column("dunning_level", _("Dunning level"), "int"),
            Column("dunning_step", _("Suggested dunning"), "label"),
        ),
        rows=tuple(
            (
                i.customer_name, i.invoice_number, i.due_date, i.days_past_due, i.aging_bucket,
                i.currency, i.outstanding_amount, i.outstanding_amount_reporting, i.owner_name,
                i.last_payment_date, i.dunning_level, i.dunning_level_name,
            )
            for i in data.overdue
        ),
        source="marts.rpt_collection_worklist (fct_ar_aging × collection_dunning_levels)",
        notes=(
            _("Dunning levels come from the seed collection_dunning_levels (days-overdue ranges finance "
              "edits without code). Owner: the opportunity's owner, else the account's."),
        ),
    )


def ar_by_customer_worklist(data: CollectionData) -> Worklist:
    cur = data.reporting_currency
    return Worklist(
        key="collection_ar_by_customer",
        title=_("AR by customer"),
        description=_(
            "One row per customer with open receivables as of %(date)s, by aging "
            "bucket in %(currency)s, largest balance first."
        ) % {"date": data.as_of.isoformat(), "currency": cur},
        columns=(
            Column("customer", _("Customer")),
            Column("owner", _("Account owner")),
            Column("open_invoices", _("Open invoices"), "int", total=True),
            *(Column(key, display_label(label), "money", total=True) for key, (_code, label) in zip(BUCKET_KEYS, BUCKETS)),
            Column("total_ar", _("Total AR (%(currency)s)") % {"currency": cur}, "money", total=True),
            Column("overdue", _("Overdue (%(currency)s)") % {"currency": cur}, "money", total=True),
            Column("oldest_days_overdue", _("Max days overdue"), "int"),
            Column("last_payment", _("Last payment"), "date"),
            Column("dunning_level", _("Highest dunning level"), "int"),
        ),
        rows=tuple(
            (
                c.customer_name, c.owner_name, c.invoices, *c.by_bucket, c.total, c.overdue,
                c.max_days_past_due, c.last_payment_date, c.max_dunning_level,
            )
            for c in data.customers
        ),
        source="marts.rpt_collection_worklist (open invoices of fct_ar_aging by dim_accounts customer)",
    )


def largest_risks_worklist(data: CollectionData) -> Worklist:
    cur = data.reporting_currency
    overdue_total = data.overdue_ar
    return Worklist(
        key="collection_largest_risks",
        title=_("Largest risks"),
        description=_(
            "The %(n)s customers with the most overdue AR as of %(date)s: "
            "90+ days overdue first, then all overdue."
        ) % {"n": LARGEST_RISKS, "date": data.as_of.isoformat()},
        columns=(
            Column("rank", _("Rank"), "int"),
            Column("customer", _("Customer")),
            Column("d90_plus", _("90+ days (%(currency)s)") % {"currency": cur}, "money", total=True),
            Column("overdue", _("Overdue (%(currency)s)") % {"currency": cur}, "money", total=True),
            Column("total_ar", _("Total AR (%(currency)s)") % {"currency": cur}, "money", total=True),
            Column("share_of_overdue", _("Share of overdue AR"), "pct"),
            Column("oldest_days_overdue", _("Max days overdue"), "int"),
            Column("dunning_level", _("Highest dunning level"), "int"),
            Column("owner", _("Account owner")),
            Column("last_payment", _("Last payment"), "date"),
        ),
        rows=tuple(
            (
                rank, c.customer_name, c.over_90, c.overdue, c.total, _ratio(c.overdue, overdue_total),
                c.max_days_past_due, c.max_dunning_level, c.owner_name, c.last_payment_date,
            )
            for rank, c in enumerate(data.largest_risks, start=1)
        ),
        source="marts.rpt_collection_worklist (overdue AR by customer)",
    )


def collection_worklists(data: CollectionData) -> list[Worklist]:
    """The report's worklists, as the finance workbook holds them (one sheet each)."""
    return [overdue_worklist(data), ar_by_customer_worklist(data), largest_risks_worklist(data)]


# ---------------------------------------------------------------------------------------------
# Rendering


def _tiles(data: CollectionData) -> list[Tile]:
    cur = data.reporting_currency
    m = data.as_of_month
    month_label = fmt_month(data.as_of)
    share = _ratio(data.overdue_ar, data.total_ar)
    cei = m.cei_pct if m else None  # percent, 2 decimals in the mart

    def days(metric: str, label: str, value: Decimal | None, note: str) -> Tile:
        return Tile(metric, label, fmt_days(value), _("days") if value is not None else "", data_value(value), note)

    def money(metric: str, label: str, value: Decimal, note: str) -> Tile:
        compact = fmt_compact_money(value, cur)  # 万 / 亿 with the currency symbol in Chinese
        return Tile(metric, label, compact, cur if compact == fmt_money(value) else "", data_value(value), note)

    v = {"month": month_label}
    return [
        money("total_ar", _("Total AR"), data.total_ar,
              _("%(n)s open invoices as of %(date)s") % {"n": fmt_int(data.open_invoices), "date": data.as_of.isoformat()}),
        money("overdue_ar", _("Overdue AR"), data.overdue_ar,
              _("%(n)s invoices past due · %(share)s of AR") % {"n": fmt_int(data.overdue_invoices), "share": fmt_pct(share)}),
        days("dso_days", _("DSO"), m.dso_days if m else None, _("%(month)s, ending AR ÷ month's billings") % v),
        days("best_possible_dso_days", _("Best possible DSO"), m.best_possible_dso_days if m else None,
             _("%(month)s, current AR ÷ month's billings") % v),
        days("average_days_delinquent", _("Avg days delinquent"), m.average_days_delinquent if m else None,
             _("%(month)s, DSO − best possible DSO") % v),
        Tile("cei_pct", _("CEI"), fmt_days(cei), "%" if cei is not None else "", data_value(cei),
             _("%(month)s, collection effectiveness index") % v),
        Tile("on_time_collection_rate", _("On-time collection"), fmt_pct(data.on_time_collection_rate), "",
             data_value(data.on_time_collection_rate), _("Paid by due date ÷ amount due, all months")),
    ]


def _period_label(data: CollectionData) -> str:
    if not data.months:
        return _("as of %(date)s") % {"date": data.as_of.isoformat()}
    return f"{fmt_month(data.months[0].period_month)} – {fmt_month(data.months[-1].period_month)}"


def _charts(data: CollectionData) -> dict[str, Any]:
    cur = data.reporting_currency
    months = [m.period_month for m in data.months]
    return {
        "aging_chart": aging_bar_svg(
            data.buckets, currency=cur, title=_("Open AR by aging bucket as of %(date)s, %(currency)s") % {"date": data.as_of.isoformat(), "currency": cur}
        ),
        "customer_chart": customer_aging_svg(
            data.customers[:CHART_CUSTOMERS], [display_label(label) for _code, label in BUCKETS], currency=cur,
            title=_("Open AR of the %(n)s largest customers by aging bucket, %(currency)s") % {"n": CHART_CUSTOMERS, "currency": cur},
        ),
        "dso_chart": line_chart_svg(
            months,
            [
                (_("DSO"), [m.dso_days for m in data.months]),
                (_("Countback DSO"), [m.countback_dso_days for m in data.months]),
                (_("Best possible DSO"), [m.best_possible_dso_days for m in data.months]),
            ],
            unit=_("days"),
            title=_("DSO, countback DSO and best possible DSO by month, days"),
        ),
        "cei_chart": line_chart_svg(
            months,
            [
                (_("CEI"), [m.cei_pct for m in data.months]),
                (_("On-time collection rate"), [
                    None if m.on_time_collection_rate is None else m.on_time_collection_rate * 100
                    for m in data.months
                ]),
            ],
            unit="%",
            title=_("Collection effectiveness index and on-time collection rate by month, percent"),
        ),
        "due_chart": grouped_bars_svg(
            months,
            [
                (_("Amount due"), [m.amount_due for m in data.months]),
                (_("Collected on time"), [m.collected_on_time_amount for m in data.months]),
                (_("Collected in month"), [m.collected_amount for m in data.months]),
            ],
            currency=cur,
            title=_("Amount due, collected on time and collected by month, %(currency)s") % {"currency": cur},
        ),
    }


def render_collection(data: CollectionData, *, generated_at: dt.datetime,
                      worklists: Sequence[Worklist] | None = None) -> str:
    """The report as an HTML string (pure: no I/O). `worklists`: `collection_worklists(data)`,
    when the caller has built them already (an edition shows them in the workbook too)."""
    if worklists is None:
        worklists = collection_worklists(data)
    context = {
        "title": _("Cash-collection report"),
        "as_of_iso": data.as_of.isoformat(),
        "as_of_long": fmt_date_long(data.as_of),
        "period_label": _period_label(data),
        "currency": data.reporting_currency,
        "generated_at": generated_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "tiles": _tiles(data),
        "buckets": data.buckets,
        "total_ar": data.total_ar,
        "open_invoices": data.open_invoices,
        "months": data.months,
        "dunning": data.dunning,
        "missing_metrics": data.missing_metrics,
        "overdue_wl": worklists[0],
        "customers_wl": worklists[1],
        "risks_wl": worklists[2],
        "largest_risks_n": LARGEST_RISKS,
        **_charts(data),
    }
    return environment().get_template(TEMPLATE).render(**context)


def build_collection_report(
    duckdb_path: Path,
    out_dir: Path,
    *,
    as_of: dt.date | None = None,
    generated_at: dt.datetime | None = None,
) -> Path:
    """Write ``cash_collection_<as-of>.html`` into `out_dir` atomically and return its path."""
    data = load_collection(duckdb_path, as_of)
    html = render_collection(data, generated_at=generated_at or dt.datetime.now(dt.timezone.utc))
    path = Path(out_dir) / f"cash_collection_{data.as_of.isoformat()}.html"
    write_atomic(path, html)
    return path
