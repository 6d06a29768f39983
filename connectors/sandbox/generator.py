"""The sandbox company: a synthetic, seeded B2B software vendor and its true figures.

Every layer of the platform (connectors, dbt, checks, reports, benchmarks) is tested against this
company, so it has to look like a real one (leads that qualify and convert at plausible rates,
opportunities that move through stages, contracts, orders, invoices and bank receipts with
realistic delays and amounts) and it has to *know* the right answers: `ground_truth.json` holds
the figures computed here, with the contract's FX rule, and the id of every planted anomaly.

The layout on disk is `docs/contracts.md` §1. Determinism: one `random.Random(seed)` drives
everything, nothing reads the wall clock, nothing iterates a set, so the same seed and scale give
byte-identical files. Work is linear in `scale` (the number of leads).

How it works: `_Company` first *simulates* (entities are dicts; references point at other entity
dicts, times are datetimes), then assigns Ids and document numbers in creation order (like real
systems do), then writes each system in its native form.

The objects added later (Product2, OpportunityLineItem, Quote, OpportunityFieldHistory,
CurrencyType, DatedConversionRate: `EXTRA_OBJECTS`) are derived *after* the simulation, from its
finished state, with their own `random.Random(seed + EXTRAS_SEED_OFFSET)`. They only read the
simulated entities and never draw from the main stream, so every file that existed before them
(and `ground_truth.json`, whose figures other tests pin) stays byte-identical for a given seed and
scale; `generate(..., _extras=False)` leaves them out, which is how the tests check that.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import random
import sqlite3
import xml.etree.ElementTree as ET
from collections import defaultdict
from contextlib import contextmanager
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from connectors.sandbox import sf_schema as sfs
from connectors.sandbox import story as stories
from connectors.sandbox.bank_formats import split_formats
from connectors.settings import Settings

PERIOD_START = dt.date(2025, 1, 1)
AS_OF = dt.date(2025, 12, 31)
FX_START = dt.date(2024, 12, 2)
END = dt.datetime(2025, 12, 31, 23, 59, 59)  # nothing happens after the as-of date
START = dt.datetime(2025, 1, 1, 0, 0, 0)
CENT = Decimal("0.01")
CAMT_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"

# ----------------------------------------------------------------------------- the company's world

REGIONS = {
    # region: (weight, currency, ((country, iso2, weight, vat rate, cities), ...))
    "NA": (0.55, "USD", (
        ("United States", "US", 0.85, "0.00", ("New York", "Chicago", "Austin", "San Francisco", "Boston")),
        ("Canada", "CA", 0.15, "0.05", ("Toronto", "Vancouver", "Montreal")),
    )),
    "EMEA": (0.28, "EUR", (
        ("Germany", "DE", 0.35, "0.19", ("Berlin", "Munich", "Hamburg", "Frankfurt")),
        ("France", "FR", 0.25, "0.20", ("Paris", "Lyon", "Toulouse")),
        ("Netherlands", "NL", 0.20, "0.21", ("Amsterdam", "Rotterdam", "Utrecht")),
        ("Spain", "ES", 0.20, "0.21", ("Madrid", "Barcelona", "Valencia")),
    )),
    "UK": (0.17, "GBP", (
        ("United Kingdom", "GB", 1.0, "0.20", ("London", "Manchester", "Edinburgh", "Bristol")),
    )),
}
LEGAL_SUFFIX = {"US": "Inc.", "CA": "Ltd.", "DE": "GmbH", "FR": "SAS", "NL": "B.V.", "ES": "S.L.", "GB": "Ltd"}
# Rough FX used only to size deals in local currency (the true rates come from the random walk).
SIZE_FX = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27}

USERS = (
    # name, region, deactivated on (None = active)
    ("Alicia Moreno", "NA", None), ("Brian Walsh", "NA", None), ("Chloe Kim", "NA", None),
    ("Derek Olsen", "NA", dt.date(2025, 10, 31)),
    ("Elena Fischer", "EMEA", None), ("Francois Dubois", "EMEA", None), ("Greta Jansen", "EMEA", None),
    ("Hannah Clarke", "UK", None), ("Ian Patel", "UK", None), ("Jack Turner", "UK", None),
)
CAMPAIGNS = (
    # name, type, region (None = global, USD), start, end
    ("Google Ads - NA Search", "Paid Search", "NA", "2025-01-06", "2025-12-31"),
    ("Google Ads - EMEA Search", "Paid Search", "EMEA", "2025-02-03", "2025-12-31"),
    ("Google Ads - UK Search", "Paid Search", "UK", "2025-03-03", "2025-11-28"),
    ("LinkedIn - NA Decision Makers", "Social", "NA", "2025-01-13", "2025-06-30"),
    ("LinkedIn - Europe Finance Leaders", "Social", "EMEA", "2025-05-05", "2025-12-31"),
    ("Spring Newsletter", "Email", None, "2025-03-10", "2025-04-30"),
    ("Q4 Nurture Sequence", "Email", None, "2025-10-01", "2025-12-19"),
    ("Webinar: Closing the Books Faster", "Webinar", None, "2025-02-12", "2025-03-12"),
    ("Webinar: Cash Forecasting 101", "Webinar", None, "2025-06-04", "2025-06-25"),
    ("Webinar: AI in Order-to-Cash", "Webinar", None, "2025-10-08", "2025-11-05"),
    ("RevOps Summit London", "Trade Show", "UK", "2025-04-22", "2025-04-24"),
    ("Finance Transformation Expo Berlin", "Trade Show", "EMEA", "2025-09-16", "2025-09-18"),
)
# Lead mix by source, the share of each source that qualifies, and cost per lead (campaign cost).
SOURCES = {
    "Web": (0.22, 0.30, None),
    "Paid Search": (0.25, 0.26, 120),
    "Social": (0.13, 0.20, 90),
    "Email": (0.10, 0.24, 15),
    "Webinar": (0.12, 0.34, 60),
    "Trade Show": (0.08, 0.38, 400),
    "Partner Referral": (0.10, 0.45, None),
}
CONVERT_RATE = 0.60  # of qualified leads
WIN_PROBABILITY = 0.36
PAID_CHANNELS = ("Paid Search", "Social")  # the ones with an ad-spend export

FIRST = ("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard "
         "Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy Anthony Sandra Mark "
         "Ashley Paul Emily Steven Donna Andrew Michelle Lukas Sophie Jonas Lea Hugo Camille Lucas Emma "
         "Daan Julia Sem Anna Pablo Lucia Javier Carmen Oliver Amelia George Isla Harry Ava Noah Mia").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Wilson "
        "Anderson Thomas Taylor Moore Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker "
        "Young Allen King Wright Scott Mueller Schmidt Schneider Fischer Weber Meyer Bernard Petit Durand "
        "Leroy Moreau De Jong Jansen Bakker Visser Sanchez Perez Gomez Ruiz Evans Hughes Edwards Wood").split()
NAME_A = ("Blue Silver North Bright Summit Apex Vertex Iron Cedar Harbor Maple Granite Falcon Orbit Pioneer "
          "Quantum Atlas Beacon Crescent Delta Ember Fjord Glacier Horizon Juniper Keystone Lumen Meridian "
          "Nimbus Onyx Prairie Quartz River Sierra Tidal Union Vista Willow Zenith Arrow Bridge Canyon "
          "Drift Echo Frontier Golden Highland Indigo Jade Kestrel Lighthouse Mosaic Northwind").split()
NAME_B = ("Analytics Systems Logistics Foods Health Energy Capital Robotics Labs Networks Materials Retail "
          "Media Software Dynamics Partners Industries Solutions Motors Pharma Textiles Foods Freight "
          "Devices Finance Insights Works Brands Telecom Security Cloud Data Studios Foundry Ventures").split()
PRODUCTS = ("Platform", "Platform + Analytics", "Cash Application", "Billing Suite", "Forecasting", "Enterprise Bundle")


@dataclass(frozen=True)
class World:
    """Where the company sells (`generate(region=...)`): its regions, people, names and spellings.

    The default world is the module's constants above, used exactly as before (the hooks that are
    None leave the default code path, and its random draws, untouched), so the default company
    stays byte-identical; `region_cn` is the mainland-China world (`--region cn`)."""

    regions: dict
    size_fx: dict
    # every currency the company trades in -> USD per unit: the FX walk's start levels, crossed into
    # the reporting currency (`_Fx`), in the walk's order
    fx_levels: dict
    users: tuple
    campaigns: tuple
    home_region: str  # owns the global campaigns and the junk leads
    home_currency: str  # the global campaigns' currency
    bank_accounts: dict
    bank_fees: dict
    no_reference_texts: tuple = (None, "PAYMENT", "SUPPLIER PAYMENT", "TRANSFER")
    lump_sum_texts: tuple = (None, "PAYMENT", "SETTLEMENT OF OPEN ITEMS", "VARIOUS INVOICES")
    user_email_local: Callable[[str], str] | None = None  # None: "First.Last"
    person: Callable | None = None  # (company, region) -> a lead's person fields; None: `_person`'s own
    spell_customer: Callable | None = None  # (rng, customer) -> None: the ERP's and bank's spellings
    remittance: Callable | None = None  # (rng, number, customer) -> remittance text naming an invoice
    reporting_currency: str = "USD"  # the default of `generate(reporting_currency=None)`


def _world(region: str) -> World:
    """The world of `region` ('default' or 'cn')."""
    if region == "default":
        return World(REGIONS, SIZE_FX, {"USD": 1.0, "EUR": 1.08, "GBP": 1.27}, USERS, CAMPAIGNS, "NA", "USD",
                     BANK_ACCOUNTS, {"USD": "45.00", "EUR": "35.00", "GBP": "30.00"})
    if region == "cn":
        from connectors.sandbox import region_cn as cn

        return World(cn.REGIONS, cn.SIZE_FX, cn.FX_LEVELS, cn.USERS, cn.CAMPAIGNS, cn.HOME_REGION, cn.HOME_CURRENCY,
                     cn.BANK_ACCOUNTS, cn.BANK_FEES, cn.NO_REFERENCE_TEXTS, cn.LUMP_SUM_TEXTS,
                     user_email_local=cn.user_email_local, person=cn.person, spell_customer=cn.spell_customer,
                     remittance=cn.remittance, reporting_currency=cn.REPORTING_CURRENCY)
    raise ValueError(f"unknown sandbox region {region!r} (known: {', '.join(REGION_NAMES)})")


REGION_NAMES = ("default", "cn")


# ----------------------------------------------------------------------------- small helpers


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _q(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _days(rng: random.Random, median: float, sigma: float) -> dt.timedelta:
    """A lognormal delay (most things take about `median` days, a few take much longer)."""
    return dt.timedelta(seconds=int(rng.lognormvariate(math.log(median), sigma) * 86400))


def _bday(day: dt.date) -> dt.date:
    """The day itself, or the next Monday for a weekend day."""
    wd = day.weekday()
    return day + dt.timedelta(days=7 - wd) if wd >= 5 else day


def _at_work(rng: random.Random, day: dt.date) -> dt.datetime:
    """A moment in office hours (08:00-18:00 UTC) of a business day on or after `day`."""
    day = _bday(day)
    return dt.datetime(day.year, day.month, day.day, 8) + dt.timedelta(seconds=rng.randrange(36000))


def _work_shift(rng: random.Random, t: dt.datetime) -> dt.datetime:
    """Move a moment into office hours (sales people do not update CRM at 3 am)."""
    return _at_work(rng, t.date() if t.hour < 18 else t.date() + dt.timedelta(days=1))


def _add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    y, m = day.year + y, m + 1
    last = (dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(y, m, min(day.day, last))


def _weighted(rng: random.Random, items: list, weights: list[float]):
    return rng.choices(items, weights=weights, k=1)[0]


def _planted(rng_rate: float, population: int, minimum: int = 2) -> int:
    """How many anomalies of one kind to plant: a rate, at least `minimum` once there is room."""
    if population <= 0:
        return 0
    return min(population, max(minimum, round(rng_rate * population)))


def _iban(country: str, bban: str) -> str:
    """A structurally valid IBAN (mod-97 check digits) for a country and basic account number."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(digits) % 97
    return f"{country}{check:02d}{bban}"


# Basic bank account number layouts (letters = bank code); US and Canada have no IBAN.
_BBAN = {"DE": "", "FR": "", "NL": "ABNA", "ES": "", "GB": "BARC"}
_BBAN_DIGITS = {"DE": 18, "FR": 23, "NL": 10, "ES": 20, "GB": 14}


def _customer_iban(rng: random.Random, iso: str) -> str | None:
    if iso not in _BBAN:
        return None
    digits = "".join(str(rng.randrange(10)) for _ in range(_BBAN_DIGITS[iso]))
    return _iban(iso, _BBAN[iso] + digits)


def _ts(value: dt.datetime | None) -> str | None:
    """ERP timestamps: SQLite's own `YYYY-MM-DD HH:MM:SS` form, UTC."""
    return None if value is None else f"{min(value, END):%Y-%m-%d %H:%M:%S}"


# ----------------------------------------------------------------------------- FX


def _reporting_levels(usd_per_unit: dict[str, float], reporting: str) -> dict[str, float]:
    """The FX walk's start levels into `reporting`: units of `reporting` per unit of every other
    currency the company trades in, crossed through USD. Into USD the levels are the world's own
    figures unchanged (x / 1.0), so the USD-reporting companies draw exactly what they always drew."""
    if reporting not in usd_per_unit:
        raise ValueError(f"reporting currency {reporting!r} is not one the company trades in "
                         f"(known: {', '.join(usd_per_unit)}): it would have no FX rates")
    base = usd_per_unit[reporting]
    return {ccy: level / base for ccy, level in usd_per_unit.items() if ccy != reporting}


