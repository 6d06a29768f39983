"""Report datasets: plain Python data read from the marts (docs/contracts.md §3).

Every function opens a short-lived **read-only** DuckDB connection and closes it before
returning (DuckDB allows one writer; a report must never hold the warehouse). The SQL here only
selects, counts and sums mart columns: the business rules (FX, cash application, DSO, on-time
rate, funnel stages) live in the marts, not in the report.

Money is `Decimal` (DuckDB returns `Decimal` for DECIMAL columns), quantised to cents. Ratios
are `Decimal` too. Nothing here reads a personal-data column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb

from connectors.warehouse_lock import read_connection

CENT = Decimal("0.01")
RATE_QUANTUM = Decimal("0.0001")
STAGES: tuple[tuple[str, str], ...] = (
    ("S1", "acquire"),
    ("S2", "assign"),
    ("S3", "follow up"),
    ("S4", "opportunity"),
    ("S5", "commercial"),
    ("S6", "fulfil and collect"),
)

Connection = duckdb.DuckDBPyConnection


# ---------------------------------------------------------------------------------------------
# Value helpers


def to_decimal(value: Any) -> Decimal | None:
    """Exact `Decimal` from a DuckDB value (DECIMAL → as is; DOUBLE → via its shortest repr; text,
    such as a DECIMAL cast to VARCHAR → its digits)."""
    if value is None:
        return None
    if value.__class__ is str:  # first: reports/reconciliation.py reads its amounts as text
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return Decimal(repr(value))
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: Any) -> Decimal:
    """Money in cents, half away from zero; a missing sum is zero."""
    d = to_decimal(value)
    return (d if d is not None else Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP)


def money_or_none(value: Any) -> Decimal | None:
    d = to_decimal(value)
    return None if d is None else d.quantize(CENT, rounding=ROUND_HALF_UP)


def to_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def month_of(value: Any) -> dt.date | None:
    """First day of the month of a DATE/TIMESTAMP or a ``YYYY-MM[-DD]`` string."""
    if value is None:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return dt.date(value.year, value.month, 1)
    text = str(value)
    return dt.date(int(text[0:4]), int(text[5:7]), 1)


# ---------------------------------------------------------------------------------------------
# Data shapes


@dataclass(frozen=True)
class Headline:
    """The headline figures. Metric names match the HTML `data-metric` attributes."""

    leads: int
    converted_leads: int
    won_opportunities: int
    won_amount: Decimal
    invoiced_total: Decimal
    collected_total: Decimal
    on_time_collection_rate: Decimal | None
    dso_days: Decimal | None
    overdue_ar: Decimal | None
    reporting_currency: str

    METRICS = (
        "leads",
        "converted_leads",
        "won_opportunities",
        "won_amount",
        "invoiced_total",
        "collected_total",
        "on_time_collection_rate",
        "dso_days",
        "overdue_ar",
    )

    def as_dict(self) -> dict[str, int | Decimal | None]:
        return {name: getattr(self, name) for name in self.METRICS}


@dataclass(frozen=True)
class FunnelRow:
    measure_type: str  # "cohort" | "period"
    period_month: dt.date
    stage_code: str
    stage_order: int
    step_name: str
    journeys: int
    conversion_from_previous: Decimal | None


@dataclass(frozen=True)
class FunnelStage:
    """One stage of a funnel summed over all months of a measure type."""

    stage_code: str
    stage_order: int
    step_name: str
    journeys: int
    conversion_from_previous: Decimal | None  # Σ journeys(k) / Σ journeys(k-1)
    share_of_first: Decimal | None  # Σ journeys(k) / Σ journeys(S1)


@dataclass(frozen=True)
class CashMonth:
    period_month: dt.date
    reporting_currency: str
    invoiced_amount: Decimal
    collected_amount: Decimal
    amount_due: Decimal
    collected_on_time_amount: Decimal
    on_time_collection_rate: Decimal | None
    ending_ar: Decimal
    overdue_ar: Decimal
    dso_days: Decimal | None


@dataclass(frozen=True)
class ExecMonth:
    """One month of the executive tiles, each figure read from the mart that defines it.

    booked: closed-won opportunities with a close date in the month (fct_opportunities, as
    rpt_revenue_bridge counts bookings); billed/collected/DSO/on-time/overdue: rpt_cash_collection;
    won rate: rpt_pipeline_performance (deals closed in the month); exceptions: the open
    fct_reconciliation_exceptions detected in the month. None = the mart holds no row for it.
    """

    period_month: dt.date
    booked_amount: Decimal
    booked_count: int
    invoiced_amount: Decimal | None
    collected_amount: Decimal | None
    win_rate_by_count: Decimal | None
    win_rate_by_value: Decimal | None
    won_count: int | None
    lost_count: int | None
    dso_days: Decimal | None
    on_time_collection_rate: Decimal | None
    overdue_ar: Decimal | None
    exceptions_amount: Decimal
    exceptions_count: int


@dataclass(frozen=True)
class ExceptionQueue:
    """The whole open exception queue as of the as-of date (fct_reconciliation_exceptions)."""

    count: int
    amount: Decimal


@dataclass(frozen=True)
class DimensionRow:
    """One slice of a funnel breakdown (channel, campaign, region or owner), cohort view summed
    over every cohort month: journeys that started S1, counted at each stage they reached."""

    dimension: str
    value: str
    label: str
    stages: tuple[int, ...]  # journeys per stage, in stage order (S1 first)

    def share(self, index: int) -> Decimal | None:
        """Journeys at stage `index` ÷ journeys at S1 (None when the slice has no S1)."""
        return _ratio(self.stages[index], self.stages[0]) if self.stages else None


@dataclass(frozen=True)
class Breakdown:
    dimension: str
    stage_codes: tuple[str, ...]
    rows: tuple[DimensionRow, ...]

    @property
    def totals(self) -> tuple[int, ...]:
        return tuple(sum(r.stages[i] for r in self.rows) for i in range(len(self.stage_codes)))


@dataclass(frozen=True)
class SourceFreshness:
    """When one source system last landed (rpt_source_freshness; wall-clock UTC)."""

    source_system: str
    raw_schema: str
    last_loaded_at: dt.datetime | None
    stalest_table_loaded_at: dt.datetime | None
    table_count: int
    landed_table_count: int
    row_count: int


@dataclass(frozen=True)
class ReportData:
    as_of: dt.date
    reporting_currency: str
    headline: Headline
    funnel_cohort: tuple[FunnelRow, ...]
    funnel_period: tuple[FunnelRow, ...]
    cash_collection: tuple[CashMonth, ...]
    exec_months: tuple[ExecMonth, ...] = ()  # the month before the as-of month, then the as-of month
    exception_queue: ExceptionQueue = ExceptionQueue(0, Decimal("0.00"))
    breakdowns: tuple[Breakdown, ...] = ()
    freshness: tuple[SourceFreshness, ...] = ()

    @property
    def cohort_stages(self) -> tuple[FunnelStage, ...]:
        return summarise_funnel(self.funnel_cohort)

    @property
    def period_stages(self) -> tuple[FunnelStage, ...]:
        return summarise_funnel(self.funnel_period)


# ---------------------------------------------------------------------------------------------
# Connection


@contextmanager
def read_only(duckdb_path: Path | str) -> Iterator[Connection]:
    """A read-only connection that is always closed; it waits for a writer step of another run
    rather than failing on the file lock (connectors/warehouse_lock.py)."""
    with read_connection(duckdb_path) as con:
        yield con


def fetch_rows(con: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Every row of `sql` (parameters bound, never formatted in)."""
    return con.execute(sql, list(params)).fetchall()


