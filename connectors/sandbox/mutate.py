"""The sandbox company's next day: change a generated company in place, as its source systems look
one day later, so that an incremental refresh has real work to do.

Why: issue 8 measures the incremental refresh after about `fraction` (1 %) of the records of every
source changed, and proves that the marts it leaves equal a full rebuild from the changed sources
(`benchmarks/incremental.py`). That needs changes of every kind the connectors must pick up through
their cursors: new rows, updated rows and deletes, in every system.

The next day D is the ground truth's `as_of` + 1 day. Everything changed carries a modification
time on D (so after everything the generator wrote, which ends at the as-of date), and `as_of` in
`ground_truth.json` moves to D, which is where `orchestration.cli.serving_sandbox` (and so the
benchmark harness) reads the as-of date. The figures in ground_truth.json stay those of the
generated company; `mutations` lists what changed since (a day per call).

- Salesforce (`salesforce/*.json`, served by `FakeSalesforce`): new leads (some with a campaign
  membership), lead status moves (qualified leads convert: account, contact, opportunity with its
  first history row and line item), opportunity stage moves (history and field-history rows; a
  won deal gets a contract, mostly an order, and its account becomes a customer), account and
  contact edits, campaigns that ended on the as-of date extended (their ActualCost follows the ad
  spend), a new month of dated conversion rates on the 1st, and
  soft deletes (`IsDeleted`, fresh SystemModstamp) of a few duplicate leads and early-stage
  opportunities (with their history and line items). queryAll lands the deletes through the
  SystemModstamp cursor; getDeleted reports an `IsDeleted` record only while its SystemModstamp
  lies in the window asked for, which the connector computes from the wall clock (the last 15 days
  at most), so a delete stamped on D (a date the sandbox lives in, not the machine) is never in it.
  `deleted_at` stamps the deletes with a real moment instead (the harness passes now): then
  getDeleted reports them too, as it would the morning after.
  Only duplicate leads are deleted (the ones whose e-mail starts with a capital letter: the
  generator re-types 40 % of its planted duplicates that way, and real leads are lower case),
  because the HubSpot fake numbers its contacts by rank among each e-mail's earliest lead:
  deleting such an earliest lead would renumber every later contact, which HubSpot never does.
- ERP (`erp.sqlite`): new customers, orders, order lines, deliveries, invoices and invoice lines;
  the last installment of partly invoiced orders; invoices paid (status, `updated_at`); customers'
  payment terms changed; shipped deliveries delivered; invoices soft-deleted (`is_deleted`, with
  their credit note) and deliveries hard-deleted (the connector's key reconciliation finds those).
- Finance (`finance/`): one statement per bank account with receipts for open invoices, in the
  format the generator gives that account in D's month (CAMT.053, MT940 or bank CSV), opening at
  the previous statement's closing balance; the FX rates of D (a business day) appended.
- Marketing: HubSpot is derived from the Salesforce files (`marketing_data`), so the new and
  changed leads are its new and updated contacts and new form submissions; ad spend gets D's rows
  of the paid campaigns still running (a new month file) and a restatement of some rows of the
  latest month's export (rewritten in place: a new content hash, merged on its key).

Deterministic for (seed, as-of date): each system draws from its own `random.Random`. Work is
linear in the company: every Salesforce file is streamed line by line (the generator writes one
record per line) and only the records that change are parsed; files that only grow are appended
to in place; the ERP changes are SQL on the few rows concerned. Measured at 100k leads (a 190 MB
sandbox, 1 %): 2.9 s CPU (9.4 s wall on the 2-core machine while other benchmarks ran), 39 MB peak RSS.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import random
import re
import sqlite3
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable

from connectors.sandbox import generator as gen
from connectors.sandbox import sf_schema as sfs
from connectors.sandbox.bank_formats import _balances, to_bank_csv, to_mt940

# How `fraction` of an object's records splits between kinds of change (new rows, changed rows,
# deleted rows): the three sum to 1, so about `fraction` of every source is touched.
NEW_SHARE, CHANGE_SHARE, DELETE_SHARE = 0.5, 0.4, 0.1
# The lead statuses that can still move, and to what (with its probability; the rest of the
# probability mass goes to the second choice). Qualified leads convert like the generator's (60 %).
LEAD_MOVES = {
    "Open - Not Contacted": ("Working - Contacted", 1.0, None),
    "Working - Contacted": ("Qualified", 0.35, "Closed - Not Converted"),
    "Qualified": ("Closed - Converted", gen.CONVERT_RATE, "Closed - Not Converted"),
}
# How much likelier a lead of this status is to move on D: new and qualified leads are worked within
# days (the generator's median: 1.5 days to first contact, 5 days from qualified to converted), while
# most "Working - Contacted" leads at the as-of date are the ones nobody closed (a quarter of the
# leads that do not qualify). With equal weights ~1 move in 20 was a qualified lead at 10k leads,
# and a day often converted none.
LEAD_MOVE_WEIGHT = {"Open - Not Contacted": 10, "Working - Contacted": 1, "Qualified": 20}
# Deals in negotiation are picked 4x as often: a fair share of the day's moves then closes a deal
# (won deals make the contracts, orders and ERP customers of the day; with weight 1 a 10k-lead
# company often had none).
OPP_MOVE_WEIGHT = {stage: 4 if stage == sfs.OPEN_STAGES[-1] else 1 for stage in sfs.OPEN_STAGES}
EARLY_STAGES = ("Prospecting", "Qualification", "Needs Analysis")  # no quotes yet: safe to delete
ORDER_SAME_DAY = 0.7  # of the deals won on D, booked as an order on D
INVOICE_SAME_DAY = 0.5  # of those orders, invoiced on D (the others stay `open`)
SHIP_SAME_DAY = 0.5
CAMPAIGN_EXTENSION_MONTHS = 3  # campaigns ending on the as-of date run this much longer
# The statement formats of `bank_formats.split_formats`' defaults, by account currency and month.
MT940_CURRENCIES, CSV_CURRENCIES, CSV_MONTHS = ("GBP",), ("EUR",), (2, 4, 6, 8, 10, 12)
_UPPER_EMAIL = re.compile(r'"Email":"[A-Z]')
_COUNTRIES = {country: (region, iso, Decimal(vat), cities)
              for region, (_w, _ccy, countries) in gen.REGIONS.items()
              for country, iso, _cw, vat, cities in countries}
_CAMPAIGN_REGION = {name: region for name, _type, region, _s, _e in gen.CAMPAIGNS}


# ----------------------------------------------------------------------------- Salesforce files


def _id_base(obj: str) -> int:
    """The generator's Id sequence of `obj` (`_Company._assign_sf_ids`): Id i is base + 37 i."""
    base = 1_000_000_000 + 7919 * len(obj)
    if obj in gen.EXTRA_OBJECTS:
        base += 104_729 * (1 + gen.EXTRA_OBJECTS.index(obj))
    return base


def _count_records(path: Path) -> int:
    """Records in a generator-written JSON array file (one per line), counted in binary chunks."""
    lines = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            lines += chunk.count(b"\n")
    return max(0, lines - 2)  # "[" and "]"


def _records(path: Path) -> Iterable[str]:
    """Each record's JSON text, without the separating comma."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("{"):
                yield line[:-2] if line.endswith(",\n") else line.rstrip("\n")


def _dump(rec: dict) -> str:
    return sfs.dumps(rec, sort_keys=True)


def _rewrite(path: Path, edit: Callable[[str], str], appended: list[dict]) -> None:
    """Stream `path` through `edit` (record text in, record text out) and append `appended`, in
    the generator's layout; replaced atomically."""
    tmp = path.with_name(path.name + ".tmp")
    first = True
    with open(tmp, "w", encoding="utf-8") as out:
        out.write("[\n")
        for text in _records(path):
            out.write(edit(text) if first else ",\n" + edit(text))
            first = False
        for rec in appended:
            out.write(_dump(rec) if first else ",\n" + _dump(rec))
            first = False
        out.write("]\n" if first else "\n]\n")
    os.replace(tmp, path)