class _Fx:
    """Daily FX rates (business days) into the reporting currency and the contract's conversion rule."""

    def __init__(self, rng: random.Random, levels: dict[str, float], reporting_currency: str) -> None:
        self.reporting_currency = reporting_currency
        self.rows: list[tuple[dt.date, str, Decimal]] = []
        self.currencies = tuple(levels)  # the non-reporting currencies, in the walk's order
        self._by_day: dict[str, dict[dt.date, Decimal]] = {ccy: {} for ccy in levels}
        level = dict(levels)
        day = FX_START
        while day <= AS_OF:
            if day.weekday() < 5:
                for ccy, base in levels.items():
                    # a mean-reverting random walk in log space, ~0.4 % daily moves
                    step = rng.gauss(0.0, 0.004) + 0.03 * math.log(base / level[ccy])
                    level[ccy] *= math.exp(step)
                    self.rows.append((day, ccy, Decimal(f"{level[ccy]:.6f}")))
            day += dt.timedelta(days=1)
        # forward-fill every calendar day: the latest rate_date <= day
        for ccy in self._by_day:
            published = {d: r for d, c, r in self.rows if c == ccy}
            current = None
            day = FX_START
            while day <= AS_OF:
                current = published.get(day, current)
                self._by_day[ccy][day] = current
                day += dt.timedelta(days=1)

    def rate(self, currency: str, day: dt.date) -> Decimal:
        if currency == self.reporting_currency:
            return Decimal(1)
        return self._by_day[currency][day]

    def convert(self, amount: Decimal, currency: str, day: dt.date) -> Decimal:
        """`round(amount × rate, 2)`, half away from zero, per row (docs/contracts.md)."""
        return _q(amount * self.rate(currency, day))


# ----------------------------------------------------------------------------- the simulation