def _has_column(con: Connection, schema: str, table: str, column: str) -> bool:
    return bool(
        fetch_rows(
            con,
            "select 1 from information_schema.columns "
            "where table_schema = ? and table_name = ? and column_name = ?",
            [schema, table, column],
        )
    )


def _one(con: Connection, sql: str, params: Sequence[Any] = ()) -> tuple:
    rows = fetch_rows(con, sql, params)
    return rows[0] if rows else ()


# ---------------------------------------------------------------------------------------------
# Queries (selects and sums of mart columns only)


def resolve_as_of(con: Connection, tables: Sequence[str], requested: dt.date | None) -> dt.date:
    """The one as-of date the marts in `tables` were built for, checked against `requested`.

    Every report is as of the date its marts state, and only that date: marts that disagree, or a
    requested date the marts were not built for, is an error that says what to do. A mart with no
    rows yet says nothing; when none of them says anything, the requested date is taken, and
    without one that is an error too. The one place this rule lives, for every report.
    """
    held: set[dt.date] = set()
    for table in tables:
        try:
            dates = fetch_rows(con, f"select distinct as_of_date from marts.{table}")
        except duckdb.CatalogException as exc:
            raise ValueError(f"marts.{table} is missing: run `dbt build` on this dbt project first") from exc
        held |= {d for d in (to_date(r[0]) for r in dates) if d is not None}
    if len(held) > 1:
        found = ", ".join(sorted(d.isoformat() for d in held))
        raise ValueError(f"the marts disagree on the as-of date ({found}): rebuild them")
    if not held:
        if requested is None:
            raise ValueError(f"the marts hold no as-of date ({', '.join(tables)} are empty): build them first")
        return requested
    (built,) = held
    if requested is not None and requested != built:
        raise ValueError(
            f"the marts are built as of {built.isoformat()}, not {requested.isoformat()}: "
            f"rebuild them with LTC_AS_OF={requested.isoformat()}"
        )
    return built


