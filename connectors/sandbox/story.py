"""Sandbox stories: how the synthetic company behaves over time (`ltc sandbox generate --story`).

Why this exists: the LTC health panel (rpt_ltc_health, issue 10) judges a company by four
movements over time, after FanRuan's case: forecast accuracy, on-time collection, overdue
receivables and work started without a signed contract. A panel can only be trusted if it shows a
change that is known to be there, so the `improving` story plants one: two years (2024-2025, the
as-of date stays 2025-12-31) in which the company adopts LTC discipline on `ADOPTION`, halfway.

- `default`: the one-year company every other test pins. Nothing here changes it: the generator
  only consults this module when the story is `improving`, and never draws from its random stream
  for the default story (seeds and outputs stay byte-identical).
- `improving`: the first year behaves like the default company, only with more invoices paid late
  or never (no dunning). From `ADOPTION` on:
  * forecasts: a deal that is going to be lost is rarely committed, the price is settled before
    Commit, and the close date set at Commit is (mostly) the real one: Commit closer to outcome;
  * collections: customers are dunned, so invoices due from then on are paid on time more often,
    late ones less late, fewer never paid, and most of the old never-paid debt is collected in a
    drive over the first months;
  * contracts: signed before work starts: far fewer orders without a contract or booked before
    signature.
  Lead arrivals are flat over the two years (the default company grows 50 % in its year), so the
  absolute measures (overdue amount, no-contract amount) compare like with like; campaigns run in
  both years (the 2024 editions are copies of 2025's, a year earlier).

`planted_figures()` computes, from the simulated entities themselves, the four measures per month
by the definitions of ../shared/reference/ltc-metrics.md §2.7, §3.5 and §7, and their means per
year; they go to ground_truth.json under `story`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

STORIES = ("default", "improving")

# the improving story's calendar: history starts a year before the default company's
IMPROVING_PERIOD_START = dt.date(2024, 1, 1)
IMPROVING_FX_START = dt.date(2023, 12, 1)
ADOPTION = dt.date(2025, 1, 1)  # the day the company adopts LTC discipline: halfway

# forecasts: after adoption, the share of would-be-lost deals still committed (the rest are lost
# before Negotiation/Review), and the share of commits whose close date is set to the real one
LOST_COMMITTED_AFTER = 0.15
REAL_CLOSE_DATE_AFTER = 0.85
# the improving company's deals negotiate longer (both years), so Commit holds deals at each
# month's t0 even at a small scale
NEGOTIATION_MEDIAN_DAYS = 20

# collections, for invoices due on or after ADOPTION: the late share shrinks to this fraction
LATE_SHARE_AFTER = 0.35
NEVER_PAID_BEFORE, NEVER_PAID_AFTER = 0.04, 0.005
LATE_MEDIAN_DAYS_BEFORE, LATE_MEDIAN_DAYS_AFTER = 20, 5
DRIVE_COLLECTS = 0.75  # of the invoices left unpaid before adoption, collected in the drive
DRIVE_DAYS = 120  # the drive's receipts land within this many days of ADOPTION

# contracts, for orders booked on or after ADOPTION
NO_CONTRACT_BEFORE, NO_CONTRACT_AFTER = 0.03, 0.005
SIGNED_LATE_BEFORE, SIGNED_LATE_AFTER = 0.06, 0.01  # by chance, besides the planted ones
PLANTED_LATE_BEFORE = 0.02  # planted back-signing only before adoption


def check(story: str) -> str:
    if story not in STORIES:
        raise ValueError(f"unknown story {story!r}: one of {', '.join(STORIES)}")
    return story


def campaigns(plan: tuple) -> tuple:
    """The improving story's campaigns: each 2025 campaign also ran a year earlier."""
    earlier = []
    for name, ctype, region, start, end in plan:
        s, e = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
        earlier.append((f"{name} ({s.year - 1})", ctype, region, s.replace(year=s.year - 1).isoformat(),
                        e.replace(year=e.year - 1).isoformat()))
    return tuple(earlier) + tuple(plan)