class _Company:
    def __init__(self, seed: int, scale: int, region: str = "default", story: str = "default",
                 reporting_currency: str | None = None) -> None:
        self.world = _world(region)
        self.reporting_currency = reporting_currency or self.world.reporting_currency
        self.rng = random.Random(seed)
        self.seed, self.scale = seed, scale
        # the improving story (connectors/sandbox/story.py): every hook is `if self.improving`, so
        # the default company draws exactly what it always drew
        self.story = stories.check(story)
        self.improving = story == "improving"
        self.seq = 0
        self.sf: dict[str, list[dict]] = {name: [] for name in sfs.OBJECT_ORDER}
        self.customers: list[dict] = []
        self.orders: list[dict] = []
        self.invoices: list[dict] = []
        self.receipts: list[dict] = []
        self.adspend: list[dict] = []
        self.anomalies: dict[str, Any] = {}
        self._emails: dict[str, int] = {}
        self.fx = _Fx(self.rng, _reporting_levels(self.world.fx_levels, self.reporting_currency),
                      self.reporting_currency)

    # -- entity bookkeeping ----------------------------------------------------------------

    def _new(self, obj: str, created: dt.datetime, **fields: Any) -> dict:
        """A Salesforce entity; `_seq` breaks ties when Ids are assigned in creation order."""
        self.seq += 1
        created = created.replace(microsecond=0)  # Salesforce datetimes are whole seconds here
        rec = {"_seq": self.seq, "IsDeleted": False, "CreatedDate": created, "LastModifiedDate": created,
               "SystemModstamp": created, **fields}
        self.sf[obj].append(rec)
        return rec

    @staticmethod
    def _touch(rec: dict, t: dt.datetime, *, system_only: bool = False) -> None:
        """Record a later change (automation bumps only SystemModstamp)."""
        t = t.replace(microsecond=0)
        if not system_only and t > rec["LastModifiedDate"]:
            rec["LastModifiedDate"] = t
        if t > rec["SystemModstamp"]:
            rec["SystemModstamp"] = t

    def _unique_email(self, first: str, last: str, domain: str) -> str:
        local = f"{first}.{last}".lower().replace(" ", "")
        n = self._emails.get(f"{local}@{domain}", 0)
        self._emails[f"{local}@{domain}"] = n + 1
        return f"{local}{n + 1 if n else ''}@{domain}"

    # -- users and campaigns ---------------------------------------------------------------

    def build_users(self) -> None:
        self.users_by_region: dict[str, list[dict]] = defaultdict(list)
        for i, (name, region, left) in enumerate(self.world.users):
            local = self.world.user_email_local(name) if self.world.user_email_local else ".".join(name.split(" ", 1))
            email = f"{local}@ltc-sandbox.example.com".lower()
            created = dt.datetime.combine(PERIOD_START, dt.time(9)) + dt.timedelta(minutes=i)
            user = self._new("User", created, Username=email, Name=name, Email=email, IsActive=left is None,
                             Department=region, _left=left)
            if left:
                self._touch(user, dt.datetime.combine(left, dt.time(17, 30)))
            self.users_by_region[region].append(user)

    def _owner(self, region: str, t: dt.datetime) -> dict:
        users = [u for u in self.users_by_region[region] if u["_left"] is None or t.date() < u["_left"]]
        return self.rng.choice(users)

    def build_campaigns(self) -> None:
        self.campaigns_by_type: dict[str, list[dict]] = defaultdict(list)
        plan = stories.campaigns(self.world.campaigns) if self.improving else self.world.campaigns
        for name, ctype, region, start, end in plan:
            start_d, end_d = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
            created = max(_at_work(self.rng, start_d - dt.timedelta(days=14)),
                          dt.datetime.combine(PERIOD_START, dt.time(9, 30)))
            currency = self.world.regions[region][1] if region else self.world.home_currency
            camp = self._new(
                "Campaign", created, Name=name, Type=ctype, StartDate=start_d, EndDate=end_d,
                Status="Completed" if end_d < AS_OF else "In Progress", CurrencyIsoCode=currency,
                IsActive=end_d >= AS_OF, OwnerId=self.users_by_region[region or self.world.home_region][0],
                BudgetedCost=None, ActualCost=None, _region=region, _leads=[],
            )
            self.campaigns_by_type[ctype].append(camp)

    # -- leads -----------------------------------------------------------------------------

    def _lead_moment(self, source: str) -> tuple[dt.datetime, dict | None]:
        """When a lead arrives, and from which campaign (leads grow ~50 % over the year)."""
        if source in self.campaigns_by_type:
            camps = self.campaigns_by_type[source]
            camp = _weighted(self.rng, camps, [(c["EndDate"] - c["StartDate"]).days + 5 for c in camps])
            if source == "Trade Show":
                # badge scans are imported in one batch after the show: same CreatedDate for all
                return camp["_import_at"], camp
            span = (min(camp["EndDate"], AS_OF) - camp["StartDate"]).days + 1
            day = camp["StartDate"] + dt.timedelta(days=self.rng.randrange(span))
            return dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=self.rng.randrange(86400)), camp
        if self.improving:  # flat arrivals over the story's two years
            day = self.rng.randrange((END.date() - START.date()).days + 1)
            return START + dt.timedelta(days=day, seconds=self.rng.randrange(86400)), None
        while True:  # rejection sampling on a rising trend
            day = self.rng.randrange(365)
            if self.rng.random() < (1 + 0.5 * day / 365) / 1.5:
                break
        return START + dt.timedelta(days=day, seconds=self.rng.randrange(86400)), None

    def _person(self, region: str) -> dict[str, str]:
        if self.world.person is not None:
            return self.world.person(self, region)
        rng = self.rng
        countries = REGIONS[region][2]
        country, iso, _w, _vat, cities = _weighted(rng, list(countries), [c[2] for c in countries])
        first, last = rng.choice(FIRST), rng.choice(LAST)
        core = f"{rng.choice(NAME_A)} {rng.choice(NAME_B)}"
        tld = {"US": "com", "CA": "ca", "GB": "co.uk"}.get(iso, iso.lower())
        domain = f"{core.lower().replace(' ', '')}.{tld}"
        return {
            "FirstName": first, "LastName": last, "Name": f"{first} {last}",
            "Company": f"{core} {LEGAL_SUFFIX[iso]}", "Email": self._unique_email(first, last, domain),
            "Country": country, "_iso": iso, "_city": rng.choice(cities), "_region": region,
        }

    def _region(self, camp: dict | None) -> str:
        if camp is not None and camp["_region"]:
            return camp["_region"]
        regions = self.world.regions
        return _weighted(self.rng, list(regions), [r[0] for r in regions.values()])

    def build_leads(self) -> None:
        rng = self.rng
        n_junk = _planted(0.01, self.scale) if self.scale >= 200 else 0
        n_dup = _planted(0.02, self.scale) if self.scale >= 200 else 0
        n_real = self.scale - n_junk - n_dup
        for camp in self.campaigns_by_type["Trade Show"]:
            camp["_import_at"] = _at_work(rng, camp["EndDate"] + dt.timedelta(days=2))
        sources, weights = list(SOURCES), [v[0] for v in SOURCES.values()]
        self.real_leads: list[dict] = []
        for _ in range(n_real):
            source = _weighted(rng, sources, weights)
            created, camp = self._lead_moment(source)
            person = self._person(self._region(camp))
            lead = self._new(
                "Lead", created, LeadSource=source, Status="Open - Not Contacted", IsConverted=False,
                ConvertedDate=None, ConvertedAccountId=None, ConvertedContactId=None,
                ConvertedOpportunityId=None, Rating=rng.choice(("Hot", "Warm", "Warm", "Cold", "Cold")),
                OwnerId=self._owner(person["_region"], created), _campaign=camp, **person,
            )
            if camp is not None:
                camp["_leads"].append(lead)
                self._membership(camp, lead, created + dt.timedelta(seconds=rng.randrange(1, 120)))
            self._lead_lifecycle(lead, SOURCES[source][1])
            self._second_touch(lead)
            self.real_leads.append(lead)
        self._plant_duplicate_leads(n_dup)
        self._plant_junk_leads(n_junk)

    def _membership(self, camp: dict, lead: dict, t: dt.datetime) -> dict:
        return self._new("CampaignMember", t, CampaignId=camp, LeadId=lead, ContactId=None,
                         Status="Responded", HasResponded=True, FirstRespondedDate=t.date())

    def _second_touch(self, lead: dict) -> None:
        """~10 % of leads also respond to a later campaign (multi-touch attribution)."""
        rng = self.rng
        if rng.random() >= 0.10:
            return
        last = lead["_converted_at"] or END
        t = lead["CreatedDate"] + dt.timedelta(days=1 + rng.random() * 90)
        if t >= last:
            return
        running = [c for cs in self.campaigns_by_type.values() for c in cs
                   if c["StartDate"] <= t.date() <= c["EndDate"] and c is not lead["_campaign"]
                   and c["Type"] != "Trade Show"]
        if running:
            self._membership(rng.choice(running), lead, t)

    def _lead_lifecycle(self, lead: dict, qualify_rate: float) -> None:
        """Status changes up to the as-of date; a converted lead creates account, contact, opportunity."""
        rng = self.rng
        lead["_converted_at"] = None
        touched = _work_shift(rng, lead["CreatedDate"] + _days(rng, 1.5, 0.9))
        if touched > END:
            return
        self._set_status(lead, "Working - Contacted", touched)
        if rng.random() >= qualify_rate:
            if rng.random() < 0.75:
                closed = _work_shift(rng, touched + _days(rng, 25, 0.6))
                if closed <= END:
                    self._set_status(lead, "Closed - Not Converted", closed)
            return
        qualified = _work_shift(rng, touched + _days(rng, 6, 0.7))
        if qualified > END:
            return
        self._set_status(lead, "Qualified", qualified)
        if rng.random() >= CONVERT_RATE:
            closed = _work_shift(rng, qualified + _days(rng, 20, 0.6))
            if closed <= END:
                self._set_status(lead, "Closed - Not Converted", closed)
            return
        converted = _work_shift(rng, qualified + _days(rng, 5, 0.8))
        if converted <= END:
            self._convert(lead, converted)

    def _set_status(self, lead: dict, status: str, t: dt.datetime) -> None:
        lead["Status"] = status
        self._touch(lead, t)

    def _convert(self, lead: dict, t: dt.datetime) -> None:
        rng = self.rng
        region, iso = lead["_region"], lead["_iso"]
        owner = lead["OwnerId"] if lead["OwnerId"]["_left"] is None or t.date() < lead["OwnerId"]["_left"] \
            else self._owner(region, t)
        account = self._new(
            "Account", t, Name=lead["Company"], Type="Prospect", Industry=rng.choice(sfs.INDUSTRIES),
            BillingCity=lead["_city"], BillingCountry=lead["Country"], OwnerId=owner, AccountNumber=None,
            CurrencyIsoCode=self.world.regions[region][1], _iso=iso, _region=region, _customer=None,
        )
        contact = self._new("Contact", t, AccountId=account, FirstName=lead["FirstName"],
                            LastName=lead["LastName"], Name=lead["Name"], Email=lead["Email"], OwnerId=owner)
        camp = lead["_campaign"]
        opp = self._opportunity(account, t, owner, lead_source=lead["LeadSource"], campaign=camp,
                                kind="New Customer", median=24000)
        lead.update(Status="Closed - Converted", IsConverted=True, ConvertedDate=t.date(),
                    ConvertedAccountId=account, ConvertedContactId=contact, ConvertedOpportunityId=opp,
                    _converted_at=t)
        self._touch(lead, t)
        self.accounts.append(account)

    def _plant_duplicate_leads(self, n: int) -> None:
        """The same person re-created as a second Lead (web form filled in again), never converted."""
        rng = self.rng
        ids = []
        for src in rng.sample(self.real_leads, n):
            created = src["CreatedDate"] + dt.timedelta(days=rng.uniform(3, 150))
            if created > END:
                created = src["CreatedDate"] + (END - src["CreatedDate"]) * rng.random()
            email = src["Email"]
            if rng.random() < 0.4:  # same address, typed differently
                email = email[0].upper() + email[1:]
            person = {k: src[k] for k in ("FirstName", "LastName", "Name", "Company", "Country",
                                          "_iso", "_city", "_region")}
            dup = self._new(
                "Lead", created, LeadSource="Web", Status="Open - Not Contacted", IsConverted=False,
                ConvertedDate=None, ConvertedAccountId=None, ConvertedContactId=None,
                ConvertedOpportunityId=None, Rating="Warm", Email=email,
                OwnerId=self._owner(src["_region"], created), _campaign=None, _converted_at=None, **person,
            )
            touched = _work_shift(rng, created + _days(rng, 2, 0.8))
            if touched <= END:
                self._set_status(dup, "Working - Contacted", touched)
            ids.append(dup)
        self.anomalies["duplicate_leads"] = ids

    def _plant_junk_leads(self, n: int) -> None:
        """Test and spam leads, deleted a few days later (IsDeleted, later SystemModstamp)."""
        rng = self.rng
        deleted = []
        for i in range(n):
            created = START + dt.timedelta(seconds=rng.randrange(int((END - START).total_seconds()) - 86400 * 10))
            lead = self._new(
                "Lead", created, FirstName="Test", LastName=f"Lead {i + 1}", Name=f"Test Lead {i + 1}",
                Company=rng.choice(("Test", "asdf", "N/A", "Acme Test")), Email=f"test{i + 1}@example.com",
                Country=None, LeadSource="Web", Status="Open - Not Contacted", IsConverted=False,
                ConvertedDate=None, ConvertedAccountId=None, ConvertedContactId=None,
                ConvertedOpportunityId=None, Rating="Cold", OwnerId=self._owner(self.world.home_region, created),
            )
            self._delete(lead, _work_shift(rng, created + _days(rng, 2, 0.8)))
            deleted.append(lead)
        self.anomalies["deleted_leads"] = deleted

    def _delete(self, rec: dict, t: dt.datetime) -> None:
        rec["IsDeleted"] = True
        self._touch(rec, min(t, END))

    # -- opportunities -----------------------------------------------------------------------

    def _amount(self, median_usd: float, currency: str) -> Decimal:
        value = self.rng.lognormvariate(math.log(median_usd / self.world.size_fx[currency]), 0.7)
        if self.rng.random() < 0.6:  # most quotes are round numbers
            return Decimal(int(round(value, -2)) or 100).quantize(CENT)
        return _money(value)

    def _opportunity(self, account: dict, t: dt.datetime, owner: dict, *, lead_source: str | None,
                     campaign: dict | None, kind: str, median: float) -> dict:
        rng = self.rng
        ccy = account["CurrencyIsoCode"]
        amount = self._amount(median, ccy)
        close = (t + _days(rng, 60, 0.4)).date()
        opp = self._new(
            "Opportunity", t, AccountId=account, Name=f"{account['Name']} - {rng.choice(PRODUCTS)}",
            StageName="Prospecting", Amount=amount, CurrencyIsoCode=ccy, Probability=Decimal(10),
            ForecastCategoryName="Pipeline", CloseDate=close, IsClosed=False, IsWon=False,
            LeadSource=lead_source, CampaignId=campaign, OwnerId=owner, Type=kind, _stage_at={},
        )
        self._history(opp, t)
        self._progress(opp)
        self.opportunities.append(opp)
        return opp

    def _history(self, opp: dict, t: dt.datetime) -> None:
        stage = opp["StageName"]
        opp["_stage_at"][stage] = t
        self._new("OpportunityHistory", t, OpportunityId=opp, StageName=stage, Amount=opp["Amount"],
                  Probability=Decimal(sfs.STAGE_PROBABILITY[stage]),
                  ForecastCategory=sfs.STAGE_FORECAST_CATEGORY[stage], CloseDate=opp["CloseDate"],
                  CreatedById=opp["OwnerId"], CurrencyIsoCode=opp["CurrencyIsoCode"])

    def _progress(self, opp: dict) -> None:
        """Walk the stages until the deal closes or the as-of date comes first."""
        rng = self.rng
        won = rng.random() < WIN_PROBABILITY
        path = list(sfs.OPEN_STAGES[1:])
        if rng.random() < 0.2:
            path.remove("Needs Analysis")  # some deals skip discovery
        if not won:
            path = path[: rng.randrange(len(path) + 1)]  # lost after reaching some stage
        path.append("Closed Won" if won else "Closed Lost")
        t = opp["CreatedDate"]
        close_at = None  # improving story: the close moment, known at Commit
        for stage in path:
            if close_at is not None:
                t = close_at
            elif self.improving and stage.startswith("Closed") and "Negotiation/Review" in path:
                t = _work_shift(rng, t + _days(rng, stories.NEGOTIATION_MEDIAN_DAYS, 0.6))
            else:
                t = _work_shift(rng, t + _days(rng, 8, 0.6))
            if t > END:
                return  # still open at the as-of date
            if self.improving and stage == "Negotiation/Review" and stories.after(t):
                if not won and rng.random() >= stories.LOST_COMMITTED_AFTER:
                    continue  # disciplined: a deal that is going to be lost is not committed
                # the price is settled before Commit; the close date set now is mostly the real one
                close_at = _work_shift(rng, t + _days(rng, stories.NEGOTIATION_MEDIAN_DAYS, 0.6))
                opp["CloseDate"] = close_at.date() if rng.random() < stories.REAL_CLOSE_DATE_AFTER \
                    else (close_at + _days(rng, 30, 0.4)).date()
                opp.update(StageName=stage, Probability=Decimal(sfs.STAGE_PROBABILITY[stage]),
                           ForecastCategoryName=sfs.STAGE_FORECAST_NAME[stage], IsClosed=False, IsWon=False)
                self._touch(opp, t)
                self._history(opp, t)
                continue
            if stage in ("Proposal/Price Quote", "Negotiation/Review") and rng.random() < 0.3:
                opp["Amount"] = _q(opp["Amount"] * Decimal(f"{rng.uniform(0.8, 1.15):.3f}"))
            if stage.startswith("Closed"):
                opp["CloseDate"] = t.date()
            elif t.date() > opp["CloseDate"] - dt.timedelta(days=7):  # slipping: push the date
                opp["CloseDate"] = (t + _days(rng, 30, 0.4)).date()
            opp.update(StageName=stage, Probability=Decimal(sfs.STAGE_PROBABILITY[stage]),
                       ForecastCategoryName=sfs.STAGE_FORECAST_NAME[stage], IsClosed=stage.startswith("Closed"),
                       IsWon=stage == "Closed Won")
            self._touch(opp, t)
            self._history(opp, t)

    def build_opportunities(self) -> None:
        """Expansion deals on existing accounts (no lead), and mistaken deals deleted again."""
        rng = self.rng
        lead_opps = len(self.opportunities)
        if not self.accounts:
            self.anomalies["deleted_opportunities"] = []
            return
        wanted = round(lead_opps / 9)  # -> about 10 % of all opportunities
        for _ in range(4 * wanted):
            if len(self.opportunities) - lead_opps >= wanted:
                break
            account = rng.choice(self.accounts)
            t = _work_shift(rng, account["CreatedDate"] + dt.timedelta(days=rng.uniform(30, 240)))
            if t > END - dt.timedelta(days=7):
                continue  # too late in the year for an upsell: try another account
            self._opportunity(account, t, account["OwnerId"], lead_source=None, campaign=None,
                              kind="Existing Customer - Upgrade", median=12000)
        deleted = []
        for _ in range(_planted(0.01, len(self.opportunities)) if self.scale >= 200 else 0):
            account = rng.choice(self.accounts)
            t = _work_shift(rng, account["CreatedDate"] + dt.timedelta(days=rng.uniform(1, 20)))
            t = min(t, END - dt.timedelta(days=2))
            opp = self._new(
                "Opportunity", t, AccountId=account, Name=f"{account['Name']} - {rng.choice(PRODUCTS)} (copy)",
                StageName="Prospecting", Amount=self._amount(24000, account["CurrencyIsoCode"]),
                CurrencyIsoCode=account["CurrencyIsoCode"], Probability=Decimal(10),
                ForecastCategoryName="Pipeline", CloseDate=(t + dt.timedelta(days=60)).date(), IsClosed=False,
                IsWon=False, LeadSource=None, CampaignId=None, OwnerId=account["OwnerId"], Type="New Customer",
                _stage_at={},
            )
            self._history(opp, t)
            gone = t + dt.timedelta(days=rng.uniform(0.1, 10))
            self._delete(opp, gone)
            for h in self.sf["OpportunityHistory"][-1:]:
                self._delete(h, gone)  # deleting an opportunity deletes its history too
            deleted.append(opp)
        self.anomalies["deleted_opportunities"] = deleted

    # -- contracts, orders, ERP ------------------------------------------------------------

    def build_fulfilment(self) -> None:
        rng = self.rng
        # in order of winning, so an account's ERP customer is created by its first order
        won = sorted((o for o in self.opportunities if o["IsWon"]),
                     key=lambda o: (o["_stage_at"]["Closed Won"], o["_seq"]))
        orderable = []
        for opp in won:
            won_at = opp["_stage_at"]["Closed Won"]
            account = opp["AccountId"]
            if account["Type"] != "Customer":
                account["Type"] = "Customer"
                self._touch(account, won_at)
            order_at = _at_work(rng, won_at.date() + dt.timedelta(days=rng.randrange(0, 11)))
            opp["_order_at"] = order_at if order_at <= END else None
            if opp["_order_at"]:
                orderable.append(opp)
        if self.improving:  # far fewer orders without a contract once the company is disciplined
            before = [o for o in orderable if not stories.after(o["_order_at"])]
            later = [o for o in orderable if stories.after(o["_order_at"])]
            no_contract = rng.sample(before, _planted(stories.NO_CONTRACT_BEFORE, len(before))) + rng.sample(
                later, min(len(later), round(stories.NO_CONTRACT_AFTER * len(later))))
        else:
            no_contract = rng.sample(orderable, _planted(0.03, len(orderable)) if self.scale >= 200 else 0)
        for opp in no_contract:
            opp["_no_contract"] = True
        # contract-to-cash leaks, drawn from their own stream so the main stream's draws stay put
        plant = random.Random(f"contract-anomalies-{self.seed}-{self.scale}")
        self._plant_not_invoiced(plant, orderable)
        self._plant_signed_late(plant, orderable)
        for opp in won:
            contract = None if opp.get("_no_contract") else self._contract(opp)
            if opp["_order_at"]:
                self._order(opp, contract)
        self.anomalies["orders_without_contract"] = [o["_erp_order"] for o in no_contract]
        self._plant_over_invoiced(plant)

    def _plant_not_invoiced(self, plant: random.Random, orderable: list[dict]) -> None:
        """Won, contracted and ordered (and delivered), but never billed: revenue leakage type 1.
        Only deals won at least 45 days before the as-of date, so they are overdue for billing."""
        cutoff = AS_OF - dt.timedelta(days=45)
        candidates = [o for o in orderable if not o.get("_no_contract")
                      and o["_stage_at"]["Closed Won"].date() <= cutoff]
        n = _planted(0.02, len(candidates)) if self.scale >= 200 else 0
        for opp in plant.sample(candidates, n):
            opp["_not_invoiced"] = True
        self.anomalies["planted_not_invoiced"] = [o for o in candidates if o.get("_not_invoiced")]

    def _plant_signed_late(self, plant: random.Random, orderable: list[dict]) -> None:
        """Work started before the contract was signed (back-signing, 合同倒签): the contract is
        signed 2-25 days after the order, so the order is booked (and usually shipped) first. Some
        contracts are signed late by chance too (_contract); these make sure every scale has some."""
        cutoff = END - dt.timedelta(days=40)
        candidates = [o for o in orderable if not o.get("_no_contract") and not o.get("_not_invoiced")
                      and o["_order_at"] <= cutoff]
        if self.improving:  # the improving story plants back-signing only before its adoption date
            candidates = [o for o in candidates if not stories.after(o["_order_at"])]
        n = _planted(0.02, len(candidates)) if self.scale >= 200 else 0
        for opp in plant.sample(candidates, n):
            opp["_sign_late"] = True

    def _plant_over_invoiced(self, plant: random.Random) -> None:
        """A change request billed on top of the contract without amending it: one more invoice
        (5-20 % of the order's net) 10-40 days after the order's last one, over the contract value."""
        last_issue: dict[int, dt.date] = {}
        for inv in self.invoices:
            key = inv["order"]["_seq"]
            last_issue[key] = max(inv["issue_date"], last_issue.get(key, inv["issue_date"]))
        cutoff = AS_OF - dt.timedelta(days=13)
        candidates = [o for o in self.orders if o["contract"] is not None and not o["opp"].get("_sign_late")
                      and o["status"] == "invoiced" and last_issue[o["_seq"]] <= cutoff]  # fully invoiced
        n = _planted(0.02, len(candidates)) if self.scale >= 200 else 0
        planted = []
        for order in plant.sample(candidates, n):
            extra = max(CENT, _q(order["net_amount"] * Decimal(f"{plant.uniform(0.05, 0.2):.4f}")))
            last = last_issue[order["_seq"]]
            gap = plant.randrange(10, min(41, (AS_OF - last).days - 1))  # by the as-of date (weekend: +2)
            issue = _bday(last + dt.timedelta(days=gap))
            self._invoice(order, issue, extra)
            planted.append(order["contract"])
        self.anomalies["planted_over_invoiced"] = planted

    def contract_anomaly_ids(self, uninvoiced_after_days: int = 30) -> dict[str, list[str]]:
        """The contract-to-cash anomalies as the finished data shows them at AS_OF, planted or not,
        by the rules of dbt's int_contract_exceptions_flagged (ids assigned, so call it last):
        - invoices_without_contract: live invoices whose order carries no contract;
        - work_without_signed_contract: orders with a contract that was unsigned at AS_OF or
          signed after the order date (deliveries ship on or after the order date, so work shipped
          before signing is always booked before it too); orders with no contract at all are
          `orders_without_contract`;
        - contracts_invoiced_over_value: contracts whose live invoices' net exceeds the contract
          value by more than a cent (contract Ids);
        - won_not_invoiced: won opportunities closed `uninvoiced_after_days` or more days before
          AS_OF with no live invoice on any of their orders (opportunity Ids)."""
        live = [v for v in self.invoices if not v["deleted"] and v["issue_date"] <= AS_OF]
        invoiced: dict[int, Decimal] = defaultdict(Decimal)
        invoiced_opps = set()
        for v in live:
            invoiced_opps.add(v["order"]["opp"]["_seq"])
            if v["order"]["contract"] is not None:
                invoiced[v["order"]["contract"]["_seq"]] += v["net"]
        contracts = [c for c in self.sf["Contract"] if not c["IsDeleted"]]
        deadline = AS_OF - dt.timedelta(days=uninvoiced_after_days)
        return {
            "invoices_without_contract": sorted(v["id"] for v in live if v["order"]["contract"] is None),
            "work_without_signed_contract": sorted(
                o["id"] for o in self.orders if o["contract"] is not None
                and (o["contract"]["CustomerSignedDate"] is None
                     or o["order_date"] < o["contract"]["CustomerSignedDate"])),
            "contracts_invoiced_over_value": sorted(
                c["Id"] for c in contracts if invoiced[c["_seq"]] > c["Contract_Value__c"] + CENT),
            "won_not_invoiced": sorted(
                o["Id"] for o in self.sf["Opportunity"] if o["IsWon"] and not o["IsDeleted"]
                and o["CloseDate"] <= deadline and o["_seq"] not in invoiced_opps),
        }

    def _contract(self, opp: dict) -> dict:
        rng = self.rng
        drafted = opp["_stage_at"].get("Negotiation/Review") or opp["_stage_at"]["Closed Won"]
        won_day = opp["_stage_at"]["Closed Won"].date()
        # signed only after the order: work without a contract (rng drawn first: the stream stays put)
        late = stories.SIGNED_LATE_AFTER if self.improving and opp["_order_at"] and stories.after(
            opp["_order_at"]) else 0.06
        if opp["_order_at"] and (rng.random() < late or opp.get("_sign_late")):
            signed = _bday(opp["_order_at"].date() + dt.timedelta(days=rng.randrange(2, 26)))
        else:
            signed = max(drafted.date(), won_day - dt.timedelta(days=rng.randrange(0, 4)))
        signed_at = _at_work(rng, signed)
        signed_at = max(signed_at, drafted + dt.timedelta(hours=1))
        is_signed = signed_at <= END
        term = _weighted(rng, [12, 24, 36], [0.6, 0.25, 0.15])
        start = signed_at.date() if is_signed else (opp["_order_at"] or END).date()
        contract = self._new(
            "Contract", drafted, AccountId=opp["AccountId"], ContractNumber=None,
            Status="Activated" if is_signed else "Draft", StartDate=start,
            EndDate=_add_months(start, term) - dt.timedelta(days=1), ContractTerm=term,
            CustomerSignedDate=signed_at.date() if is_signed else None,
            ActivatedDate=signed_at if is_signed else None, CurrencyIsoCode=opp["CurrencyIsoCode"],
            Opportunity__c=opp, Contract_Value__c=opp["Amount"],
        )
        if is_signed:
            self._touch(contract, signed_at)
        return contract

    def _order(self, opp: dict, contract: dict | None) -> None:
        rng = self.rng
        t = opp["_order_at"]
        account = opp["AccountId"]
        sf_order = self._new("Order", t, AccountId=account, ContractId=contract, OpportunityId=opp,
                             OrderNumber=None, Status="Activated", EffectiveDate=t.date(),
                             TotalAmount=opp["Amount"], CurrencyIsoCode=opp["CurrencyIsoCode"])
        self._touch(sf_order, t + dt.timedelta(minutes=rng.randrange(1, 30)))
        customer = account["_customer"] or self._customer(account, t)
        order = {"_seq": self._next(), "customer": customer, "opp": opp, "contract": contract, "order_date": t.date(),
                 "currency": opp["CurrencyIsoCode"], "net_amount": opp["Amount"], "created": t + dt.timedelta(hours=2)}
        order["updated"] = order["created"]
        opp["_erp_order"] = order
        self.orders.append(order)
        self._invoice_order(order)

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _customer(self, account: dict, t: dt.datetime) -> dict:
        rng = self.rng
        iso = account["_iso"]
        vat = next(c[3] for r in self.world.regions.values() for c in r[2] if c[1] == iso)
        created = t - dt.timedelta(hours=1)
        customer = {
            "_seq": self._next(), "account": account, "name": account["Name"], "country": iso,
            "currency": account["CurrencyIsoCode"], "created": created, "updated": created,
            "linked": rng.random() < 0.95,  # a few ERP customers lack the CRM id: matched by number/name
            "tax_id": f"{iso}{rng.randrange(10**8, 10**9)}" if iso != "US" else f"{rng.randrange(10, 99)}-{rng.randrange(10**6, 10**7)}",
            "terms": _weighted(rng, [30, 45, 60], [0.6, 0.25, 0.15]), "vat": Decimal(vat),
            "on_time": 0.92 if rng.random() < 0.75 else 0.55,  # good payers and slow payers
            "payer_name": account["Name"].upper() if rng.random() < 0.3 else account["Name"],
            "iban": _customer_iban(rng, iso),
            "acct_no": f"{rng.randrange(10**8, 10**9)}",
        }
        if self.world.spell_customer is not None:  # after the draws above: they stay put
            self.world.spell_customer(rng, customer)
        account["_customer"] = customer
        self._touch(account, created + dt.timedelta(minutes=5))  # AccountNumber written back by the ERP sync
        self.customers.append(customer)
        return customer

    def _invoice_order(self, order: dict) -> None:
        rng = self.rng
        parts = _weighted(rng, [1, 2, 3], [0.65, 0.20, 0.15])
        net = order["net_amount"]
        share = (net / parts).quantize(CENT, rounding=ROUND_DOWN)
        first = _bday(order["order_date"] + dt.timedelta(days=rng.randrange(0, 6)))
        if order["opp"].get("_not_invoiced"):  # planted leak (draws above kept: the stream stays put)
            order["status"] = "booked"
            return
        issued_all = True
        for i in range(parts):
            issue = _bday(first + dt.timedelta(days=30 * i))
            if issue > AS_OF:
                issued_all = False
                break
            part = share if i < parts - 1 else net - share * (parts - 1)
            self._invoice(order, issue, part)
        order["status"] = "invoiced" if issued_all else "open"

    def _invoice(self, order: dict, issue: dt.date, net: Decimal, *, deleted: bool = False) -> dict:
        customer = order["customer"]
        tax = _q(net * customer["vat"])
        created = dt.datetime.combine(issue, dt.time(6, 0)) + dt.timedelta(seconds=len(self.invoices) % 600)
        inv = {"_seq": self._next(), "order": order, "customer": customer, "issue_date": issue,
               "due_date": issue + dt.timedelta(days=customer["terms"]), "currency": order["currency"],
               "net": net, "tax": tax, "total": net + tax, "status": "open", "deleted": deleted,
               "created": created, "updated": created, "receipt": None}
        order["updated"] = max(order["updated"], created)
        self.invoices.append(inv)
        return inv

    # -- cash ------------------------------------------------------------------------------

    def build_receipts(self) -> None:
        rng = self.rng
        paid = []
        for inv in self.invoices:
            customer = inv["customer"]
            # improving story: invoices due from the adoption date on are dunned (story.py)
            disciplined = self.improving and stories.after(inv["due_date"])
            never = (stories.NEVER_PAID_AFTER if disciplined else stories.NEVER_PAID_BEFORE) if self.improving \
                else 0.02
            if rng.random() < never:
                if not (self.improving and not disciplined and rng.random() < stories.DRIVE_COLLECTS):
                    continue  # never pays: overdue at the as-of date
                # improving story: old debt collected in the drive after adoption
                booking = max(inv["due_date"], stories.ADOPTION) + dt.timedelta(
                    days=rng.randrange(15, stories.DRIVE_DAYS))
            elif rng.random() < (1 - (1 - customer["on_time"]) * stories.LATE_SHARE_AFTER if disciplined
                                 else customer["on_time"]):
                early = int(rng.triangular(0, max(customer["terms"] - 5, 1), 2))
                booking = inv["due_date"] - dt.timedelta(days=early)
            else:
                late_days = (stories.LATE_MEDIAN_DAYS_AFTER if disciplined else stories.LATE_MEDIAN_DAYS_BEFORE) \
                    if self.improving else 10
                booking = inv["due_date"] + dt.timedelta(days=1) + _days(rng, late_days, 0.8)
            booking = _bday(max(booking, inv["issue_date"] + dt.timedelta(days=2)))
            if booking > AS_OF:
                continue
            paid.append(inv)
            inv["receipt"] = {"invoice": inv, "booking": booking, "amount": inv["total"], "kind": "ok",
                              "reference": None}
        self._plant_receipt_anomalies(paid)
        self._plant_deleted_invoices()
        self._number_erp_documents()
        finished: set[int] = set()  # a lump sum is the receipt of several invoices: finish it once
        for inv in paid:
            if id(inv["receipt"]) not in finished:
                finished.add(id(inv["receipt"]))
                self._finish_receipt(inv["receipt"])
        self._finish_cash_application_cases()
        late = [inv for inv in paid if inv["receipt"]["kind"] not in ("short", "no_reference_short")
                and inv["receipt"]["booking"] > inv["due_date"]]
        self.anomalies["invoices_paid_late"] = late

    def _plant_receipt_anomalies(self, paid: list[dict]) -> None:
        rng = self.rng
        kinds = [("wrong_reference", 0.015), ("missing_reference", 0.015), ("short", 0.015), ("over", 0.01)]
        counts = [(_planted(rate, len(paid)) if self.scale >= 200 else 0) for _kind, rate in kinds]
        picked = rng.sample(paid, min(len(paid), sum(counts)))
        start = 0
        for (kind, _rate), n in zip(kinds, counts):
            for inv in picked[start:start + n]:
                r = inv["receipt"]
                r["kind"] = kind
                if kind == "short":  # deducted bank charges or a disputed part
                    cut = _q(inv["total"] * Decimal(f"{rng.uniform(0.02, 0.15):.4f}")) if rng.random() < 0.6 \
                        else Decimal(rng.choice(("15.00", "20.00", "25.00")))
                    r["amount"] = inv["total"] - min(cut, inv["total"] - CENT)
                elif kind == "over":
                    r["amount"] = inv["total"] + max(CENT, _q(inv["total"] * Decimal(f"{rng.uniform(0.01, 0.1):.4f}")))
            start += n
        self._plant_cash_application_cases(paid)

    def _plant_cash_application_cases(self, paid: list[dict]) -> None:
        """Receipts that only the cash-application cascade's rules 2-4 can apply, on customers whose
        IBAN the ERP knows (the payer is identified by it): no remittance but the exact open amount
        (`no_reference`), no remittance and a bank fee deducted (`no_reference_short`), one lump sum
        for a customer's oldest invoices (`lump_sum`, oldest-first), and duplicate payments of an
        invoice already paid (`duplicate`, same amount and remittance, booked later). Cases are
        chosen so that their right answer is unambiguous: a customer with a lump sum or a
        no-reference receipt has no other odd receipt, and no other invoice of a nearby total. Also
        tops up the referenced short payments to at least two within the write-off tolerance and two
        beyond it. Planted from scale 1000 on (smaller companies keep their receipts referenced).

        Drawn from their own random stream, so what the main stream draws (Salesforce, orders,
        invoices, ad spend) does not depend on them; only the bank files and the paid invoices do."""
        rng = self._cash_rng = random.Random(f"cash-application-{self.seed}-{self.scale}")
        self._duplicates: list[dict] = []
        if self.scale < 1000 or not paid:  # small companies keep (almost) every receipt referenced
            return
        # referenced short payments, both within the write-off tolerance (a bank fee) and beyond it,
        # at least twice each (the random ones above may all fall on one side)
        shorts = [v["receipt"] for v in paid if v["receipt"]["kind"] == "short"]
        within = sum(_within_write_off_tolerance(r["invoice"]["total"] - r["amount"], r["invoice"]["total"])
                     for r in shorts)
        ok = [v for v in paid if v["receipt"]["kind"] == "ok" and v["total"] > Decimal("100.00")]
        for i, inv in enumerate(rng.sample(ok, min(len(ok), max(0, 2 - within) + max(0, 2 - len(shorts) + within)))):
            r = inv["receipt"]
            r["kind"] = "short"
            cut = Decimal(rng.choice(("12.50", "15.00", "20.00", "25.00"))) if i < max(0, 2 - within) \
                else _q(inv["total"] * Decimal("0.05")) + Decimal("30.00")
            r["amount"] = inv["total"] - cut
        by_customer: dict[int, list[dict]] = defaultdict(list)
        for inv in self.invoices:
            by_customer[inv["customer"]["_seq"]].append(inv)
        for invs in by_customer.values():  # the cascade's oldest-first order (ids follow this order)
            invs.sort(key=lambda v: (v["due_date"], v["issue_date"], v["created"], v["_seq"]))
        eligible = [invs for invs in by_customer.values()
                    if invs[0]["customer"]["iban"] and len({v["currency"] for v in invs}) == 1
                    and all(v["receipt"] is None or v["receipt"]["kind"] == "ok" for v in invs)]
        rng.shuffle(eligible)

        def lonely(inv: dict, invs: list[dict]) -> bool:  # no other invoice of the customer near its total
            margin = max(Decimal("50.00"), inv["total"] / 100)
            return all(v is inv or abs(v["total"] - inv["total"]) > margin for v in invs)

        lump_sums, exact, short = (_planted(0.01, len(paid)), _planted(0.015, len(paid)),
                                   _planted(0.005, len(paid)))
        for invs in eligible:
            if lump_sums:
                k = rng.choice((2, 3))
                oldest = invs[:k]
                if len(oldest) == k and all(v["receipt"] is not None for v in oldest):
                    lump = {"invoice": oldest[0], "booking": max(v["receipt"]["booking"] for v in oldest),
                            "amount": sum((v["total"] for v in oldest), Decimal(0)), "kind": "lump_sum",
                            "reference": None, "pays": [(v, v["total"]) for v in oldest]}
                    for v in oldest:
                        v["receipt"] = lump
                    lump_sums -= 1
                    continue
            candidates = [v for v in invs if v["receipt"] is not None and lonely(v, invs)]
            if not candidates:
                continue
            inv = rng.choice(candidates)
            if exact:
                inv["receipt"]["kind"] = "no_reference"
                exact -= 1
            elif short:
                inv["receipt"]["kind"] = "no_reference_short"
                inv["receipt"]["amount"] = inv["total"] - Decimal(rng.choice(("12.50", "15.00", "20.00", "25.00")))
                short -= 1
        # duplicates: an invoice paid late by a receipt naming it, paid a second time a little later
        late_ok = [v for v in paid if v["receipt"]["kind"] == "ok" and v["receipt"]["booking"] > v["due_date"]]
        for inv in rng.sample(late_ok, min(len(late_ok), _planted(0.005, len(paid)))):
            booking = _bday(inv["receipt"]["booking"] + dt.timedelta(days=rng.randrange(3, 21)))
            if booking <= AS_OF:
                self._duplicates.append({"invoice": inv, "booking": booking, "amount": inv["receipt"]["amount"],
                                         "kind": "duplicate", "original": inv["receipt"]})

    def _finish_cash_application_cases(self) -> None:
        """Remittance of the receipts planted by `_plant_cash_application_cases`, once the ERP numbers
        exist and the receipts are finished; the duplicates join the receipts."""
        rng = self._cash_rng
        for r in self.receipts:
            if r["kind"] in ("no_reference", "no_reference_short"):
                r["reference"] = rng.choice(self.world.no_reference_texts)
            elif r["kind"] == "lump_sum":
                r["reference"] = rng.choice(self.world.lump_sum_texts)
                for inv, _amount in r["pays"]:
                    inv["status"] = "paid"
                    inv["updated"] = dt.datetime.combine(r["booking"] + dt.timedelta(days=1), dt.time(7, 0))
        for d in self._duplicates:
            d["reference"] = d["original"]["reference"]
            d["value"] = d["booking"]
            self.receipts.append(d)

    def _plant_deleted_invoices(self) -> None:
        """Invoices issued twice by mistake, cancelled and soft-deleted in the ERP."""
        rng = self.rng
        deleted = []
        live = list(self.invoices)
        for src in rng.sample(live, _planted(0.01, len(live)) if self.scale >= 200 else 0):
            inv = self._invoice(src["order"], src["issue_date"], src["net"], deleted=True)
            inv["status"] = "cancelled"
            inv["updated"] = inv["created"] + dt.timedelta(days=rng.randrange(1, 5), hours=3)
            deleted.append(inv)
        self.anomalies["deleted_invoices"] = deleted

    def _number_erp_documents(self) -> None:
        """ERP ids and numbers follow creation order, like a real document sequence."""
        for i, c in enumerate(sorted(self.customers, key=lambda c: (c["created"], c["_seq"])), 1):
            c["id"], c["number"] = f"C{i:06d}", f"CUST-{10000 + i}"
            c["account"]["AccountNumber"] = c["number"]
        for i, o in enumerate(sorted(self.orders, key=lambda o: (o["created"], o["_seq"])), 1):
            o["id"], o["number"] = f"O{i:07d}", f"SO-2025-{i:06d}"
        self.invoices.sort(key=lambda v: (v["issue_date"], v["created"], v["_seq"]))
        for i, v in enumerate(self.invoices, 1):
            v["id"], v["number"] = f"I{i:07d}", f"INV-2025-{i:06d}"

    def _finish_receipt(self, r: dict) -> None:
        """Remittance text, payer and the invoice's status once the money is in."""
        rng = self.rng
        inv = r["invoice"]
        number = inv["number"]
        if r["kind"] == "wrong_reference":
            other = rng.choice(self.invoices)
            if rng.random() < 0.5 and not other["deleted"] and other["customer"] is not inv["customer"]:
                number = other["number"]  # another customer's invoice
            else:  # a typo'd number that does not exist
                number = f"INV-2025-{len(self.invoices) + rng.randrange(1000, 9000):06d}"
        if r["kind"] == "missing_reference":
            r["reference"] = rng.choice(self.world.no_reference_texts)
        elif self.world.remittance is not None:
            r["reference"] = self.world.remittance(rng, number, inv["customer"])
        else:
            r["reference"] = rng.choice(("{n}", "Invoice {n}", "{n} {c}", "PAYMENT {n}")).format(
                n=number, c=inv["customer"]["name"][:20].upper())
        r["value"] = r["booking"]
        if r["amount"] >= inv["total"]:
            inv["status"] = "paid"
            inv["updated"] = dt.datetime.combine(r["booking"] + dt.timedelta(days=1), dt.time(7, 0))
        self.receipts.append(r)

    # -- marketing -------------------------------------------------------------------------

    def build_adspend(self) -> None:
        """Daily ad-platform rows for paid campaigns, sized so cost per lead is plausible."""
        rng = self.rng
        for ctype, camps in self.campaigns_by_type.items():
            cpl = SOURCES[ctype][2]
            for camp in camps:
                n_leads = len(camp["_leads"])
                target = cpl * max(n_leads, 1) / self.world.size_fx[camp["CurrencyIsoCode"]]
                camp["BudgetedCost"] = _money(round(target * rng.uniform(0.9, 1.3), -2) or 100)
                if ctype not in PAID_CHANNELS:
                    camp["ActualCost"] = _money(target * rng.uniform(0.85, 1.1))
                else:
                    camp["ActualCost"] = self._daily_spend(camp, target)
                t = dt.datetime.combine(min(camp["EndDate"], AS_OF), dt.time(18, 0))
                self._touch(camp, max(t, camp["CreatedDate"]))

    def _daily_spend(self, camp: dict, target: float) -> Decimal:
        rng = self.rng
        days = []
        day = camp["StartDate"]
        while day <= min(camp["EndDate"], AS_OF):
            days.append(day)
            day += dt.timedelta(days=1)
        weights = [(0.6 if d.weekday() >= 5 else 1.0) * rng.uniform(0.7, 1.3) for d in days]
        scale = target / sum(weights)
        cpc = {"Paid Search": 3.2, "Social": 5.5}[camp["Type"]]
        ctr = {"Paid Search": 0.045, "Social": 0.008}[camp["Type"]]
        total = Decimal(0)
        for d, w in zip(days, weights):
            spend = _money(w * scale)
            clicks = max(0, int(float(spend) / cpc * rng.uniform(0.85, 1.15)))
            impressions = int(clicks / ctr * rng.uniform(0.8, 1.2)) + rng.randrange(0, 50)
            self.adspend.append({"date": d, "campaign": camp, "channel": camp["Type"], "impressions": impressions,
                                 "clicks": clicks, "spend": spend, "currency": camp["CurrencyIsoCode"]})
            total += spend
        return total

    # -- realism: SystemModstamp ties ------------------------------------------------------

    def plant_modstamp_ties(self) -> None:
        """Batch jobs stamp many records with one SystemModstamp (the incremental-cursor trap)."""
        rng = self.rng
        rescore = dt.datetime(2025, 11, 20, 2, 0, 0)  # nightly lead re-scoring touches Rating
        leads = [l for l in self.real_leads if l["SystemModstamp"] < rescore]
        for lead in rng.sample(leads, min(len(leads), max(5, len(leads) // 100))):
            lead["Rating"] = rng.choice(("Hot", "Warm", "Cold"))
            self._touch(lead, rescore)
        recalc = dt.datetime(2025, 10, 1, 2, 0, 0)  # a field recalculation: automation, SystemModstamp only
        opps = [o for o in self.opportunities if o["SystemModstamp"] < recalc]
        for opp in rng.sample(opps, min(len(opps), max(5, len(opps) // 50))):
            self._touch(opp, recalc, system_only=True)
        self.tie_moments = (rescore, recalc)

    # -- the whole company -----------------------------------------------------------------

    def simulate(self) -> None:
        self.accounts: list[dict] = []
        self.opportunities: list[dict] = []
        self.build_users()
        self.build_campaigns()
        self.build_leads()
        self.build_opportunities()
        self.build_fulfilment()
        self.build_receipts()
        self.build_adspend()
        self.plant_modstamp_ties()
        self._assign_sf_ids()
        for r in sorted(self.receipts, key=lambda r: r["invoice"]["_seq"]):
            r["e2e"] = "NOTPROVIDED" if self.rng.random() < 0.3 else f"E2E{self.rng.getrandbits(48):012X}"
        self.bank_entries = _bank_entries(self)

    def _assign_sf_ids(self, objects: Iterable[str] | None = None) -> None:
        """Salesforce Ids and auto-numbers in creation order (of `objects`, default all)."""
        for obj, records in self.sf.items():
            if objects is not None and obj not in objects:
                continue
            prefix = sfs.SCHEMAS[obj].key_prefix
            records.sort(key=lambda r: (r["CreatedDate"], r["_seq"]))
            base = 1_000_000_000 + 7919 * len(obj)  # Ids of different objects look different
            if obj in EXTRA_OBJECTS:  # (names of equal length, e.g. OpportunityLineItem/DatedConversionRate)
                base += 104_729 * (1 + EXTRA_OBJECTS.index(obj))
            for i, rec in enumerate(records):
                rec["Id"] = sfs.sf_id(prefix, base + i * 37)
        if objects is None:
            for i, rec in enumerate(self.sf["Contract"], 100):
                rec["ContractNumber"] = f"{i:08d}"
            for i, rec in enumerate(self.sf["Order"], 100):
                rec["OrderNumber"] = f"{i:08d}"


# ----------------------------------------------------------------------------- objects derived afterwards

EXTRA_OBJECTS = ("Product2", "OpportunityLineItem", "Quote", "OpportunityFieldHistory", "CurrencyType",
                 "DatedConversionRate")
EXTRAS_SEED_OFFSET = 1_000_003  # the derived objects' own stream: random.Random(seed + this)
RATE_PLACES = Decimal("0.000001")  # Salesforce keeps conversion rates to 6 decimals

CATALOGUE = (
    # ProductCode, Name, Family, IsActive, kind (licence | service | support | training)
    ("LTC-PLAT", "Platform", "Software", True, "licence"),
    ("LTC-ANLY", "Analytics Add-on", "Software", True, "licence"),
    ("LTC-CASH", "Cash Application", "Software", True, "licence"),
    ("LTC-BILL", "Billing Suite", "Software", True, "licence"),
    ("LTC-FCST", "Forecasting", "Software", True, "licence"),
    ("LTC-IMPL", "Implementation Services", "Professional Services", True, "service"),
    ("LTC-SUPP", "Premium Support", "Support", True, "support"),
    ("LTC-TRNG", "Training Day", "Training", True, "training"),
    ("LTC-LGCY", "Legacy ERP Connector", "Software", False, "licence"),  # retired: on no deal
)
# What an opportunity named "<Account> - <product>" licenses (its first product carries the platform fee).
DEAL_PRODUCTS = {
    "Platform": ("LTC-PLAT",),
    "Platform + Analytics": ("LTC-PLAT", "LTC-ANLY"),
    "Cash Application": ("LTC-CASH",),
    "Billing Suite": ("LTC-BILL",),
    "Forecasting": ("LTC-FCST",),
    "Enterprise Bundle": ("LTC-PLAT", "LTC-BILL", "LTC-CASH", "LTC-FCST"),
}
ADD_ONS = (
    # ProductCode, chance on a deal, weight of the deal value, quantities (days, seats, units)
    ("LTC-IMPL", 0.55, 0.25, (3, 5, 8, 10, 15, 20)),
    ("LTC-SUPP", 0.30, 0.12, (1,)),
    ("LTC-TRNG", 0.20, 0.05, (1, 2, 3)),
)
QUOTE_STAGES = ("Proposal/Price Quote", "Negotiation/Review", "Closed Won")  # reaching one of these
SETUP = dt.datetime(2025, 1, 1, 8, 0)  # currencies and price book, before the first user (09:00)


class _Extras:
    """Product2, OpportunityLineItem, Quote, OpportunityFieldHistory and the currency setup objects.

    Everything here reads the finished simulation and draws only from `self.rng` (a separate
    stream), so the objects written before these existed do not change (see the module docstring).
    Records go through `_Company._new` (which also numbers `_seq` after everything else) and get
    Ids from the same creation-order scheme.
    """

    def __init__(self, company: _Company) -> None:
        self.c = company
        self.rng = random.Random(company.seed + EXTRAS_SEED_OFFSET)
        self.history: dict[int, list[dict]] = defaultdict(list)  # id(opp) -> its OpportunityHistory rows
        for h in company.sf["OpportunityHistory"]:  # already sorted by (CreatedDate, _seq)
            self.history[id(h["OpportunityId"])].append(h)

    def build(self) -> None:
        self.products()
        for opp in sorted(self.c.sf["Opportunity"], key=lambda o: (o["CreatedDate"], o["_seq"])):
            rows = self.history[id(opp)]
            self.line_items(opp, rows)
            self.quotes(opp, rows)
            self.field_history(rows)
        self.currencies()
        self.c._assign_sf_ids(EXTRA_OBJECTS)
        for i, quote in enumerate(self.c.sf["Quote"], 1):
            quote["QuoteNumber"] = f"{i:08d}"

    # -- catalogue and line items ----------------------------------------------------------

    def products(self) -> None:
        self.by_code: dict[str, dict] = {}
        for i, (code, name, family, active, kind) in enumerate(CATALOGUE):
            created = SETUP + dt.timedelta(minutes=30 + i)
            prod = self.c._new("Product2", created, Name=name, ProductCode=code, Family=family, IsActive=active,
                               _kind=kind)
            if not active:  # retired in the spring
                self.c._touch(prod, dt.datetime(2025, 3, 14, 16, 5))
            self.by_code[code] = prod

    def _amount_changed_at(self, rows: list[dict]) -> dt.datetime | None:
        last = None
        for prev, cur in zip(rows, rows[1:]):
            if cur["Amount"] != prev["Amount"]:
                last = cur["CreatedDate"]
        return last

    def line_items(self, opp: dict, rows: list[dict]) -> None:
        """Products whose TotalPrices add up exactly to the Amount (which Salesforce rolls up from them).

        Every line but the first is `Quantity × UnitPrice` with UnitPrice rounded down to the cent;
        the first (the platform fee, Quantity 1) takes the remainder, so the sum is exact.
        """
        rng = self.rng
        amount = opp["Amount"]
        product = opp["Name"].rsplit(" - ", 1)[1].removesuffix(" (copy)")
        licences = DEAL_PRODUCTS[product]
        lines = [(code, rng.uniform(1.0, 2.5), (5, 10, 15, 20, 25, 50)) for code in licences[1:]]
        lines += [(code, weight * rng.uniform(0.6, 1.4), qty) for code, chance, weight, qty in ADD_ONS
                  if rng.random() < chance]
        main_weight = rng.uniform(2.0, 4.0)
        total_weight = main_weight + sum(w for _c, w, _q in lines)
        items = []
        allocated = Decimal("0.00")
        for code, weight, quantities in lines:
            quantity = rng.choice(quantities)
            unit = (amount * Decimal(f"{weight / total_weight:.6f}") / quantity).quantize(CENT, rounding=ROUND_DOWN)
            if unit < 1:
                continue  # too small a deal for this add-on
            total = unit * quantity
            allocated += total
            items.append((code, quantity, unit, total))
        first = amount - allocated  # > 0: every share above is rounded down and the weights leave room
        items.insert(0, (licences[0], 1, first, first))
        # Products go on with the deal; re-priced whenever the Amount changed (Amount is their roll-up).
        changed = self._amount_changed_at(rows)
        for code, quantity, unit, total in items:
            prod = self.by_code[code]
            line = self.c._new(
                "OpportunityLineItem", opp["CreatedDate"], OpportunityId=opp, Product2Id=prod,
                Quantity=Decimal(f"{quantity}.0"), UnitPrice=unit, TotalPrice=total,
                ServiceDate=opp["CloseDate"] if prod["_kind"] == "licence" else None,
                CurrencyIsoCode=opp["CurrencyIsoCode"],
            )
            if changed is not None:
                self.c._touch(line, changed)
            if opp["IsDeleted"]:  # deleted with their opportunity
                line["IsDeleted"] = True
                self.c._touch(line, opp["SystemModstamp"])

    # -- quotes ----------------------------------------------------------------------------

    def quotes(self, opp: dict, rows: list[dict]) -> None:
        """Quotes for deals that reached Proposal/Price Quote: one at the proposal, a revision in
        negotiation (always when the Amount changed). Earlier versions end Denied; the last is
        Accepted for a won deal, Denied for a lost one, Presented (or still Draft) for an open one."""
        stage_at = opp["_stage_at"]
        if not any(stage in stage_at for stage in QUOTE_STAGES):
            return
        rng = self.rng
        amount_at = {h["StageName"]: h["Amount"] for h in rows}
        moments = sorted(stage_at.values())
        versions = [("Proposal/Price Quote", amount_at["Proposal/Price Quote"])]
        if "Negotiation/Review" in stage_at:
            negotiated = amount_at["Negotiation/Review"]
            if negotiated != versions[0][1] or rng.random() < 0.4:
                versions.append(("Negotiation/Review", negotiated))
        quotes = []
        for n, (stage, total) in enumerate(versions, 1):
            start = stage_at[stage]
            later = [m for m in moments if m > start]
            gap = (later[0] if later else END) - start
            created = start + min(gap / 4, dt.timedelta(hours=rng.uniform(0.2, 6)))
            quote = self.c._new(
                "Quote", created, Name=f"{opp['Name']} - Q{n}", OpportunityId=opp, AccountId=opp["AccountId"],
                Status="Draft", ExpirationDate=created.date() + dt.timedelta(days=30), GrandTotal=total,
                CurrencyIsoCode=opp["CurrencyIsoCode"], QuoteNumber=None,
            )
            presented = created + dt.timedelta(minutes=rng.randrange(5, 180))
            if presented <= END and (not later or presented < later[0]):
                quote["Status"] = "Presented"
                self.c._touch(quote, presented)
            quotes.append(quote)
        for older, newer in zip(quotes, quotes[1:]):  # superseded by the revision
            older["Status"] = "Denied"
            self.c._touch(older, newer["CreatedDate"])
        last = quotes[-1]
        if opp["IsWon"]:
            won_at = stage_at["Closed Won"]
            last.update(Status="Accepted", GrandTotal=opp["Amount"])
            self.c._touch(last, max(won_at - dt.timedelta(minutes=rng.randrange(1, 90)), last["LastModifiedDate"]))
        elif opp["IsClosed"]:
            last["Status"] = "Denied"
            self.c._touch(last, max(stage_at["Closed Lost"], last["LastModifiedDate"]))

    # -- field history ---------------------------------------------------------------------

    def field_history(self, rows: list[dict]) -> None:
        """OpportunityFieldHistory: one row per StageName and per Amount change, at the moment (and by
        the user) of the matching OpportunityHistory row; deleted with it."""
        for prev, cur in zip(rows, rows[1:]):
            for name, data_type in (("StageName", "DynamicEnum"), ("Amount", "Currency")):
                if cur[name] == prev[name]:
                    continue
                fh = self.c._new("OpportunityFieldHistory", cur["CreatedDate"], CreatedById=cur["CreatedById"],
                                 OpportunityId=cur["OpportunityId"], Field=name, DataType=data_type,
                                 OldValue=prev[name], NewValue=cur[name])
                fh["IsDeleted"] = cur["IsDeleted"]

    # -- currencies ------------------------------------------------------------------------

    def currencies(self) -> None:
        """CurrencyType (static rates) and DatedConversionRate (monthly, Advanced Currency Management).

        Direction: `finance/fx_rates.csv` says `1 currency = rate USD` (USD per unit: EUR ≈ 1.08),
        while Salesforce's ConversionRate is *units of the currency per 1 unit of the corporate
        currency* (EUR ≈ 0.925926 per USD). So ConversionRate = round(1 / rate, 6), with `rate` the
        fx file's rate in effect on the range's StartDate (latest rate_date <= StartDate: the same
        rule as docs/contracts.md). Ranges start at the fx series' first day, then on the 1st of each
        month; the last range is open (NextStartDate null). Entering a range closes the previous one,
        which bumps the previous row's SystemModstamp. The currencies, and the ranges up to then, are
        set up on 2025-01-01 before anything else (the sandbox's history starts that day); later
        ranges are entered on their month's first business day.
        """
        rng, fx = self.rng, self.c.fx
        starts = [FX_START]
        month = _add_months(dt.date(FX_START.year, FX_START.month, 1), 1)
        while month <= AS_OF:
            starts.append(month)
            month = _add_months(month, 1)
        latest: dict[str, tuple[Decimal, dt.datetime]] = {}
        for ccy in fx.currencies:
            previous = None
            for start in starts:
                rate = (Decimal(1) / fx.rate(ccy, start)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
                created = max(_at_work(rng, start), SETUP + dt.timedelta(minutes=5))
                row = self.c._new("DatedConversionRate", created, IsoCode=ccy, ConversionRate=rate,
                                  StartDate=start, NextStartDate=None)
                if previous is not None:
                    previous["NextStartDate"] = start
                    self.c._touch(previous, created)
                previous = row
                latest[ccy] = (rate, created)
        for i, ccy in enumerate((fx.reporting_currency, *fx.currencies)):
            corporate = ccy == fx.reporting_currency
            rate, updated = (Decimal("1.000000"), None) if corporate else latest[ccy]
            ct = self.c._new("CurrencyType", SETUP + dt.timedelta(minutes=i), IsoCode=ccy, ConversionRate=rate,
                             DecimalPlaces=2, IsActive=True, IsCorporate=corporate)
            if updated is not None:  # the static rate follows the latest dated rate
                self.c._touch(ct, updated + dt.timedelta(minutes=2))


# ----------------------------------------------------------------------------- writers


def _sf_value(value: Any) -> Any:
    if isinstance(value, dict):  # a reference to another entity
        return value["Id"]
    if isinstance(value, dt.datetime):
        return sfs.format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _write_salesforce(company: _Company, folder: Path, *, extras: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for obj, records in company.sf.items():
        if not extras and obj in EXTRA_OBJECTS:
            continue
        names = sfs.SCHEMAS[obj].stored_fields
        lines = [sfs.dumps({n: _sf_value(rec.get(n)) for n in names}, sort_keys=True) for rec in records]
        text = "[\n" + ",\n".join(lines) + ("\n]\n" if lines else "]\n")
        (folder / f"{obj}.json").write_text(text, encoding="utf-8")


_ERP_DDL = """
CREATE TABLE customers (
  customer_id TEXT PRIMARY KEY, customer_number TEXT NOT NULL, name TEXT NOT NULL, country TEXT,
  currency TEXT NOT NULL, crm_account_id TEXT, tax_id TEXT, payment_terms_days INTEGER NOT NULL,
  created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, iban TEXT);
CREATE TABLE sales_orders (
  order_id TEXT PRIMARY KEY, order_number TEXT NOT NULL, customer_id TEXT NOT NULL REFERENCES customers,
  crm_opportunity_id TEXT, contract_number TEXT, order_date DATE NOT NULL, currency TEXT NOT NULL,
  net_amount DECIMAL(18,2) NOT NULL, status TEXT NOT NULL,
  created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
CREATE TABLE invoices (
  invoice_id TEXT PRIMARY KEY, invoice_number TEXT NOT NULL, customer_id TEXT NOT NULL REFERENCES customers,
  order_id TEXT NOT NULL REFERENCES sales_orders, issue_date DATE NOT NULL, due_date DATE NOT NULL,
  currency TEXT NOT NULL, net_amount DECIMAL(18,2) NOT NULL, tax_amount DECIMAL(18,2) NOT NULL,
  total_amount DECIMAL(18,2) NOT NULL, status TEXT NOT NULL, is_deleted INTEGER NOT NULL DEFAULT 0,
  created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, payment_terms TEXT);
CREATE TABLE sales_order_lines (
  order_line_id TEXT PRIMARY KEY, order_id TEXT NOT NULL REFERENCES sales_orders, line_number INTEGER NOT NULL,
  product_code TEXT NOT NULL, description TEXT NOT NULL, quantity INTEGER NOT NULL,
  unit_price DECIMAL(18,2) NOT NULL, net_amount DECIMAL(18,2) NOT NULL,
  created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
CREATE TABLE deliveries (
  delivery_id TEXT PRIMARY KEY, delivery_number TEXT NOT NULL, order_id TEXT NOT NULL REFERENCES sales_orders,
  shipped_date DATE NOT NULL, delivered_date DATE, status TEXT NOT NULL,
  created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
CREATE TABLE invoice_lines (
  invoice_line_id TEXT PRIMARY KEY, invoice_id TEXT NOT NULL REFERENCES invoices, line_number INTEGER NOT NULL,
  order_line_id TEXT REFERENCES sales_order_lines, description TEXT NOT NULL,
  net_amount DECIMAL(18,2) NOT NULL, tax_amount DECIMAL(18,2) NOT NULL, total_amount DECIMAL(18,2) NOT NULL,
  created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
CREATE TABLE credit_notes (
  credit_note_id TEXT PRIMARY KEY, credit_note_number TEXT NOT NULL, invoice_id TEXT NOT NULL REFERENCES invoices,
  customer_id TEXT NOT NULL REFERENCES customers, issue_date DATE NOT NULL, currency TEXT NOT NULL,
  net_amount DECIMAL(18,2) NOT NULL, tax_amount DECIMAL(18,2) NOT NULL, total_amount DECIMAL(18,2) NOT NULL,
  reason TEXT NOT NULL, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
CREATE INDEX ix_orders_updated ON sales_orders(updated_at);
CREATE INDEX ix_invoices_updated ON invoices(updated_at);
CREATE INDEX ix_customers_updated ON customers(updated_at);
"""


def _write_erp(company: _Company, path: Path) -> None:
    """SQLite ERP. Money goes in as text of the exact Decimal (SQLite stores DECIMAL as NUMERIC)."""
    if path.exists():
        path.unlink()
    customers = sorted(company.customers, key=lambda c: c["id"])
    orders = sorted(company.orders, key=lambda o: o["id"])
    con = sqlite3.connect(path)
    try:
        con.executescript(_ERP_DDL)
        with con:
            con.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?,?,?)", [
                (c["id"], c["number"], c["name"], c["country"], c["currency"],
                 c["account"]["Id"] if c["linked"] else None, c["tax_id"], c["terms"],
                 _ts(c["created"]), _ts(c["updated"]), c["iban"]) for c in customers])
            con.executemany("INSERT INTO sales_orders VALUES (?,?,?,?,?,?,?,?,?,?,?)", [
                (o["id"], o["number"], o["customer"]["id"], o["opp"]["Id"],
                 o["contract"]["ContractNumber"] if o["contract"] else None, o["order_date"].isoformat(),
                 o["currency"], str(o["net_amount"]), o["status"], _ts(o["created"]), _ts(o["updated"]))
                for o in orders])
            con.executemany("INSERT INTO invoices VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [
                (v["id"], v["number"], v["customer"]["id"], v["order"]["id"], v["issue_date"].isoformat(),
                 v["due_date"].isoformat(), v["currency"], str(v["net"]), str(v["tax"]), str(v["total"]),
                 v["status"], int(v["deleted"]), _ts(v["created"]), _ts(v["updated"]),
                 f"NET {v['customer']['terms']}") for v in company.invoices])
            _write_erp_documents(con, company, orders)
    finally:
        con.close()


_PRODUCTS = (("LIC-CORE", "Platform licence"), ("LIC-SEAT", "User seats"), ("SVC-IMPL", "Implementation services"),
             ("SVC-TRAIN", "Training"), ("SUP-PREM", "Premium support"))


def _split_cents(total: Decimal, weights: list[int]) -> list[Decimal]:
    """Split `total` into parts proportional to `weights`, each rounded down to the cent, the last
    taking the remainder: the parts sum to `total` exactly (Decimal, never float)."""
    whole = sum(weights)
    parts = [(total * w / whole).quantize(CENT, rounding=ROUND_DOWN) for w in weights[:-1]]
    return parts + [total - sum(parts, Decimal(0))]


def _write_erp_documents(con: sqlite3.Connection, company: _Company, orders: list[dict]) -> None:
    """Order lines, deliveries, invoice lines and credit notes, derived from the orders and invoices
    already written and drawn from their own random stream, so the Salesforce, finance and marketing
    files (and every figure of the ground truth) stay exactly what they were.

    Lines sum exactly to their header (net, tax, total); invoice lines spread each invoice over its
    order's lines in the order lines' proportions; each soft-deleted (cancelled duplicate) invoice
    gets a full credit note; an order ships a few days after booking (not after the as-of date)."""
    rng = random.Random(f"erp-documents-{company.seed}-{company.scale}")
    order_lines: dict[str, list[tuple[str, Decimal]]] = {}
    line_rows, delivery_rows = [], []
    for o in orders:
        k = _weighted(rng, [1, 2, 3], [0.5, 0.3, 0.2])
        weights = [rng.randrange(1, 10) for _ in range(k)]
        amounts = _split_cents(o["net_amount"], weights)
        products = rng.sample(_PRODUCTS, k)
        created, updated = _ts(o["created"]), _ts(o["updated"])
        order_lines[o["id"]] = []
        for n, (amount, (code, text)) in enumerate(zip(amounts, products), start=1):
            qty = next((q for q in (rng.randrange(1, 6), 1) if (amount * 100) % q == 0), 1)
            line_id = f"{o['id']}-{n}"
            order_lines[o["id"]].append((line_id, amount))
            line_rows.append((line_id, o["id"], n, code, text, qty, str((amount / qty).quantize(CENT)), str(amount),
                              created, updated))
        shipped = _bday(o["order_date"] + dt.timedelta(days=rng.randrange(0, 4)))
        if shipped <= AS_OF:
            delivered = shipped + dt.timedelta(days=rng.randrange(1, 6))
            delivered = delivered if delivered <= AS_OF else None
            delivery_rows.append((f"D{o['id']}", f"DN-{o['number']}", o["id"], shipped.isoformat(),
                                  delivered.isoformat() if delivered else None,
                                  "delivered" if delivered else "shipped", created, updated))
    inv_line_rows, credit_rows = [], []
    for v in company.invoices:
        lines = order_lines[v["order"]["id"]]
        weights = [int(amount * 100) or 1 for _, amount in lines]
        nets, taxes = _split_cents(v["net"], weights), _split_cents(v["tax"], weights)
        for n, ((order_line_id, _), net, tax) in enumerate(zip(lines, nets, taxes), start=1):
            inv_line_rows.append((f"{v['id']}-{n}", v["id"], n, order_line_id, f"Invoice {v['number']} line {n}",
                                  str(net), str(tax), str(net + tax), _ts(v["created"]), _ts(v["updated"])))
        if v["deleted"]:
            credit_rows.append((f"CN{v['id']}", f"CN-{v['number']}", v["id"], v["customer"]["id"],
                                v["updated"].date().isoformat(), v["currency"], str(v["net"]), str(v["tax"]),
                                str(v["total"]), "duplicate invoice cancelled", _ts(v["updated"]), _ts(v["updated"])))
    con.executemany("INSERT INTO sales_order_lines VALUES (?,?,?,?,?,?,?,?,?,?)", line_rows)
    con.executemany("INSERT INTO deliveries VALUES (?,?,?,?,?,?,?,?)", delivery_rows)
    con.executemany("INSERT INTO invoice_lines VALUES (?,?,?,?,?,?,?,?,?,?)", inv_line_rows)
    con.executemany("INSERT INTO credit_notes VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", credit_rows)


# Our own bank accounts, one per currency.
BANK_ACCOUNTS = {
    "USD": ("GB", "NWBK60161331926819", "NWBKGB2L", Decimal("250000.00")),
    "EUR": ("DE", "370400440532013000", "COBADEFFXXX", Decimal("180000.00")),
    "GBP": ("GB", "BARC20000055779911", "BARCGB22", Decimal("90000.00")),
}
COMPANY_NAME = "Northwind Revenue Cloud Ltd"


def _bank_entries(company: _Company) -> dict[str, list[dict]]:
    """Receipts and bank fees per account currency, sorted and given a unique AcctSvcrRef."""
    rng = company.rng
    accounts = company.world.bank_accounts
    entries: dict[str, list[dict]] = {ccy: [] for ccy in accounts}
    for r in company.receipts:
        entries[r["invoice"]["currency"]].append({"kind": "receipt", "booking": r["booking"], "receipt": r,
                                                  "amount": r["amount"], "seq": r["invoice"]["_seq"]})
    month = PERIOD_START
    seq = 0
    while month <= AS_OF:
        nxt = _add_months(month, 1)
        last_bday = nxt - dt.timedelta(days=1)
        while last_bday.weekday() >= 5:
            last_bday -= dt.timedelta(days=1)
        for ccy in accounts:
            seq += 1
            fee = company.world.bank_fees[ccy]
            entries[ccy].append({"kind": "fee", "booking": last_bday, "amount": Decimal(fee),
                                 "text": "ACCOUNT MAINTENANCE FEE", "seq": -seq})
            for _ in range(rng.randrange(0, 3)):  # incoming-payment charges now and then
                seq += 1
                day = _bday(month + dt.timedelta(days=rng.randrange(0, 27)))
                entries[ccy].append({"kind": "fee", "booking": min(day, AS_OF), "amount": Decimal("12.50"),
                                     "text": "INTL PAYMENT CHARGES", "seq": -seq})
        month = nxt
    n = 0
    for ccy in accounts:
        entries[ccy].sort(key=lambda e: (e["booking"], e["kind"], e["seq"]))
        for e in entries[ccy]:
            n += 1
            e["ref"] = f"{ccy}{e['booking']:%Y%m%d}{n:08d}"
            if e["kind"] == "receipt":
                e["receipt"]["ref"] = e["ref"]
    return entries


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrib)  # unqualified: the root's xmlns puts all in CAMT_NS
    if text is not None:
        el.text = text
    return el


def _path(parent: ET.Element, tags: str, text: str) -> ET.Element:
    for tag in tags.split("/"):
        parent = _sub(parent, tag)
    parent.text = text
    return parent


def _balance(stmt: ET.Element, code: str, amount: Decimal, ccy: str, day: dt.date) -> None:
    bal = _sub(stmt, "Bal")
    _path(_sub(bal, "Tp"), "CdOrPrtry/Cd", code)
    _sub(bal, "Amt", f"{abs(amount):.2f}", Ccy=ccy)
    _sub(bal, "CdtDbtInd", "CRDT" if amount >= 0 else "DBIT")
    _path(bal, "Dt/Dt", day.isoformat())


def _entry(stmt: ET.Element, e: dict, ccy: str) -> None:
    ntry = _sub(stmt, "Ntry")
    _sub(ntry, "Amt", f"{e['amount']:.2f}", Ccy=ccy)
    receipt = e["kind"] == "receipt"
    _sub(ntry, "CdtDbtInd", "CRDT" if receipt else "DBIT")
    _sub(ntry, "Sts", "BOOK")
    _path(ntry, "BookgDt/Dt", e["booking"].isoformat())
    _path(ntry, "ValDt/Dt", (e["receipt"]["value"] if receipt else e["booking"]).isoformat())
    _sub(ntry, "AcctSvcrRef", e["ref"])
    domn = _sub(_sub(ntry, "BkTxCd"), "Domn")
    _sub(domn, "Cd", "PMNT" if receipt else "ACMT")
    fmly = _sub(domn, "Fmly")
    _sub(fmly, "Cd", "RCDT" if receipt else "MDOP")
    _sub(fmly, "SubFmlyCd", "ESCT" if receipt else "CHRG")
    tx = _sub(_sub(ntry, "NtryDtls"), "TxDtls")
    refs = _sub(tx, "Refs")
    if not receipt:
        _sub(refs, "AcctSvcrRef", e["ref"])
        _path(tx, "RmtInf/Ustrd", e["text"])
        return
    r = e["receipt"]
    _sub(refs, "EndToEndId", r["e2e"])
    _sub(_sub(_sub(tx, "AmtDtls"), "TxAmt"), "Amt", f"{e['amount']:.2f}", Ccy=ccy)
    parties = _sub(tx, "RltdPties")
    customer = r["invoice"]["customer"]
    _path(parties, "Dbtr/Nm", customer["payer_name"])
    acct_id = _sub(_sub(parties, "DbtrAcct"), "Id")
    if customer["iban"] and not customer.get("bank_account"):
        _sub(acct_id, "IBAN", customer["iban"])
    else:  # a domestic account number (no IBAN: US, Canada, China), as the bank sends it
        _path(acct_id, "Othr/Id", customer["acct_no"])
    if r["reference"] is not None:
        _path(tx, "RmtInf/Ustrd", r["reference"])


def _write_statements(company: _Company, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    entries = company.bank_entries
    for ccy, (country, bban, bic, opening) in company.world.bank_accounts.items():
        iban = _iban(country, bban)
        by_month: dict[str, list[dict]] = defaultdict(list)
        for e in entries[ccy]:
            by_month[f"{e['booking']:%Y-%m}"].append(e)
        balance = opening
        month = PERIOD_START
        seq = 0
        while month <= AS_OF:
            seq += 1
            key = f"{month:%Y-%m}"
            last = min(_add_months(month, 1) - dt.timedelta(days=1), AS_OF)
            created = f"{min(last + dt.timedelta(days=1), AS_OF):%Y-%m-%d}T05:30:00"
            root = ET.Element("Document", xmlns=CAMT_NS)
            msg = _sub(root, "BkToCstmrStmt")
            hdr = _sub(msg, "GrpHdr")
            _sub(hdr, "MsgId", f"STMT-{ccy}-{key}")
            _sub(hdr, "CreDtTm", created)
            stmt = _sub(msg, "Stmt")
            _sub(stmt, "Id", f"{iban[-8:]}-{key}")
            _sub(stmt, "ElctrncSeqNb", str(seq))
            _sub(stmt, "CreDtTm", created)
            frto = _sub(stmt, "FrToDt")
            _sub(frto, "FrDtTm", f"{month:%Y-%m-%d}T00:00:00")
            _sub(frto, "ToDtTm", f"{last:%Y-%m-%d}T23:59:59")
            acct = _sub(stmt, "Acct")
            _path(acct, "Id/IBAN", iban)
            _sub(acct, "Ccy", ccy)
            _path(acct, "Ownr/Nm", COMPANY_NAME)
            _path(acct, "Svcr/FinInstnId/BIC", bic)
            month_entries = by_month.get(key, [])
            credits = sum((e["amount"] for e in month_entries if e["kind"] == "receipt"), Decimal(0))
            debits = sum((e["amount"] for e in month_entries if e["kind"] != "receipt"), Decimal(0))
            _balance(stmt, "OPBD", balance, ccy, month)
            balance = balance + credits - debits
            _balance(stmt, "CLBD", balance, ccy, last)
            summary = _sub(stmt, "TxsSummry")
            total = _sub(summary, "TtlNtries")
            _sub(total, "NbOfNtries", str(len(month_entries)))
            _sub(total, "Sum", f"{credits + debits:.2f}")
            for tag, n, amount in (("TtlCdtNtries", sum(e["kind"] == "receipt" for e in month_entries), credits),
                                   ("TtlDbtNtries", sum(e["kind"] != "receipt" for e in month_entries), debits)):
                node = _sub(summary, tag)
                _sub(node, "NbOfNtries", str(n))
                _sub(node, "Sum", f"{amount:.2f}")
            for e in month_entries:
                _entry(stmt, e, ccy)
            ET.indent(root, space="  ")
            tree = ET.ElementTree(root)
            with open(folder / f"camt053_{ccy}_{key}.xml", "wb") as fh:
                fh.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
                tree.write(fh, encoding="UTF-8", xml_declaration=False)
                fh.write(b"\n")
            month = _add_months(month, 1)


def _write_csv(path: Path, header: list[str], rows: Iterable[list]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _write_fx(company: _Company, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(path, ["rate_date", "currency", "reporting_currency", "rate"],
               ([d.isoformat(), ccy, company.fx.reporting_currency, f"{rate:.6f}"]
                for d, ccy, rate in company.fx.rows))


def _write_adspend(company: _Company, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    by_month: dict[str, list[list]] = defaultdict(list)
    rows = sorted(company.adspend, key=lambda a: (a["date"], a["campaign"]["Id"]))
    for a in rows:
        by_month[f"{a['date']:%Y-%m}"].append([
            a["date"].isoformat(), a["campaign"]["Id"], a["campaign"]["Name"], a["channel"],
            a["impressions"], a["clicks"], f"{a['spend']:.2f}", a["currency"]])
    header = ["date", "campaign_id", "campaign_name", "channel", "impressions", "clicks", "spend", "currency"]
    for month, month_rows in sorted(by_month.items()):
        _write_csv(folder / f"adspend_{month}.csv", header, month_rows)


# ----------------------------------------------------------------------------- ground truth


# The cash-application tolerance (dbt vars cash_application_write_off_max_amount / _max_percent):
# a shortfall up to this amount, or up to this percent of the invoice total, is written off.
WRITE_OFF_MAX_AMOUNT = Decimal("25.00")
WRITE_OFF_MAX_PERCENT = Decimal("0.5")


def _within_write_off_tolerance(shortfall: Decimal, total: Decimal) -> bool:
    return shortfall <= WRITE_OFF_MAX_AMOUNT or shortfall * 100 <= total * WRITE_OFF_MAX_PERCENT


def _cash_application_truth(company: _Company) -> dict:
    """What every receipt truly pays: receipt id -> [[invoice id, amount], ...] (an overpayment pays
    the invoice total, the rest is on account; a duplicate pays nothing), and the ids of the receipts
    planted for the cash-application cascade, by case."""
    pays: dict[str, list[list[str]]] = {}
    cases: dict[str, list[str]] = defaultdict(list)
    for r in company.receipts:
        inv = r["invoice"]
        if r["kind"] == "lump_sum":
            pays[r["ref"]] = [[v["id"], str(amount)] for v, amount in r["pays"]]
        elif r["kind"] == "duplicate":
            pays[r["ref"]] = []
        else:
            pays[r["ref"]] = [[inv["id"], str(min(r["amount"], inv["total"]))]]
        if r["kind"] in ("short", "no_reference_short"):
            shortfall = inv["total"] - r["amount"]
            within = _within_write_off_tolerance(shortfall, inv["total"])
            cases["short_payments_within_tolerance" if within else "short_payments_beyond_tolerance"].append(r["ref"])
        name = {"no_reference": "receipts_no_reference_exact_amount",
                "no_reference_short": "receipts_no_reference_short_within_tolerance",
                "lump_sum": "lump_sum_receipts", "duplicate": "duplicate_payments"}.get(r["kind"])
        if name:
            cases[name].append(r["ref"])
    names = ("receipts_no_reference_exact_amount", "receipts_no_reference_short_within_tolerance",
             "lump_sum_receipts", "duplicate_payments", "short_payments_within_tolerance",
             "short_payments_beyond_tolerance")
    return {"receipt_invoices": dict(sorted(pays.items())),
            "planted": {n: sorted(cases[n]) for n in names},
            "write_off_max_amount": str(WRITE_OFF_MAX_AMOUNT), "write_off_max_percent": str(WRITE_OFF_MAX_PERCENT)}


def _funnel_slices_truth(company: _Company) -> dict:
    """Leads and converted leads (with a live opportunity) per lead source, first-touch campaign
    (the lead's earliest campaign membership, which for ~10 % of leads with no sourcing campaign is
    a later response), lead owner and owner region: the slices rpt_funnel_conversion breaks the
    lead cohorts into."""
    slices: dict[str, dict[str, dict[str, int]]] = {
        "lead_source": {}, "campaign": {}, "owner": {}, "region": {}}
    first_touch: dict[int, tuple] = {}
    for member in company.sf["CampaignMember"]:
        lead = member["LeadId"]
        if lead is None or member["IsDeleted"]:
            continue
        touch = (member["CreatedDate"], member["Id"], member["CampaignId"]["Id"])
        first_touch[id(lead)] = min(first_touch.get(id(lead), touch), touch)
    for lead in company.sf["Lead"]:
        if lead["IsDeleted"]:
            continue
        opp = lead["ConvertedOpportunityId"]
        converted = bool(lead["IsConverted"] and opp is not None and not opp["IsDeleted"])
        owner, touch = lead["OwnerId"], first_touch.get(id(lead))
        keys = {"lead_source": lead["LeadSource"] or "(none)",
                "campaign": touch[2] if touch else "(none)",
                "owner": owner["Id"], "region": owner["Department"] or "(none)"}
        for dimension, value in keys.items():
            counts = slices[dimension].setdefault(value, {"leads": 0, "converted": 0})
            counts["leads"] += 1
            counts["converted"] += converted
    return {dimension: dict(sorted(values.items())) for dimension, values in slices.items()}


def _ground_truth(company: _Company) -> dict:
    fx = company.fx
    leads = [l for l in company.sf["Lead"] if not l["IsDeleted"]]
    opps = [o for o in company.sf["Opportunity"] if not o["IsDeleted"]]
    won = [o for o in opps if o["IsWon"]]
    invoices = [v for v in company.invoices if not v["deleted"]]

    def total(items: Iterable[Decimal]) -> str:
        return str(sum(items, Decimal("0.00")).quantize(CENT))

    receipts_by_kind: dict[str, list[str]] = defaultdict(list)
    for r in company.receipts:
        receipts_by_kind[r["kind"]].append(r["ref"])
    a = company.anomalies
    figures = {
        "leads": len(leads),
        "converted_leads": sum(l["IsConverted"] for l in leads),
        "opportunities": len(opps),
        "won_opportunities": len(won),
        "lost_opportunities": sum(o["IsClosed"] and not o["IsWon"] for o in opps),
        "won_amount": total(fx.convert(o["Amount"], o["CurrencyIsoCode"], o["CloseDate"]) for o in won),
        "contracts": sum(not c["IsDeleted"] for c in company.sf["Contract"]),
        "orders": len(company.orders),
        "invoices": len(invoices),
        "invoiced_total": total(fx.convert(v["total"], v["currency"], v["issue_date"]) for v in invoices),
        "receipts": len(company.receipts),
        "collected_total": total(fx.convert(r["amount"], r["invoice"]["currency"], r["booking"])
                                 for r in company.receipts),
        "ad_spend_total": total(fx.convert(s["spend"], s["currency"], s["date"]) for s in company.adspend),
    }
    anomalies = {
        "duplicate_leads": sorted(l["Id"] for l in a["duplicate_leads"]),
        "deleted_records": {
            "Lead": sorted(l["Id"] for l in a["deleted_leads"]),
            "Opportunity": sorted(o["Id"] for o in a["deleted_opportunities"]),
            "invoices": sorted(v["id"] for v in a["deleted_invoices"]),
        },
        "receipts_wrong_reference": sorted(receipts_by_kind["wrong_reference"]),
        "receipts_missing_reference": sorted(receipts_by_kind["missing_reference"]),
        "short_payments": sorted(receipts_by_kind["short"]),
        "overpayments": sorted(receipts_by_kind["over"]),
        "orders_without_contract": sorted(o["id"] for o in a["orders_without_contract"]),
        **company.contract_anomaly_ids(),  # invoices_without_contract, work_without_signed_contract, ...
        "invoices_paid_late": sorted(v["id"] for v in a["invoices_paid_late"]),
    }
    return {
        "seed": company.seed, "scale": company.scale, "as_of": AS_OF.isoformat(),
        "period_start": PERIOD_START.isoformat(), "reporting_currency": fx.reporting_currency,
        "figures": figures, "anomalies": anomalies,
        "cash_application": _cash_application_truth(company),
        "funnel_slices": _funnel_slices_truth(company),
        # the improving story's planted panel figures (absent from the default company's truth)
        **({"story": stories.planted_figures(company, PERIOD_START, AS_OF)} if company.improving else {}),
    }


@contextmanager
def _story_calendar(story: str):
    """The story's calendar for one generate(): the improving story starts a year earlier (the
    as-of date stays). Rebinds the module's calendar constants and restores them (so a generate()
    is not thread-safe; nothing runs two at once in one process)."""
    global PERIOD_START, START, FX_START, SETUP
    saved = PERIOD_START, START, FX_START, SETUP
    if stories.check(story) == "improving":
        PERIOD_START, FX_START = stories.IMPROVING_PERIOD_START, stories.IMPROVING_FX_START
        START = dt.datetime.combine(PERIOD_START, dt.time())
        SETUP = dt.datetime.combine(PERIOD_START, dt.time(8))
    try:
        yield
    finally:
        PERIOD_START, START, FX_START, SETUP = saved


# ----------------------------------------------------------------------------- entry point


def generate(out_dir: Path | None = None, seed: int = 42, scale: int = 2000, *, _extras: bool = True,
             bank_formats: bool = True, region: str = "default", story: str = "default",
             reporting_currency: str | None = None) -> dict:
    """Write the sandbox company to `out_dir` and return its ground truth (also in ground_truth.json).

    `out_dir` defaults to `$LTC_HOME/sandbox`. `scale` is the number of Lead records (duplicates
    and deleted test leads included). `_extras=False` (tests only) leaves out `EXTRA_OBJECTS`, to
    show that the other files do not depend on them. `region` picks the company's world (`World`):
    'default' (North America, Europe, UK) or 'cn' (mainland China and Hong Kong, CNY, Chinese names).
    `story` picks how the company behaves over time (connectors/sandbox/story.py): 'default' (one
    year) or 'improving' (two years, LTC discipline adopted halfway; its planted panel figures go
    to ground_truth.json under `story`). `reporting_currency` is the currency the FX rates (and so
    every reporting amount of the ground truth) are into: one the company trades in, by default the
    world's own (USD; CNY for 'cn'). It is recorded in ground_truth.json, where `ltc` picks it up
    for runs on the sandbox (orchestration.cli.sandbox_environment).
    """
    if scale < 1:
        raise ValueError("scale must be at least 1 lead")
    out_dir = Path(out_dir) if out_dir is not None else Settings.from_env().sandbox_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    with _story_calendar(story):
        company = _Company(seed, scale, region, story, reporting_currency)
        company.simulate()
        if _extras:
            _Extras(company).build()  # after everything else, from its own random stream
        _write_salesforce(company, out_dir / "salesforce", extras=_extras)
        _write_erp(company, out_dir / "erp.sqlite")
        _write_statements(company, out_dir / "finance" / "statements")
        # the GBP account's statements as MT940 and the EUR account's even months as a bank CSV, so
        # the sandbox bank delivers all three formats (each transaction in exactly one file)
        if bank_formats:  # False: every statement as CAMT.053 (tests of the CAMT content itself)
            split_formats(out_dir / "finance")
        _write_fx(company, out_dir / "finance" / "fx_rates.csv")
        _write_adspend(company, out_dir / "marketing" / "adspend")
        truth = _ground_truth(company)
    (out_dir / "ground_truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return truth