# The marts every executive figure comes from; they state one as-of date.
EXECUTIVE_AS_OF_MARTS = ("rpt_cash_collection", "fct_invoices", "rpt_funnel_conversion")


def _as_of(con: Connection, requested: dt.date | None) -> dt.date:
    return resolve_as_of(con, EXECUTIVE_AS_OF_MARTS, requested)


def _reporting_currency(con: Connection) -> str:
    for sql in (
        "select min(reporting_currency) from marts.rpt_cash_collection",
        "select min(reporting_currency) from marts.fct_opportunities",
    ):
        value = _one(con, sql)
        if value and value[0]:
            return str(value[0])
    return "USD"


def _cash_collection(con: Connection, as_of: dt.date) -> tuple[CashMonth, ...]:
    rows = fetch_rows(
        con,
        """
        select period_month, reporting_currency, invoiced_amount, collected_amount, amount_due,
               collected_on_time_amount, on_time_collection_rate, ending_ar, overdue_ar, dso_days
        from marts.rpt_cash_collection
        where as_of_date = ?
        order by period_month
        """,
        [as_of],
    )
    return tuple(
        CashMonth(
            period_month=month_of(r[0]),
            reporting_currency=str(r[1] or ""),
            invoiced_amount=money(r[2]),
            collected_amount=money(r[3]),
            amount_due=money(r[4]),
            collected_on_time_amount=money(r[5]),
            on_time_collection_rate=to_decimal(r[6]),
            ending_ar=money(r[7]),
            overdue_ar=money(r[8]),
            dso_days=to_decimal(r[9]),
        )
        for r in rows
    )


def _funnel(con: Connection, as_of: dt.date, measure_type: str) -> tuple[FunnelRow, ...]:
    rows = fetch_rows(
        con,
        """
        select measure_type, period_month, stage_code, stage_order, step_name, journeys,
               conversion_from_previous
        from marts.rpt_funnel_conversion
        where measure_type = ? and dimension = 'total' and as_of_date = ?
        order by period_month, stage_order
        """,
        [measure_type, as_of],
    )
    return tuple(
        FunnelRow(
            measure_type=str(r[0]),
            period_month=month_of(r[1]),
            stage_code=str(r[2]),
            stage_order=int(r[3]),
            step_name=str(r[4] or ""),
            journeys=int(r[5] or 0),
            conversion_from_previous=to_decimal(r[6]),
        )
        for r in rows
    )


def summarise_funnel(rows: Sequence[FunnelRow]) -> tuple[FunnelStage, ...]:
    """Σ journeys per stage over all months, with stage-to-stage ratios of those sums."""
    if not rows:
        return ()
    by_stage: dict[str, list[FunnelRow]] = {}
    for r in rows:
        by_stage.setdefault(r.stage_code, []).append(r)
    default_names = dict(STAGES)
    default_order = {code: i for i, (code, _) in enumerate(STAGES, start=1)}
    orders = {code: group[0].stage_order for code, group in by_stage.items()}
    # The six canonical stages always show (a stage nobody reached yet shows 0).
    for code in default_names:
        orders.setdefault(code, default_order[code])
    codes = sorted(orders, key=lambda c: (orders[c], c))
    out: list[FunnelStage] = []
    first: int | None = None
    previous: int | None = None
    for code in codes:
        group = by_stage.get(code, [])
        journeys = sum(r.journeys for r in group)
        name = next((r.step_name for r in group if r.step_name), default_names.get(code, code))
        order = orders[code]
        if first is None:
            first = journeys
        conv = _ratio(journeys, previous) if previous is not None else None
        out.append(
            FunnelStage(
                stage_code=code,
                stage_order=order,
                step_name=name,
                journeys=journeys,
                conversion_from_previous=conv,
                share_of_first=_ratio(journeys, first),
            )
        )
        previous = journeys
    return tuple(out)


def _ratio(numerator: int | Decimal, denominator: int | Decimal | None) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