def after(day: dt.date | dt.datetime) -> bool:
    """Whether a moment falls in the disciplined half."""
    return (day.date() if isinstance(day, dt.datetime) else day) >= ADOPTION


# ----------------------------------------------------------------------------- planted figures


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    months, m = [], dt.date(first.year, first.month, 1)
    while m <= last:
        months.append(m)
        m = dt.date(m.year + m.month // 12, m.month % 12 + 1, 1)
    return months


def _month_end(m: dt.date, as_of: dt.date) -> dt.date:
    nxt = dt.date(m.year + m.month // 12, m.month % 12 + 1, 1)
    return min(nxt - dt.timedelta(days=1), as_of)


def _forecast_accuracy(company: Any, months: list[dt.date], as_of: dt.date) -> dict[dt.date, Decimal | None]:
    """Commit point accuracy per month (§2.7, rpt_forecast_accuracy's): F = Σ amount of the deals
    open in Commit at the end of the day before the month with a close date in it; A = Σ amount of
    those won with a close date in the month; max(0, 1 - |A - F| / A), None when A = 0. Reporting
    amounts at the rate of the state's day (a won deal: its close date), as fct_pipeline_snapshots."""
    fx = company.fx
    history: dict[int, list[dict]] = defaultdict(list)
    for h in company.sf["OpportunityHistory"]:
        if not h["IsDeleted"]:
            history[h["OpportunityId"]["_seq"]].append(h)
    for rows in history.values():
        rows.sort(key=lambda h: (h["CreatedDate"], h["_seq"]))
    live = [o for o in company.sf["Opportunity"] if not o["IsDeleted"]]

    def state(opp: dict, day: dt.date) -> dict | None:
        rows = [h for h in history[opp["_seq"]] if h["CreatedDate"].date() <= day]
        return rows[-1] if rows else None

    out: dict[dt.date, Decimal | None] = {}
    for m in months:
        t0, end = m - dt.timedelta(days=1), _month_end(m, as_of)
        forecast, actual = Decimal(0), Decimal(0)
        for opp in live:
            s = state(opp, t0)
            if s is None or s["StageName"] != "Negotiation/Review" or not m <= s["CloseDate"] <= end:
                continue
            forecast += fx.convert(s["Amount"], opp["CurrencyIsoCode"], t0)
            e = state(opp, end)
            if e["StageName"] == "Closed Won" and m <= e["CloseDate"] <= end:
                actual += fx.convert(e["Amount"], opp["CurrencyIsoCode"], e["CloseDate"])
        out[m] = None if actual == 0 else max(Decimal(0), 1 - abs(actual - forecast) / actual)
    return out


def _collections(company: Any, months: list[dt.date], as_of: dt.date) -> tuple[dict, dict]:
    """On-time collection rate by value (§3.5: received by the due date / due, for invoices due in
    the month) and overdue receivables at each month end (open balance past due), reporting
    currency at the invoice's issue date. These are the true figures: what customers paid, when.
    The books can differ where the platform cannot apply a receipt (a wrong or missing remittance
    reference leaves the cash unapplied and the invoice open): the planted cash-application
    exceptions."""
    from connectors.sandbox.generator import _within_write_off_tolerance as within_tolerance

    fx = company.fx
    due: dict[dt.date, Decimal] = defaultdict(Decimal)
    on_time: dict[dt.date, Decimal] = defaultdict(Decimal)
    overdue: dict[dt.date, Decimal] = defaultdict(Decimal)
    ends = {m: _month_end(m, as_of) for m in months}
    for inv in company.invoices:
        if inv["deleted"] or inv["issue_date"] > as_of:
            continue
        rate_day, total = inv["issue_date"], inv["total"]
        r = inv["receipt"]  # a lump sum pays each of its invoices in full
        paid = Decimal(0) if r is None else total if r["kind"] == "lump_sum" else min(total, r["amount"])
        if r is not None and paid < total and within_tolerance(total - paid, total):
            paid = total  # a short payment within the write-off tolerance settles the invoice
        booked = None if r is None else r["booking"]
        m = dt.date(inv["due_date"].year, inv["due_date"].month, 1)
        if m in ends and inv["due_date"] <= as_of:
            due[m] += fx.convert(total, inv["currency"], rate_day)
            if booked is not None and booked <= inv["due_date"]:
                on_time[m] += fx.convert(paid, inv["currency"], rate_day)
        for month, end in ends.items():
            if inv["issue_date"] <= end and inv["due_date"] < end:
                open_amount = total - (paid if booked is not None and booked <= end else 0)
                if open_amount > 0:
                    overdue[month] += fx.convert(open_amount, inv["currency"], rate_day)
    rate = {m: (on_time[m] / due[m] if due[m] else None) for m in months}
    return rate, {m: overdue[m] for m in months}


def _without_contract(company: Any, months: list[dt.date]) -> tuple[dict, dict]:
    """Orders booked with no contract, or before their contract was signed (or still unsigned at
    the as-of date), by booking month: count and net amount (§5 (e), §7)."""
    count: dict[dt.date, int] = defaultdict(int)
    amount: dict[dt.date, Decimal] = defaultdict(Decimal)
    for o in company.orders:
        c = o["contract"]
        if c is None or c["CustomerSignedDate"] is None or o["order_date"] < c["CustomerSignedDate"]:
            m = dt.date(o["order_date"].year, o["order_date"].month, 1)
            count[m] += 1
            amount[m] += company.fx.convert(o["net_amount"], o["currency"], o["order_date"])
    return {m: count[m] for m in months}, {m: amount[m] for m in months}


MEASURES = ("forecast_accuracy", "on_time_collection_rate", "overdue_ar",
            "work_without_signed_contract_count", "work_without_signed_contract_amount")


def planted_figures(company: Any, period_start: dt.date, as_of: dt.date) -> dict:
    """The four measures per month and their monthly means per year (before / after adoption)."""
    months = _months(period_start, as_of)
    accuracy = _forecast_accuracy(company, months, as_of)
    on_time, overdue = _collections(company, months, as_of)
    count, amount = _without_contract(company, months)
    series = {"forecast_accuracy": accuracy, "on_time_collection_rate": on_time, "overdue_ar": overdue,
              "work_without_signed_contract_count": count, "work_without_signed_contract_amount": amount}

    def fmt(name: str, value: Any) -> Any:
        if value is None or name.endswith("_count"):
            return value
        return str(value.quantize(Decimal("0.01") if name.endswith(("_ar", "_amount")) else Decimal("0.000001")))

    def mean(name: str, half: list[dt.date]) -> str | None:
        values = [Decimal(series[name][m]) for m in half if series[name][m] is not None]
        return fmt(name if not name.endswith("_count") else "x_amount", sum(values) / len(values)) if values else None

    first = [m for m in months if not after(m)]
    second = [m for m in months if after(m)]
    halves: dict[str, list[dt.date]] = defaultdict(list)
    for m in months:
        halves[f"{m.year}H{1 if m.month <= 6 else 2}"].append(m)
    return {
        "story": "improving",
        "adoption_date": ADOPTION.isoformat(),
        "definitions": {
            "forecast_accuracy": "Commit point accuracy max(0, 1 - |A - F| / A), F frozen at the end of the day before the month",
            "on_time_collection_rate": "value received by the due date / value due, invoices due in the month",
            "overdue_ar": "open balance of invoices past due at the month end (capped at the as-of date)",
            "work_without_signed_contract_count": "orders booked in the month with no contract or before its signature",
            "work_without_signed_contract_amount": "their net amount, reporting currency",
        },
        "monthly": {m.isoformat(): {n: fmt(n, series[n][m]) for n in MEASURES} for m in months},
        # means of the monthly figures (months without a figure left out): per year before / after
        # adoption, and per half-year. The company starts from nothing on the period start, so
        # its first half-year has little or no receivables: the before/after comparison that is
        # free of that ramp-up is the second half of each year (the first half of the second year
        # is the transition, when the drive collects the old debt).
        "yearly_mean": {
            "first_year": {n: mean(n, first) for n in MEASURES},
            "second_year": {n: mean(n, second) for n in MEASURES},
        },
        "half_year_mean": {h: {n: mean(n, ms) for n in MEASURES} for h, ms in halves.items()},
    }