def _append(path: Path, appended: list[dict]) -> None:
    """Append records to a generator-written file in place (only the closing bracket moves)."""
    if not appended:
        return
    text = ",\n".join(_dump(r) for r in appended)
    with open(path, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - 4))
        tail = fh.read()
        if size == 4 and tail == b"[\n]\n":
            fh.seek(2)
            fh.truncate()
            fh.write((text + "\n]\n").encode("utf-8"))
        elif tail.endswith(b"}\n]\n"):
            fh.seek(size - 3)
            fh.truncate()
            fh.write((",\n" + text + "\n]\n").encode("utf-8"))
        else:
            raise ValueError(f"{path} does not end like a generated Salesforce file")


def _field(text: str, name: str) -> str | None:
    """A string field's value from a record's JSON text without parsing it (None: null/absent)."""
    key = f'"{name}":"'
    i = text.find(key)
    if i < 0:
        return None
    i += len(key)
    return text[i:text.index('"', i)]


def _stamp(value: dt.datetime) -> str:
    return sfs.format_datetime(value)


def _new_record(obj: str, **fields) -> dict:
    names = sfs.SCHEMAS[obj].stored_fields
    unknown = set(fields) - set(names)
    if unknown:
        raise KeyError(f"{obj} has no field(s) {sorted(unknown)}")
    rec = {name: fields.get(name) for name in names}
    if "IsDeleted" in names:
        rec["IsDeleted"] = False
    return rec


def _touch(rec: dict, when: str) -> None:
    for name in ("LastModifiedDate", "SystemModstamp"):
        if name in rec:
            rec[name] = when


class _Counter:
    """Per object: records before, new, changed, deleted."""

    def __init__(self) -> None:
        self.by: dict[str, dict[str, int]] = defaultdict(lambda: {"records": 0, "new": 0, "changed": 0, "deleted": 0})

    def add(self, obj: str, kind: str, n: int = 1) -> None:
        self.by[obj][kind] += n

    def records(self, obj: str, n: int) -> None:
        self.by[obj]["records"] = n

    def as_dict(self) -> dict:
        return {k: dict(v) for k, v in sorted(self.by.items())}


def _target(share: float, fraction: float, population: int, minimum: int = 1) -> int:
    """How many of `population` records to touch for this share: rounded, at least `minimum` when
    there is any population at all."""
    if population <= 0:
        return 0
    return min(population, max(minimum, round(share * fraction * population)))


# ----------------------------------------------------------------------------- the mutation