def _headline(
    con: Connection, cash: Sequence[CashMonth], reporting_currency: str
) -> Headline:
    leads, converted = _one(
        con,
        """
        select count(*), count(*) filter (where is_converted)
        from marts.fct_leads where not coalesce(is_deleted, false)
        """,
    )
    won, won_amount = _one(
        con,
        """
        select count(*), sum(amount_reporting)
        from marts.fct_opportunities where is_won and not coalesce(is_deleted, false)
        """,
    )
    # Cancelled invoices are excluded when the mart flags them (as rpt_cash_collection does);
    # the flag is optional: the contract's minimum is `is_deleted`.
    cancelled = (
        " and not coalesce(is_cancelled, false)"
        if _has_column(con, "marts", "fct_invoices", "is_cancelled")
        else ""
    )
    (invoiced,) = _one(
        con,
        "select sum(total_amount_reporting) from marts.fct_invoices "
        f"where not coalesce(is_deleted, false){cancelled}",
    )
    (collected,) = _one(con, "select sum(amount_reporting) from marts.fct_cash_receipts")

    # Value-weighted on-time rate over every month up to the as-of date: the mart's monthly
    # numerator and denominator, summed (not an average of monthly rates).
    due = sum((m.amount_due for m in cash), Decimal(0))
    on_time = sum((m.collected_on_time_amount for m in cash), Decimal(0))
    latest = cash[-1] if cash else None
    return Headline(
        leads=int(leads or 0),
        converted_leads=int(converted or 0),
        won_opportunities=int(won or 0),
        won_amount=money(won_amount),
        invoiced_total=money(invoiced),
        collected_total=money(collected),
        on_time_collection_rate=_ratio(on_time, due),
        dso_days=latest.dso_days if latest else None,
        overdue_ar=latest.overdue_ar if latest else None,
        reporting_currency=reporting_currency,
    )


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def _month_end(month: dt.date) -> dt.date:
    return add_months(month, 1) - dt.timedelta(days=1)


def _exec_month(
    con: Connection, month: dt.date, as_of: dt.date, cash: dict[dt.date, CashMonth]
) -> ExecMonth:
    end = min(_month_end(month), as_of)
    booked_count, booked = _one(
        con,
        """
        select count(*), sum(amount_reporting) from marts.fct_opportunities
        where is_won and not coalesce(is_deleted, false) and close_date between ? and ?
        """,
        [month, end],
    )
    pipeline = _one(
        con,
        """
        select win_rate_by_count, win_rate_by_value, won_count, lost_count
        from marts.rpt_pipeline_performance
        where period_type = 'month' and period_start = ? and as_of_date = ?
        """,
        [month, as_of],
    ) or (None, None, None, None)
    exc_count, exc_amount = _one(
        con,
        """
        select count(*), sum(amount_reporting) from marts.fct_reconciliation_exceptions
        where as_of_date = ? and detected_date between ? and ?
        """,
        [as_of, month, end],
    )
    c = cash.get(month)
    return ExecMonth(
        period_month=month,
        booked_amount=money(booked),
        booked_count=int(booked_count or 0),
        invoiced_amount=c.invoiced_amount if c else None,
        collected_amount=c.collected_amount if c else None,
        win_rate_by_count=to_decimal(pipeline[0]),
        win_rate_by_value=to_decimal(pipeline[1]),
        won_count=None if pipeline[2] is None else int(pipeline[2]),
        lost_count=None if pipeline[3] is None else int(pipeline[3]),
        dso_days=c.dso_days if c else None,
        on_time_collection_rate=c.on_time_collection_rate if c else None,
        overdue_ar=c.overdue_ar if c else None,
        exceptions_amount=money(exc_amount),
        exceptions_count=int(exc_count or 0),
    )


def _exec_months(con: Connection, as_of: dt.date, cash: Sequence[CashMonth]) -> tuple[ExecMonth, ...]:
    """The as-of month and the month before it: the tiles' period and comparison period."""
    by_month = {m.period_month: m for m in cash}
    current = dt.date(as_of.year, as_of.month, 1)
    return tuple(_exec_month(con, m, as_of, by_month) for m in (add_months(current, -1), current))


def _exception_queue(con: Connection, as_of: dt.date) -> ExceptionQueue:
    count, amount = _one(
        con,
        "select count(*), sum(amount_reporting) from marts.fct_reconciliation_exceptions "
        "where as_of_date = ?",
        [as_of],
    )
    return ExceptionQueue(int(count or 0), money(amount))


BREAKDOWN_DIMENSIONS = ("channel", "campaign", "region", "owner")