class _Mutation:
    def __init__(self, root: Path, fraction: float, seed: int, deleted_at: dt.datetime | None) -> None:
        if not 0 < fraction <= 0.5:
            raise ValueError("fraction must be in (0, 0.5]")
        self.root, self.fraction, self.seed = root, fraction, seed
        self.sf = root / "salesforce"
        self.truth_path = root / "ground_truth.json"
        if not self.truth_path.exists():
            raise FileNotFoundError(f"no sandbox company at {root} (ground_truth.json missing)")
        self.truth = json.loads(self.truth_path.read_text(encoding="utf-8"))
        self.as_of = dt.date.fromisoformat(self.truth["as_of"])
        self.day = self.as_of + dt.timedelta(days=1)
        self.year = self.day.year
        key = f"{seed}-{self.day.isoformat()}"
        self.rng = random.Random(f"mutate-salesforce-{key}")
        self.erp_rng = random.Random(f"mutate-erp-{key}")
        self.fin_rng = random.Random(f"mutate-finance-{key}")
        self.mkt_rng = random.Random(f"mutate-marketing-{key}")
        if deleted_at is not None and deleted_at.tzinfo is None:
            deleted_at = deleted_at.replace(tzinfo=dt.timezone.utc)
        self.deleted_at = deleted_at
        self.sf_count = _Counter()
        self.erp_count = _Counter()
        self.new: dict[str, list[dict]] = defaultdict(list)  # Salesforce records to append, by object
        self._ids: dict[str, int] = {}

    # -- time -------------------------------------------------------------------------------

    def _moment(self, rng: random.Random, start_h: int = 8, span_h: int = 10) -> dt.datetime:
        """A whole second of D between start_h and start_h + span_h (UTC)."""
        base = dt.datetime.combine(self.day, dt.time(start_h), tzinfo=dt.timezone.utc)
        return base + dt.timedelta(seconds=rng.randrange(span_h * 3600))

    def _delete_stamp(self) -> str:
        return _stamp(self.deleted_at or self._moment(self.rng, 17, 1))

    # -- ids --------------------------------------------------------------------------------

    def _next_index(self, obj: str) -> int:
        """The creation index the next new `obj` record gets (its file's record count, then on)."""
        if obj not in self._ids:
            self._ids[obj] = _count_records(self.sf / f"{obj}.json")
        return self._ids[obj]

    def _new_id(self, obj: str) -> str:
        i = self._next_index(obj)
        self._ids[obj] += 1
        return sfs.sf_id(sfs.SCHEMAS[obj].key_prefix, _id_base(obj) + 37 * i)

    def _add(self, obj: str, **fields) -> dict:
        rec = _new_record(obj, Id=self._new_id(obj), **fields)
        self.new[obj].append(rec)
        self.sf_count.add(obj, "new")
        return rec

    # -- the whole day ----------------------------------------------------------------------

    def run(self) -> dict:
        started = time.perf_counter()
        self._load_small_objects()
        self._extend_campaigns()
        self._leads()
        self._opportunities()
        self._won_deals()
        self._accounts()
        self._contacts()
        for obj in ("OpportunityHistory", "OpportunityLineItem", "OpportunityFieldHistory"):
            self._children(obj)
        for obj in ("Contract", "Order", "CampaignMember"):
            self.sf_count.records(obj, self._next_index(obj) - len(self.new[obj]))
            _append(self.sf / f"{obj}.json", self.new[obj])
        erp = self._erp()
        finance = self._finance(erp["paid"])
        marketing = self._marketing()
        self._currency_objects(finance["rates"])
        self._write_small_objects()
        result = {
            "seed": self.seed, "fraction": self.fraction, "as_of_before": self.as_of.isoformat(),
            "as_of": self.day.isoformat(),
            "deleted_at": _stamp(self.deleted_at) if self.deleted_at else None,
            "salesforce": self.sf_count.as_dict(), "erp": self.erp_count.as_dict(),
            "finance": finance["report"], "marketing": marketing,
        }
        self.truth["as_of"] = self.day.isoformat()
        self.truth.setdefault("mutations", []).append({k: v for k, v in result.items()})
        self.truth_path.write_text(json.dumps(self.truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        result["seconds"] = round(time.perf_counter() - started, 3)
        return result

    # -- small objects (users, campaigns, products, currencies) -----------------------------

    def _load_small_objects(self) -> None:
        self.small = {obj: [sfs.loads(t) for t in _records(self.sf / f"{obj}.json")]
                      for obj in ("User", "Campaign", "Product2", "CurrencyType", "DatedConversionRate")
                      if (self.sf / f"{obj}.json").exists()}
        self.small_changed: set[str] = set()
        for obj, records in self.small.items():
            self.sf_count.records(obj, len(records))
        self.users = {u["Id"]: u for u in self.small["User"]}
        self.active_by_region: dict[str, list[str]] = defaultdict(list)
        for u in self.small["User"]:
            if u["IsActive"] and not u["IsDeleted"]:
                self.active_by_region[u["Department"]].append(u["Id"])
        self.product_ids = {p["ProductCode"]: p["Id"] for p in self.small.get("Product2", [])}

    def _extend_campaigns(self) -> None:
        """Campaigns still running on the as-of date run on (their EndDate moves out, Salesforce
        edits them on D); new leads of a campaign type come from these."""
        self.running: dict[str, list[dict]] = defaultdict(list)
        end = gen._add_months(self.as_of, CAMPAIGN_EXTENSION_MONTHS)
        for camp in self.small["Campaign"]:
            if camp["IsDeleted"] or dt.date.fromisoformat(camp["StartDate"]) > self.day:
                continue
            if dt.date.fromisoformat(camp["EndDate"]) == self.as_of:
                camp.update(EndDate=end.isoformat(), Status="In Progress", IsActive=True)
                _touch(camp, _stamp(self._moment(self.rng, 8, 1)))
                self.sf_count.add("Campaign", "changed")
                self.small_changed.add("Campaign")
            if dt.date.fromisoformat(camp["EndDate"]) >= self.day:
                self.running[camp["Type"]].append(camp)

    def _write_small_objects(self) -> None:
        for obj, records in self.small.items():
            if obj in self.small_changed:
                _rewrite_small(self.sf / f"{obj}.json", records)

    # -- leads --------------------------------------------------------------------------------

    def _leads(self) -> None:
        path = self.sf / "Lead.json"
        counts: Counter = Counter(_lead_state(text) for text in _records(path))
        total = sum(counts.values())
        self._ids["Lead"] = total
        self.sf_count.records("Lead", total)
        deletes = _pick(self.rng, {"duplicate": counts["duplicate"]},
                        {"duplicate": _target(DELETE_SHARE, self.fraction, total)})
        movable = {s: counts[s] for s in LEAD_MOVES}
        moves = _pick(self.rng, movable, _quotas(_target(CHANGE_SHARE, self.fraction, total), movable,
                                                 LEAD_MOVE_WEIGHT))
        new_leads = [self._new_lead() for _ in range(_target(NEW_SHARE, self.fraction, total))]
        deleted_stamp = self._delete_stamp()
        seen: Counter = Counter()

        def edit(text: str) -> str:
            state = _lead_state(text)
            if state is None:
                return text
            position = seen[state]
            seen[state] += 1
            if position in deletes.get(state, ()):
                rec = sfs.loads(text)
                rec["IsDeleted"] = True
                _touch(rec, deleted_stamp)
                self.sf_count.add("Lead", "deleted")
                return _dump(rec)
            if position in moves.get(state, ()):
                rec = sfs.loads(text)
                self._move_lead(rec)
                self.sf_count.add("Lead", "changed")
                return _dump(rec)
            return text

        _rewrite(path, edit, new_leads)

    def _new_lead(self) -> dict:
        rng = self.rng
        source = gen._weighted(rng, list(gen.SOURCES), [v[0] for v in gen.SOURCES.values()])
        camp = None
        if source in sfs.CAMPAIGN_TYPES:
            running = self.running.get(source, [])
            camp = rng.choice(running) if running else None
            if camp is None:
                source = "Web"  # no campaign of that type runs on D
        region = _CAMPAIGN_REGION.get(camp["Name"]) if camp else None
        region = region or gen._weighted(rng, list(gen.REGIONS), [r[0] for r in gen.REGIONS.values()])
        countries = gen.REGIONS[region][2]
        country, iso, _w, _vat, _cities = gen._weighted(rng, list(countries), [c[2] for c in countries])
        first, last = rng.choice(gen.FIRST), rng.choice(gen.LAST)
        core = f"{rng.choice(gen.NAME_A)} {rng.choice(gen.NAME_B)}"
        tld = {"US": "com", "CA": "ca", "GB": "co.uk"}.get(iso, iso.lower())
        number = self._ids["Lead"] + 1  # a dot before digits: never an address the generator writes
        email = f"{first}.{last}.{number}@{core.replace(' ', '')}.{tld}".lower().replace(" ", "")
        t = _stamp(self._moment(rng, 0, 24))
        lead = self._add(
            "Lead", CreatedDate=t, LastModifiedDate=t, SystemModstamp=t, FirstName=first, LastName=last,
            Name=f"{first} {last}", Company=f"{core} {gen.LEGAL_SUFFIX[iso]}", Email=email, Country=country,
            LeadSource=source, Status="Open - Not Contacted", OwnerId=rng.choice(self.active_by_region[region]),
            Rating=rng.choice(("Hot", "Warm", "Warm", "Cold", "Cold")), IsConverted=False)
        if camp is not None:
            joined = sfs.parse_datetime(t) + dt.timedelta(seconds=rng.randrange(1, 120))
            self._add("CampaignMember", CreatedDate=_stamp(joined), LastModifiedDate=_stamp(joined),
                      SystemModstamp=_stamp(joined), CampaignId=camp["Id"], LeadId=lead["Id"], Status="Responded",
                      HasResponded=True, FirstRespondedDate=self.day.isoformat())
        return lead

    def _active_owner(self, owner: str | None, region: str) -> str:
        user = self.users.get(owner or "")
        if user is not None and user["IsActive"]:
            return user["Id"]
        return self.rng.choice(self.active_by_region[region])

    def _move_lead(self, lead: dict) -> None:
        rng = self.rng
        nxt, chance, other = LEAD_MOVES[lead["Status"]]
        status = nxt if rng.random() < chance else other
        t = self._moment(rng)
        if status == "Closed - Converted":
            place = _COUNTRIES.get(lead.get("Country") or "")
            if place is not None:
                self._convert(lead, place, t)
                return
            status = "Closed - Not Converted"
        lead["Status"] = status
        _touch(lead, _stamp(t))

    def _convert(self, lead: dict, place: tuple, t: dt.datetime) -> None:
        """The lead becomes an account, a contact and an opportunity (its first history row and
        its line item), as `generator._Company._convert` does."""
        rng = self.rng
        region, iso, _vat, cities = place
        stamp = _stamp(t)
        owner = self._active_owner(lead["OwnerId"], region)
        ccy = gen.REGIONS[region][1]
        account = self._add(
            "Account", CreatedDate=stamp, LastModifiedDate=stamp, SystemModstamp=stamp, Name=lead["Company"],
            Type="Prospect", Industry=rng.choice(sfs.INDUSTRIES), BillingCity=rng.choice(cities),
            BillingCountry=lead["Country"], OwnerId=owner, AccountNumber=None, CurrencyIsoCode=ccy)
        contact = self._add(
            "Contact", CreatedDate=stamp, LastModifiedDate=stamp, SystemModstamp=stamp, AccountId=account["Id"],
            FirstName=lead["FirstName"], LastName=lead["LastName"], Name=lead["Name"], Email=lead["Email"],
            OwnerId=owner)
        product = rng.choice(gen.PRODUCTS)
        amount = _amount(rng, 24000, ccy)
        close = (t + dt.timedelta(days=60)).date().isoformat()
        opp = self._add(
            "Opportunity", CreatedDate=stamp, LastModifiedDate=stamp, SystemModstamp=stamp, AccountId=account["Id"],
            Name=f"{lead['Company']} - {product}", StageName="Prospecting", Amount=amount, CurrencyIsoCode=ccy,
            Probability=sfs.STAGE_PROBABILITY["Prospecting"], ForecastCategoryName="Pipeline", CloseDate=close,
            IsClosed=False, IsWon=False, LeadSource=lead["LeadSource"], CampaignId=None, OwnerId=owner,
            Type="New Customer")
        self._history(opp, stamp)
        code = gen.DEAL_PRODUCTS[product][0]
        if code in self.product_ids:
            self._add("OpportunityLineItem", CreatedDate=stamp, LastModifiedDate=stamp, SystemModstamp=stamp,
                      OpportunityId=opp["Id"], Product2Id=self.product_ids[code], Quantity=Decimal("1.0"),
                      UnitPrice=amount, TotalPrice=amount, ServiceDate=close, CurrencyIsoCode=ccy)
        lead.update(Status="Closed - Converted", IsConverted=True, ConvertedDate=self.day.isoformat(),
                    ConvertedAccountId=account["Id"], ConvertedContactId=contact["Id"],
                    ConvertedOpportunityId=opp["Id"])
        _touch(lead, stamp)

    def _history(self, opp: dict, stamp: str) -> None:
        stage = opp["StageName"]
        self._add("OpportunityHistory", CreatedDate=stamp, LastModifiedDate=stamp, SystemModstamp=stamp,
                  OpportunityId=opp["Id"], StageName=stage, Amount=opp["Amount"],
                  Probability=sfs.STAGE_PROBABILITY[stage], ForecastCategory=sfs.STAGE_FORECAST_CATEGORY[stage],
                  CloseDate=opp["CloseDate"], CreatedById=opp["OwnerId"], CurrencyIsoCode=opp["CurrencyIsoCode"])

    # -- opportunities ------------------------------------------------------------------------

    def _opportunities(self) -> None:
        path = self.sf / "Opportunity.json"
        total = 0
        counts: Counter = Counter()
        for text in _records(path):
            total += 1
            if _open_opportunity(text):
                counts[_field(text, "StageName")] += 1
        self.sf_count.records("Opportunity", total)
        early = {s: counts[s] for s in EARLY_STAGES}
        deletes = _pick(self.rng, early, _quotas(_target(DELETE_SHARE, self.fraction, total), early,
                                                 dict.fromkeys(EARLY_STAGES, 1)))
        open_ = {s: counts[s] for s in sfs.OPEN_STAGES}
        moves = _pick(self.rng, open_, _quotas(_target(NEW_SHARE + CHANGE_SHARE, self.fraction, total),
                                               {s: n - len(deletes.get(s, ())) for s, n in open_.items()},
                                               OPP_MOVE_WEIGHT), exclude=deletes)
        self.won: list[dict] = []
        self.deleted_opps: set[str] = set()
        self.deleted_stamp = deleted_stamp = self._delete_stamp()
        seen: Counter = Counter()

        def edit(text: str) -> str:
            if not _open_opportunity(text):
                return text
            stage = _field(text, "StageName")
            position = seen[stage]
            seen[stage] += 1
            if position in moves.get(stage, ()):
                rec = sfs.loads(text)
                self._move_opportunity(rec)
                self.sf_count.add("Opportunity", "changed")
                return _dump(rec)
            if position in deletes.get(stage, ()):
                rec = sfs.loads(text)
                rec["IsDeleted"] = True
                _touch(rec, deleted_stamp)
                self.deleted_opps.add(rec["Id"])
                self.sf_count.add("Opportunity", "deleted")
                return _dump(rec)
            return text

        _rewrite(path, edit, self.new.pop("Opportunity", []))

    def _move_opportunity(self, opp: dict) -> None:
        """One stage on (or lost); the last open stage closes, won or lost. A history row and a
        StageName field-history row record it, as `generator._Company._progress` does."""
        rng = self.rng
        stage = opp["StageName"]
        if stage == sfs.OPEN_STAGES[-1]:
            new = "Closed Won" if rng.random() < 0.5 else "Closed Lost"
        else:
            new = sfs.OPEN_STAGES[sfs.OPEN_STAGES.index(stage) + 1] if rng.random() < 0.8 else "Closed Lost"
        t = self._moment(rng)
        closed = new.startswith("Closed")
        close = dt.date.fromisoformat(opp["CloseDate"])
        if closed:
            close = self.day
        elif close < self.day + dt.timedelta(days=7):  # slipping: push the date
            close = self.day + dt.timedelta(days=30)
        opp.update(StageName=new, Probability=sfs.STAGE_PROBABILITY[new],
                   ForecastCategoryName=sfs.STAGE_FORECAST_NAME[new], IsClosed=closed, IsWon=new == "Closed Won",
                   CloseDate=close.isoformat())
        stamp = _stamp(t)
        _touch(opp, stamp)
        self._history(opp, stamp)
        self._add("OpportunityFieldHistory", CreatedDate=stamp, CreatedById=opp["OwnerId"], OpportunityId=opp["Id"],
                  Field="StageName", DataType="DynamicEnum", OldValue=stage, NewValue=new)
        if opp["IsWon"]:
            self.won.append({"opp": opp, "at": t})

    def _won_deals(self) -> None:
        """A won deal's contract (signed on D) and, mostly, its order on D (Salesforce and ERP)."""
        rng = self.rng
        self.orders: list[dict] = []
        for deal in self.won:
            opp, t = deal["opp"], deal["at"]
            drafted, signed = t + dt.timedelta(minutes=10), t + dt.timedelta(hours=1)
            number = f"{100 + self._next_index('Contract'):08d}"  # the generator's auto-number
            contract = self._add(
                "Contract", CreatedDate=_stamp(drafted), LastModifiedDate=_stamp(signed), SystemModstamp=_stamp(signed),
                AccountId=opp["AccountId"], ContractNumber=number, Status="Activated", StartDate=self.day.isoformat(),
                EndDate=(gen._add_months(self.day, 12) - dt.timedelta(days=1)).isoformat(), ContractTerm=12,
                CustomerSignedDate=self.day.isoformat(), ActivatedDate=_stamp(signed),
                CurrencyIsoCode=opp["CurrencyIsoCode"], Opportunity__c=opp["Id"], Contract_Value__c=opp["Amount"])
            if rng.random() >= ORDER_SAME_DAY:
                continue
            booked = t + dt.timedelta(hours=2)
            number = f"{100 + self._next_index('Order'):08d}"
            self._add("Order", CreatedDate=_stamp(booked), LastModifiedDate=_stamp(booked + dt.timedelta(minutes=5)),
                      SystemModstamp=_stamp(booked + dt.timedelta(minutes=5)), AccountId=opp["AccountId"],
                      ContractId=contract["Id"], OpportunityId=opp["Id"], OrderNumber=number, Status="Activated",
                      EffectiveDate=self.day.isoformat(), TotalAmount=opp["Amount"],
                      CurrencyIsoCode=opp["CurrencyIsoCode"])
            self.orders.append({"opp": opp, "contract_number": contract["ContractNumber"],
                                "created": booked + dt.timedelta(hours=2)})

    # -- accounts, contacts ---------------------------------------------------------------------

    def _accounts(self) -> None:
        """Edits (industry, owner within the region), won accounts become customers, and an
        account's first order creates its ERP customer (AccountNumber written back)."""
        path = self.sf / "Account.json"
        total = _count_records(path)
        self.sf_count.records("Account", total)
        edits = _pick(self.rng, {"all": total}, {"all": _target(CHANGE_SHARE, self.fraction, total)})["all"]
        won = {d["opp"]["AccountId"]: d for d in self.won}
        ordered = {o["opp"]["AccountId"] for o in self.orders}
        self.customer_of: dict[str, dict] = {}  # account Id -> ERP customer facts (new or existing)
        self.new_customers: list[dict] = []
        self._erp_connect()

        position = iter(range(total))

        def edit(text: str) -> str:
            edited = next(position) in edits
            account_id = _field(text, "Id")
            if account_id not in won and not edited:
                return text
            rec = sfs.loads(text)
            if rec["IsDeleted"]:
                return text
            if account_id in won:
                t = won[account_id]["at"]
                if rec["Type"] != "Customer":
                    rec["Type"] = "Customer"
                    _touch(rec, _stamp(t))
                if account_id in ordered:
                    self._customer_for(rec, t)
            else:
                rec["Industry"] = self.rng.choice([i for i in sfs.INDUSTRIES if i != rec["Industry"]])
                _touch(rec, _stamp(self._moment(self.rng)))
            self.sf_count.add("Account", "changed")
            return _dump(rec)

        _rewrite(path, edit, self.new.pop("Account", []))

    def _customer_for(self, account: dict, t: dt.datetime) -> None:
        if account.get("AccountNumber"):
            row = self.erp.execute("select customer_id, payment_terms_days, country from customers "
                                   "where customer_number = ?", (account["AccountNumber"],)).fetchone()
            if row is not None:
                self.customer_of[account["Id"]] = {"id": row[0], "terms": row[1], "country": row[2]}
                return
        rng = self.erp_rng
        region, iso, vat, _cities = _COUNTRIES[account["BillingCountry"]]
        n = self.erp_next["customer"]
        self.erp_next["customer"] += 1
        created = t + dt.timedelta(hours=3)
        customer = {
            "id": f"C{n:06d}", "number": f"CUST-{10000 + n}", "name": account["Name"], "country": iso,
            "currency": account["CurrencyIsoCode"], "account": account["Id"],
            "tax_id": f"{iso}{rng.randrange(10**8, 10**9)}" if iso != "US"
            else f"{rng.randrange(10, 99)}-{rng.randrange(10**6, 10**7)}",
            "terms": gen._weighted(rng, [30, 45, 60], [0.6, 0.25, 0.15]), "created": created,
            "iban": gen._customer_iban(rng, iso),
        }
        self.new_customers.append(customer)
        self.customer_of[account["Id"]] = {"id": customer["id"], "terms": customer["terms"], "country": iso}
        account["AccountNumber"] = customer["number"]
        _touch(account, _stamp(created + dt.timedelta(minutes=5)))  # written back by the ERP sync

    def _contacts(self) -> None:
        """Owner reassignments within the owner's region."""
        path = self.sf / "Contact.json"
        total = _count_records(path)
        self.sf_count.records("Contact", total)
        edits = _pick(self.rng, {"all": total}, {"all": _target(CHANGE_SHARE, self.fraction, total)})["all"]
        position = iter(range(total))

        def edit(text: str) -> str:
            if next(position) not in edits or '"IsDeleted":true' in text:
                return text
            rec = sfs.loads(text)
            owner = self.users.get(rec["OwnerId"])
            others = [u for u in self.active_by_region[owner["Department"]] if u != owner["Id"]] if owner else []
            if not others:
                return text
            rec["OwnerId"] = self.rng.choice(others)
            _touch(rec, _stamp(self._moment(self.rng)))
            self.sf_count.add("Contact", "changed")
            return _dump(rec)

        _rewrite(path, edit, self.new.pop("Contact", []))

    def _children(self, obj: str) -> None:
        """History and line items: the rows of deleted opportunities are deleted with them (field
        history has no SystemModstamp to bump), new rows appended."""
        path = self.sf / f"{obj}.json"
        appended = self.new.pop(obj, [])
        self.sf_count.records(obj, self._next_index(obj) - len(appended))
        if not self.deleted_opps:
            _append(path, appended)
            return
        deleted, stamped = self.deleted_opps, "SystemModstamp" in sfs.SCHEMAS[obj].stored_fields

        def edit(text: str) -> str:
            if _field(text, "OpportunityId") not in deleted or '"IsDeleted":true' in text:
                return text
            rec = sfs.loads(text)
            rec["IsDeleted"] = True
            if stamped:
                _touch(rec, self.deleted_stamp)
            self.sf_count.add(obj, "deleted")
            return _dump(rec)

        _rewrite(path, edit, appended)

    def _currency_objects(self, rates: dict[str, Decimal]) -> None:
        """On the 1st of a month, a new DatedConversionRate range per currency (closing the open one)
        and CurrencyType's static rate follows it, as the generator's `_Extras.currencies` does."""
        if self.day.day != 1 or "DatedConversionRate" not in self.small:
            return
        dated = self.small["DatedConversionRate"]
        for ccy, rate in sorted(rates.items()):
            created = _stamp(self._moment(self.rng))
            converted = (Decimal(1) / rate).quantize(gen.RATE_PLACES)
            for row in dated:
                if row["IsoCode"] == ccy and row["NextStartDate"] is None:
                    row["NextStartDate"] = self.day.isoformat()
                    _touch(row, created)
                    self.sf_count.add("DatedConversionRate", "changed")
            dated.append(_new_record("DatedConversionRate", Id=self._new_dated_id(), CreatedDate=created,
                                     LastModifiedDate=created, SystemModstamp=created, IsoCode=ccy,
                                     ConversionRate=converted, StartDate=self.day.isoformat(), NextStartDate=None))
            self.sf_count.add("DatedConversionRate", "new")
            for ct in self.small.get("CurrencyType", []):
                if ct["IsoCode"] == ccy:
                    ct["ConversionRate"] = converted
                    _touch(ct, _stamp(sfs.parse_datetime(created) + dt.timedelta(minutes=2)))
                    self.sf_count.add("CurrencyType", "changed")
                    self.small_changed.add("CurrencyType")
        self.small_changed.add("DatedConversionRate")

    def _new_dated_id(self) -> str:
        obj = "DatedConversionRate"
        if obj not in self._ids:
            self._ids[obj] = len(self.small[obj])
        i = self._ids[obj]
        self._ids[obj] += 1
        return sfs.sf_id(sfs.SCHEMAS[obj].key_prefix, _id_base(obj) + 37 * i)

    # -- ERP --------------------------------------------------------------------------------

    def _erp_connect(self) -> None:
        self.erp = sqlite3.connect(self.root / "erp.sqlite")
        self.erp_next = {}
        for kind, table, column in (("customer", "customers", "customer_id"), ("order", "sales_orders", "order_id"),
                                    ("invoice", "invoices", "invoice_id")):
            top = self.erp.execute(f"select max({column}) from {table}").fetchone()[0]
            self.erp_next[kind] = int(top[1:]) + 1 if top else 1
        self.erp_counts_before = {t: self.erp.execute(f"select count(*) from {t}").fetchone()[0] for t in ERP_TABLES}
        for table, n in self.erp_counts_before.items():
            self.erp_count.records(table, n)

    def _erp(self) -> dict:
        """Every ERP change of D in one transaction; returns the invoices paid (for the bank)."""
        con = self.erp
        try:
            with con:
                self._erp_customers()
                issued = self._erp_orders()
                self._erp_installments(issued)
                paid = self._erp_payments()
                self._erp_cancellations({p["invoice_id"] for p in paid})
                self._erp_deliveries()
                self._erp_terms()
        finally:
            con.close()
        return {"paid": paid}

    def _ts(self, value: dt.datetime) -> str:
        return f"{value.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S}"

    def _erp_customers(self) -> None:
        rows = [(c["id"], c["number"], c["name"], c["country"], c["currency"], c["account"], c["tax_id"], c["terms"],
                 self._ts(c["created"]), self._ts(c["created"]), c["iban"]) for c in self.new_customers]
        self.erp.executemany("insert into customers values (?,?,?,?,?,?,?,?,?,?,?)", rows)
        self.erp_count.add("customers", "new", len(rows))

    def _invoice(self, order_id: str, customer: dict, currency: str, net: Decimal, created: dt.datetime,
                 lines: list[tuple[str, Decimal]]) -> str:
        n = self.erp_next["invoice"]
        self.erp_next["invoice"] += 1
        invoice_id, number = f"I{n:07d}", f"INV-{self.year}-{n:06d}"
        vat = _vat(customer["country"])
        tax = gen._q(net * vat)
        due = self.day + dt.timedelta(days=customer["terms"])
        stamp = self._ts(created)
        self.erp.execute("insert into invoices values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
            invoice_id, number, customer["id"], order_id, self.day.isoformat(), due.isoformat(), currency, str(net),
            str(tax), str(net + tax), "open", 0, stamp, stamp, f"NET {customer['terms']}"))
        weights = [int(amount * 100) or 1 for _, amount in lines]
        nets, taxes = gen._split_cents(net, weights), gen._split_cents(tax, weights)
        self.erp.executemany("insert into invoice_lines values (?,?,?,?,?,?,?,?,?,?)", [
            (f"{invoice_id}-{i}", invoice_id, i, line_id, f"Invoice {number} line {i}", str(ln), str(lt),
             str(ln + lt), stamp, stamp)
            for i, ((line_id, _), ln, lt) in enumerate(zip(lines, nets, taxes), start=1)])
        self.erp_count.add("invoices", "new")
        self.erp_count.add("invoice_lines", "new", len(lines))
        return invoice_id

    def _erp_orders(self) -> int:
        """The orders booked on D, with lines, maybe a shipment and maybe the invoice."""
        rng, issued = self.erp_rng, 0
        for i, order in enumerate(self.orders):
            opp = order["opp"]
            customer = self.customer_of.get(opp["AccountId"])
            if customer is None:
                continue
            n = self.erp_next["order"]
            self.erp_next["order"] += 1
            order_id, number = f"O{n:07d}", f"SO-{self.year}-{n:06d}"
            net, created = opp["Amount"], min(order["created"], self._end_of_day(22))
            invoiced = rng.random() < INVOICE_SAME_DAY
            stamp = self._ts(created)
            self.erp.execute("insert into sales_orders values (?,?,?,?,?,?,?,?,?,?,?)", (
                order_id, number, customer["id"], opp["Id"], order["contract_number"], self.day.isoformat(),
                opp["CurrencyIsoCode"], str(net), "invoiced" if invoiced else "open", stamp, stamp))
            k = gen._weighted(rng, [1, 2, 3], [0.5, 0.3, 0.2])
            amounts = gen._split_cents(net, [rng.randrange(1, 10) for _ in range(k)])
            lines = []
            for line_no, (amount, (code, text)) in enumerate(zip(amounts, rng.sample(gen._PRODUCTS, k)), start=1):
                qty = next((q for q in (rng.randrange(1, 6), 1) if (amount * 100) % q == 0), 1)
                lines.append((f"{order_id}-{line_no}", amount))
                self.erp.execute("insert into sales_order_lines values (?,?,?,?,?,?,?,?,?,?)", (
                    f"{order_id}-{line_no}", order_id, line_no, code, text, qty, str((amount / qty).quantize(gen.CENT)),
                    str(amount), stamp, stamp))
            self.erp_count.add("sales_orders", "new")
            self.erp_count.add("sales_order_lines", "new", len(lines))
            if rng.random() < SHIP_SAME_DAY:
                self.erp.execute("insert into deliveries values (?,?,?,?,?,?,?,?)", (
                    f"D{order_id}", f"DN-{number}", order_id, self.day.isoformat(), None, "shipped", stamp, stamp))
                self.erp_count.add("deliveries", "new")
            if invoiced:
                self._invoice(order_id, customer, opp["CurrencyIsoCode"], net,
                              self._end_of_day(20) + dt.timedelta(seconds=i), lines)
                issued += 1
        return issued

    def _end_of_day(self, hour: int) -> dt.datetime:
        return dt.datetime.combine(self.day, dt.time(hour), tzinfo=dt.timezone.utc)

    def _customers(self, ids: Iterable[str]) -> dict[str, dict]:
        """The ERP facts of these customers (a few hundred at most per call)."""
        out = {}
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for cid, name, country, terms, iban in self.erp.execute(
                    "select customer_id, name, country, payment_terms_days, iban from customers where customer_id "
                    f"in ({','.join('?' * len(chunk))})", chunk):
                out[cid] = {"id": cid, "name": name, "country": country, "terms": terms, "iban": iban}
        return out

    def _erp_installments(self, issued: int) -> None:
        """The last installment of orders invoiced in parts (status `open`), up to NEW_SHARE of the
        invoices counting the new orders' invoices."""
        want = _target(NEW_SHARE, self.fraction, self.erp_counts_before["invoices"]) - issued
        if want <= 0:
            return
        orders = self.erp.execute(
            "select order_id, customer_id, currency, cast(net_amount as text) from sales_orders "
            "where status = 'open' and order_date <= ? order by order_id", (self.as_of.isoformat(),)).fetchall()
        invoiced: dict[str, Decimal] = defaultdict(Decimal)
        for order_id, net in self.erp.execute(
                "select order_id, cast(net_amount as text) from invoices where is_deleted = 0 and order_id in "
                "(select order_id from sales_orders where status = 'open')"):
            invoiced[order_id] += Decimal(net)
        open_orders = [(o, c, ccy, Decimal(net) - invoiced[o]) for o, c, ccy, net in orders
                       if Decimal(net) - invoiced[o] > 0]
        picked = sorted(self.erp_rng.sample(open_orders, min(want, len(open_orders))))
        customers = self._customers(c for _o, c, _ccy, _r in picked)
        for i, (order_id, customer_id, currency, remaining) in enumerate(picked):
            lines = [(line_id, Decimal(amount)) for line_id, amount in self.erp.execute(
                "select order_line_id, cast(net_amount as text) from sales_order_lines where order_id = ? "
                "order by line_number", (order_id,))]
            created = self._end_of_day(20) + dt.timedelta(minutes=30, seconds=i)
            self._invoice(order_id, customers[customer_id], currency, remaining, created, lines)
            self.erp.execute("update sales_orders set status = 'invoiced', updated_at = ? where order_id = ?",
                             (self._ts(created), order_id))
            self.erp_count.add("sales_orders", "changed")

    def _open_invoices(self) -> list[tuple]:
        return self.erp.execute(
            "select invoice_id, invoice_number, customer_id, currency, cast(total_amount as text) from invoices "
            "where status = 'open' and is_deleted = 0 and issue_date <= ? order by invoice_id",
            (self.as_of.isoformat(),)).fetchall()

    def _touch_invoice(self, invoice_id: str, status: str, stamp: str, deleted: bool = False) -> None:
        self.erp.execute("update invoices set status = ?, is_deleted = ?, updated_at = ? where invoice_id = ?",
                         (status, int(deleted), stamp, invoice_id))
        lines = self.erp.execute("update invoice_lines set updated_at = ? where invoice_id = ?", (stamp, invoice_id))
        self.erp_count.add("invoice_lines", "changed", lines.rowcount)

    def _erp_payments(self) -> list[dict]:
        """Open invoices paid on D in full: ~fraction of the invoices paid so far."""
        paid_before = self.erp.execute("select count(*) from invoices where status = 'paid'").fetchone()[0]
        candidates = self._open_invoices()
        picked = sorted(self.erp_rng.sample(candidates, min(len(candidates), _target(1.0, self.fraction, paid_before))))
        customers = self._customers(c for _i, _n, c, _ccy, _t in picked)
        out = []
        for i, (invoice_id, number, customer_id, currency, total) in enumerate(picked):
            stamp = self._ts(self._end_of_day(21) + dt.timedelta(seconds=i))
            self._touch_invoice(invoice_id, "paid", stamp)
            self.erp_count.add("invoices", "changed")
            out.append({"invoice_id": invoice_id, "number": number, "currency": currency, "amount": Decimal(total),
                        "customer": customers[customer_id]})
        return out

    def _erp_cancellations(self, paid: set[str]) -> None:
        """Open invoices cancelled (soft-deleted) on D, each with its full credit note."""
        candidates = [row for row in self._open_invoices() if row[0] not in paid]
        n = _target(DELETE_SHARE, self.fraction, self.erp_counts_before["invoices"])
        for i, (invoice_id, number, customer_id, currency, _total) in enumerate(
                sorted(self.erp_rng.sample(candidates, min(n, len(candidates))))):
            when = self._end_of_day(16) + dt.timedelta(seconds=i)
            stamp = self._ts(when)
            self._touch_invoice(invoice_id, "cancelled", stamp, deleted=True)
            self.erp_count.add("invoices", "deleted")
            net, tax, total = self.erp.execute(
                "select cast(net_amount as text), cast(tax_amount as text), cast(total_amount as text) "
                "from invoices where invoice_id = ?", (invoice_id,)).fetchone()
            self.erp.execute("insert into credit_notes values (?,?,?,?,?,?,?,?,?,?,?,?)", (
                f"CN{invoice_id}", f"CN-{number}", invoice_id, customer_id, self.day.isoformat(), currency,
                str(Decimal(net)), str(Decimal(tax)), str(Decimal(total)), "invoice cancelled", stamp, stamp))
            self.erp_count.add("credit_notes", "new")

    def _erp_deliveries(self) -> None:
        """Shipped deliveries delivered on D; a few deliveries removed from the ERP (hard delete)."""
        rng = self.erp_rng
        shipped = [r[0] for r in self.erp.execute(
            "select delivery_id from deliveries where status = 'shipped' and shipped_date <= ? order by delivery_id",
            (self.as_of.isoformat(),))]
        total = self.erp_counts_before["deliveries"]
        delivered = sorted(rng.sample(shipped, min(len(shipped), _target(CHANGE_SHARE, self.fraction, total))))
        for i, delivery_id in enumerate(delivered):
            stamp = self._ts(self._end_of_day(12) + dt.timedelta(seconds=i))
            self.erp.execute("update deliveries set status = 'delivered', delivered_date = ?, updated_at = ? "
                             "where delivery_id = ?", (self.day.isoformat(), stamp, delivery_id))
            self.erp_count.add("deliveries", "changed")
        done = set(delivered)
        rest = [d for d in shipped if d not in done] or [r[0] for r in self.erp.execute(
            "select delivery_id from deliveries where shipped_date <= ? order by delivery_id",
            (self.as_of.isoformat(),)) if r[0] not in done]
        gone = sorted(rng.sample(rest, min(len(rest), _target(DELETE_SHARE, self.fraction, total))))
        self.erp.executemany("delete from deliveries where delivery_id = ?", [(d,) for d in gone])
        self.erp_count.add("deliveries", "deleted", len(gone))

    def _erp_terms(self) -> None:
        """Customers whose payment terms change (for invoices issued from now on)."""
        rng = self.erp_rng
        rows = self.erp.execute("select customer_id, payment_terms_days from customers where created_at < ? "
                                "order by customer_id", (self.day.isoformat(),)).fetchall()
        n = _target(CHANGE_SHARE, self.fraction, self.erp_counts_before["customers"])
        for i, (customer_id, terms) in enumerate(sorted(rng.sample(rows, min(len(rows), n)))):
            stamp = self._ts(self._end_of_day(10) + dt.timedelta(seconds=i))
            self.erp.execute("update customers set payment_terms_days = ?, updated_at = ? where customer_id = ?",
                             (rng.choice([t for t in (30, 45, 60) if t != terms]), stamp, customer_id))
            self.erp_count.add("customers", "changed")

    # -- finance ------------------------------------------------------------------------------

    def _finance(self, paid: list[dict]) -> dict:
        folder = self.root / "finance" / "statements"
        rng = self.fin_rng
        before = _count_bank_entries(folder)
        files = []
        by_ccy: dict[str, list[dict]] = defaultdict(list)
        for p in paid:
            by_ccy[p["currency"]].append(p)
        n = 0
        for ccy in gen.BANK_ACCOUNTS:
            entries = []
            for p in by_ccy.get(ccy, []):
                n += 1
                number, customer = p["number"], p["customer"]
                reference = rng.choice(("{n}", "Invoice {n}", "{n} {c}", "PAYMENT {n}")).format(
                    n=number, c=customer["name"][:20].upper())
                payer = {"payer_name": customer["name"].upper() if rng.random() < 0.3 else customer["name"],
                         "iban": customer["iban"], "acct_no": f"{rng.randrange(10**8, 10**9)}"}
                e2e = "NOTPROVIDED" if rng.random() < 0.3 else f"E2E{rng.getrandbits(48):012X}"
                entries.append({"kind": "receipt", "booking": self.day, "amount": p["amount"],
                                "ref": f"{ccy}{self.day:%Y%m%d}{n:08d}",
                                "receipt": {"value": self.day, "e2e": e2e, "reference": reference,
                                            "invoice": {"customer": payer}}})
            if entries:
                files.append(self._statement(folder, ccy, entries))
        rates = self._fx_rates()
        return {"report": {"bank_transactions": {"records": before, "new": n, "changed": 0, "deleted": 0},
                           "files": files, "fx_rates": {k: str(v) for k, v in rates.items()}},
                "rates": rates}

    def _statement(self, folder: Path, ccy: str, entries: list[dict]) -> str:
        """One day's statement of the `ccy` account, in the generator's format for that account and
        month, opening at the previous statement's closing balance."""
        country, bban, bic, _opening = gen.BANK_ACCOUNTS[ccy]
        iban = gen._iban(country, bban)
        seq = sum(1 for p in folder.iterdir() if f"_{ccy}_" in p.name) + 1
        opening = _closing_balance(folder, ccy)
        credits = sum((e["amount"] for e in entries), Decimal(0))
        key = self.day.isoformat()
        created = f"{key}T22:00:00"
        root = ET.Element("Document", xmlns=gen.CAMT_NS)
        msg = gen._sub(root, "BkToCstmrStmt")
        hdr = gen._sub(msg, "GrpHdr")
        gen._sub(hdr, "MsgId", f"STMT-{ccy}-{key}")
        gen._sub(hdr, "CreDtTm", created)
        stmt = gen._sub(msg, "Stmt")
        gen._sub(stmt, "Id", f"{iban[-8:]}-{key}")
        gen._sub(stmt, "ElctrncSeqNb", str(seq))
        gen._sub(stmt, "CreDtTm", created)
        frto = gen._sub(stmt, "FrToDt")
        gen._sub(frto, "FrDtTm", f"{key}T00:00:00")
        gen._sub(frto, "ToDtTm", f"{key}T23:59:59")
        acct = gen._sub(stmt, "Acct")
        gen._path(acct, "Id/IBAN", iban)
        gen._sub(acct, "Ccy", ccy)
        gen._path(acct, "Ownr/Nm", gen.COMPANY_NAME)
        gen._path(acct, "Svcr/FinInstnId/BIC", bic)
        gen._balance(stmt, "OPBD", opening, ccy, self.day)
        gen._balance(stmt, "CLBD", opening + credits, ccy, self.day)
        summary = gen._sub(stmt, "TxsSummry")
        for tag, count, amount in (("TtlNtries", len(entries), credits), ("TtlCdtNtries", len(entries), credits),
                                   ("TtlDbtNtries", 0, Decimal(0))):
            node = gen._sub(summary, tag)
            gen._sub(node, "NbOfNtries", str(count))
            gen._sub(node, "Sum", f"{amount:.2f}")
        for e in entries:
            gen._entry(stmt, e, ccy)
        ET.indent(root, space="  ")
        buf = io.BytesIO()
        buf.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
        ET.ElementTree(root).write(buf, encoding="UTF-8", xml_declaration=False)
        buf.write(b"\n")
        data = buf.getvalue()
        if ccy in MT940_CURRENCIES:
            path = folder / f"mt940_{ccy}_{key}.sta"
            path.write_text(to_mt940(data, seq), encoding="utf-8")
        elif ccy in CSV_CURRENCIES and self.day.month in CSV_MONTHS:
            path = folder / f"bank_{ccy}_{key}.csv"
            path.write_text(to_bank_csv(data), encoding="utf-8")
        else:
            path = folder / f"camt053_{ccy}_{key}.xml"
            path.write_bytes(data)
        return path.name

    def _fx_rates(self) -> dict[str, Decimal]:
        """D's rates, appended to fx_rates.csv on a business day; the rates in effect on D either way."""
        path = self.root / "finance" / "fx_rates.csv"
        with open(path, encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        latest: dict[str, tuple[str, Decimal]] = {}
        # the company's reporting currency is the file's (generate(reporting_currency=...)); one per file
        reporting = {r[2] for r in rows[1:]}.pop() if len(rows) > 1 else "USD"
        for rate_date, ccy, _reporting, rate in rows[1:]:
            if ccy not in latest or rate_date >= latest[ccy][0]:
                latest[ccy] = (rate_date, Decimal(rate))
        rates = {ccy: rate for ccy, (_d, rate) in sorted(latest.items())}
        if self.day.weekday() < 5 and all(d < self.day.isoformat() for d, _r in latest.values()):
            rates = {ccy: Decimal(f"{float(rate) * math.exp(self.fin_rng.gauss(0.0, 0.004)):.6f}")
                     for ccy, rate in rates.items()}
            with open(path, "a", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh, lineterminator="\n")
                for ccy, rate in rates.items():
                    w.writerow([self.day.isoformat(), ccy, reporting, f"{rate:.6f}"])
        return rates

    # -- marketing ------------------------------------------------------------------------------

    def _marketing(self) -> dict:
        folder = self.root / "marketing" / "adspend"
        rng = self.mkt_rng
        files = sorted(folder.glob("adspend_*.csv"))
        total = sum(max(0, _count_lines(p) - 1) for p in files)
        spend_delta: dict[str, Decimal] = defaultdict(Decimal)
        header = ["date", "campaign_id", "campaign_name", "channel", "impressions", "clicks", "spend", "currency"]
        latest_rows = _read_csv(files[-1])[1:] if files else []
        # restated rows of the latest month's export (the platform corrected its figures)
        changed = 0
        if latest_rows:
            picked = set(rng.sample(range(len(latest_rows)), min(len(latest_rows),
                                                                 _target(CHANGE_SHARE, self.fraction, total))))
            for i in sorted(picked):
                row = latest_rows[i]
                old = Decimal(row[6])
                new = max(gen.CENT, gen._q(old * Decimal(f"{rng.uniform(0.9, 1.1):.4f}")))
                row[5] = str(max(0, int(int(row[5]) * float(new / old)))) if old else row[5]
                row[6] = f"{new:.2f}"
                spend_delta[row[1]] += new - old
                changed += 1
            _write_csv(files[-1], header, latest_rows)
        # D's rows of the paid campaigns still running
        recent: dict[str, list[Decimal]] = defaultdict(list)
        for row in latest_rows:
            recent[row[1]].append(Decimal(row[6]))
        new_rows = []
        for ctype in gen.PAID_CHANNELS:
            for camp in sorted(self.running.get(ctype, []), key=lambda c: c["Id"]):
                history = recent.get(camp["Id"]) or [Decimal("100.00")]
                spend = gen._money(float(sum(history[-7:]) / len(history[-7:])) * rng.uniform(0.7, 1.3))
                cpc = {"Paid Search": 3.2, "Social": 5.5}[ctype]
                ctr = {"Paid Search": 0.045, "Social": 0.008}[ctype]
                clicks = max(0, int(float(spend) / cpc * rng.uniform(0.85, 1.15)))
                impressions = int(clicks / ctr * rng.uniform(0.8, 1.2)) + rng.randrange(0, 50)
                new_rows.append([self.day.isoformat(), camp["Id"], camp["Name"], ctype, impressions, clicks,
                                 f"{spend:.2f}", camp["CurrencyIsoCode"]])
                spend_delta[camp["Id"]] += spend
        if new_rows:
            path = folder / f"adspend_{self.day:%Y-%m}.csv"
            existing = _read_csv(path)[1:] if path.exists() else []
            _write_csv(path, header, existing + new_rows)
        for camp in self.small["Campaign"]:  # a paid campaign's ActualCost is its spend
            if camp["Id"] in spend_delta and camp["ActualCost"] is not None:
                camp["ActualCost"] = camp["ActualCost"] + spend_delta[camp["Id"]]
                _touch(camp, _stamp(self._end_of_day(23)))
                self.small_changed.add("Campaign")
        leads = self.sf_count.by["Lead"]
        return {"ad_spend": {"records": total, "new": len(new_rows), "changed": changed, "deleted": 0},
                # derived from the Salesforce files by the HubSpot fake (marketing_data.derive)
                "hubspot_contacts": {"new": leads["new"], "changed_leads": leads["changed"]}}


# ----------------------------------------------------------------------------- helpers

ERP_TABLES = ("customers", "sales_orders", "sales_order_lines", "deliveries", "invoices", "invoice_lines",
              "credit_notes")


def _quotas(total: int, counts: dict[str, int], weights: dict[str, float]) -> dict[str, int]:
    """`total` split over the categories in proportion to count x weight (largest remainder, each
    capped at its count), so exactly `total` are picked when there are that many."""
    mass = {k: counts[k] * weights.get(k, 0) for k in counts}
    whole = sum(mass.values())
    if whole <= 0:
        return dict.fromkeys(counts, 0)
    total = min(total, sum(n for k, n in counts.items() if mass[k] > 0))
    share = {k: total * m / whole for k, m in mass.items()}
    out = {k: min(counts[k], int(v)) for k, v in share.items()}
    while sum(out.values()) < total:
        k = max((k for k in counts if out[k] < counts[k] and mass[k] > 0),
                key=lambda k: (share[k] - out[k], k))
        out[k] += 1
    return out


def _pick(rng: random.Random, counts: dict[str, int], quotas: dict[str, int],
          exclude: dict[str, set[int]] | None = None) -> dict[str, set[int]]:
    """Per category, `quotas[k]` positions among its `counts[k]` records (in file order), none of
    `exclude[k]`: exact counts, drawn in a fixed order, so a seed gives the same picks."""
    out = {}
    for k in sorted(counts):
        excluded = (exclude or {}).get(k, set())
        pool = [i for i in range(counts[k]) if i not in excluded] if excluded else range(counts[k])
        out[k] = set(rng.sample(pool, min(quotas.get(k, 0), len(pool))))
    return out


def _lead_state(text: str) -> str | None:
    """A lead's LEAD_MOVES status when it can still move, "duplicate" for a live planted duplicate
    (see the module docstring), None otherwise; read from the JSON text without parsing it."""
    if '"IsDeleted":true' in text or '"IsConverted":true' in text:
        return None
    if _UPPER_EMAIL.search(text):
        return "duplicate"
    status = _field(text, "Status")
    return status if status in LEAD_MOVES else None


def _open_opportunity(text: str) -> bool:
    return '"IsClosed":false' in text and '"IsDeleted":false' in text


def _amount(rng: random.Random, median_usd: float, currency: str) -> Decimal:
    """A deal size like `generator._Company._amount` (lognormal, mostly round numbers)."""
    value = rng.lognormvariate(math.log(median_usd / gen.SIZE_FX[currency]), 0.7)
    if rng.random() < 0.6:
        return Decimal(int(round(value, -2)) or 100).quantize(gen.CENT)
    return gen._money(value)


def _vat(iso: str) -> Decimal:
    return next(Decimal(vat) for _r, (_w, _c, countries) in gen.REGIONS.items()
                for _name, code, _cw, vat, _cities in countries if code == iso)


def _rewrite_small(path: Path, records: list[dict]) -> None:
    text = "[\n" + ",\n".join(_dump(r) for r in records) + ("\n]\n" if records else "]\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _statement_files(folder: Path, ccy: str) -> list[Path]:
    """The account's statement files in date order (the date is the name's last `_` part)."""
    files = [p for p in folder.iterdir() if p.is_file() and f"_{ccy}_" in p.name
             and p.suffix.lower() in (".xml", ".sta", ".csv")]
    return sorted(files, key=lambda p: p.stem.rsplit("_", 1)[1])


_MT940_CLOSING = re.compile(r":62F:([CD])\d{6}[A-Z]{3}([0-9]+,[0-9]*)")


def _closing_balance(folder: Path, ccy: str) -> Decimal:
    """The account's balance after its latest statement: a CAMT.053 CLBD or an MT940 :62F:; a bank
    CSV carries no balance, so the balance before it plus its credits minus its debits."""
    net = Decimal(0)
    for path in reversed(_statement_files(folder, ccy)):
        suffix = path.suffix.lower()
        if suffix == ".xml":
            return _balances(path.read_bytes())["CLBD"][0] + net
        if suffix == ".sta":
            found = _MT940_CLOSING.findall(path.read_text(encoding="utf-8"))
            sign, amount = found[-1]
            return (-1 if sign == "D" else 1) * Decimal(amount.replace(",", ".")) + net
        for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
            amount = Decimal(row["Amount"])
            net += amount if row["Credit/Debit"] in ("CRDT", "C", "CR", "CREDIT") else -amount
    return gen.BANK_ACCOUNTS[ccy][3] + net  # no statement yet: the account's opening balance


def _count_bank_entries(folder: Path) -> int:
    """Statement transactions in the drop: CAMT `<Ntry>`s, MT940 `:61:` lines, CSV rows."""
    n = 0
    for path in folder.iterdir():
        suffix = path.suffix.lower()
        if suffix == ".xml":
            n += path.read_bytes().count(b"<Ntry>")
        elif suffix == ".sta":
            n += sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.startswith(":61:"))
        elif suffix == ".csv":
            n += max(0, _count_lines(path) - 1)
    return n


def mutate(sandbox_dir: Path | str, fraction: float = 0.01, seed: int = 1, *,
           deleted_at: dt.datetime | None = None) -> dict:
    """Change the sandbox company at `sandbox_dir` in place as its sources look the next day
    (see the module docstring); returns what changed, per source and object, and the new `as_of`.

    `fraction`: about this share of every source's records is new, changed or deleted.
    `deleted_at`: the moment the Salesforce deletes are stamped with (default: a moment on the
    next day); pass the current time for getDeleted to report them (its window follows the clock)."""
    return _Mutation(Path(sandbox_dir), fraction, seed, deleted_at).run()