def _breakdowns(con: Connection, as_of: dt.date) -> tuple[Breakdown, ...]:
    """Cohort funnel per channel, campaign, region and owner (rpt_funnel_conversion slices)."""
    rows = fetch_rows(
        con,
        """
        select dimension, dimension_value, min(dimension_label), stage_code, stage_order, sum(journeys)
        from marts.rpt_funnel_conversion
        where measure_type = 'cohort' and as_of_date = ?
          and dimension in ('channel', 'campaign', 'region', 'owner')
        group by dimension, dimension_value, stage_code, stage_order
        order by dimension, dimension_value, stage_order
        """,
        [as_of],
    )
    orders: dict[str, int] = {}
    slices: dict[tuple[str, str], dict[str, int]] = {}
    labels: dict[tuple[str, str], str] = {}
    for dimension, value, label, code, order, journeys in rows:
        orders.setdefault(str(code), int(order))
        key = (str(dimension), str(value))
        slices.setdefault(key, {})[str(code)] = int(journeys or 0)
        labels[key] = str(label if label is not None else value)
    codes = tuple(sorted(orders, key=lambda c: (orders[c], c)))
    out = []
    for dimension in BREAKDOWN_DIMENSIONS:
        found = [
            DimensionRow(dimension, value, labels[(d, value)],
                         tuple(slices[(d, value)].get(c, 0) for c in codes))
            for (d, value) in slices if d == dimension
        ]
        # largest first; ties by label so the order is stable
        found.sort(key=lambda r: (-(r.stages[0] if r.stages else 0), r.label))
        out.append(Breakdown(dimension, codes, tuple(found)))
    return tuple(out)


def _timestamp(value: Any) -> dt.datetime | None:
    """A naive UTC datetime (the mart stores naive UTC; an aware value is converted)."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromisoformat(str(value))
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _freshness(con: Connection) -> tuple[SourceFreshness, ...]:
    rows = fetch_rows(
        con,
        """
        select source_system, raw_schema, last_loaded_at, stalest_table_loaded_at, table_count,
               landed_table_count, row_count
        from marts.rpt_source_freshness
        order by source_system
        """,
    )
    return tuple(
        SourceFreshness(
            source_system=str(r[0]),
            raw_schema=str(r[1] or ""),
            last_loaded_at=_timestamp(r[2]),
            stalest_table_loaded_at=_timestamp(r[3]),
            table_count=int(r[4] or 0),
            landed_table_count=int(r[5] or 0),
            row_count=int(r[6] or 0),
        )
        for r in rows
    )


# ---------------------------------------------------------------------------------------------
# Public API: each call opens and closes its own read-only connection


def read_as_of(duckdb_path: Path | str, as_of: dt.date | None = None) -> dt.date:
    """The marts' as-of date (or `as_of`, checked against what the marts were built for)."""
    with read_only(duckdb_path) as con:
        return _as_of(con, as_of)


def read_headline(duckdb_path: Path | str, as_of: dt.date | None = None) -> Headline:
    with read_only(duckdb_path) as con:
        day = _as_of(con, as_of)
        return _headline(con, _cash_collection(con, day), _reporting_currency(con))


def read_funnel(
    duckdb_path: Path | str, measure_type: str = "cohort", as_of: dt.date | None = None
) -> tuple[FunnelRow, ...]:
    if measure_type not in ("cohort", "period"):
        raise ValueError("measure_type is 'cohort' or 'period'")
    with read_only(duckdb_path) as con:
        return _funnel(con, _as_of(con, as_of), measure_type)


def read_cash_collection(
    duckdb_path: Path | str, as_of: dt.date | None = None
) -> tuple[CashMonth, ...]:
    with read_only(duckdb_path) as con:
        return _cash_collection(con, _as_of(con, as_of))


def load_report_data(duckdb_path: Path | str, as_of: dt.date | None = None) -> ReportData:
    """Everything the report shows, read through one short-lived read-only connection."""
    with read_only(duckdb_path) as con:
        day = _as_of(con, as_of)
        currency = _reporting_currency(con)
        cash = _cash_collection(con, day)
        return ReportData(
            as_of=day,
            reporting_currency=currency,
            headline=_headline(con, cash, currency),
            funnel_cohort=_funnel(con, day, "cohort"),
            funnel_period=_funnel(con, day, "period"),
            cash_collection=cash,
            exec_months=_exec_months(con, day, cash),
            exception_queue=_exception_queue(con, day),
            breakdowns=_breakdowns(con, day),
            freshness=_freshness(con),
        )
