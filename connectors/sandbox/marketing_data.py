"""The sandbox company's marketing automation (HubSpot-shaped), derived from its Salesforce org.

In a real company the marketing platform and the CRM are two systems that sync: a form submission
creates a HubSpot contact, the HubSpot–Salesforce integration creates the Salesforce Lead and writes
its Id back into the contact (`salesforceleadid`), and sales progress flows back as lifecycle stages.
So the HubSpot data here is *derived* from the generated `<sandbox>/salesforce/*.json` (Campaign,
Lead, CampaignMember, Opportunity), never simulated separately, and the two always agree:

- one HubSpot campaign per Salesforce Campaign (`salesforce_campaign_id` property);
- one contact per distinct lead e-mail (HubSpot deduplicates contacts by e-mail, Salesforce keeps
  the planted duplicate leads): the same e-mail as the earliest such Lead, whose Id is the
  contact's `salesforceleadid`. Deleted leads are archived contacts, which the API does not list;
- lifecycle stages from that lead's state: `lead` when created; `marketingqualifiedlead` one hour
  later (the scoring workflow runs hourly) once sales worked it (Status past "Open - Not
  Contacted"); `salesqualifiedlead` when qualified; `opportunity` when converted; `customer` when its
  opportunity was won (at CloseDate). The Salesforce files hold no lead status history, so the MQL
  and SQL moments are these stand-ins, kept monotone. Each stage entered gives an
  `hs_v2_date_entered_<stage>` property and one entry of `propertiesWithHistory.lifecyclestage`;
- one form per campaign a prospect can respond to online (not trade shows: badge scans are
  imported) plus a "Contact us" form for Web leads, and one submission per online response: the
  lead's first touch at its CreatedDate (the submission created the lead) and each later campaign
  membership at its CreatedDate. The landing pages' hidden `sfcampaignid` field carries the
  Salesforce Campaign Id, as HubSpot–Salesforce setups commonly do.

Ids are deterministic (uuid5 / ranks), so the same sandbox gives the same API every time. Standard
library only; `FakeHubSpot` (connectors/sandbox/fake_hubspot.py) serves the result.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from connectors.sandbox import sf_schema as sfs

NAMESPACE = uuid.UUID("6f1c9a52-3d5e-4b1a-9a43-5c0e2f7b8d11")  # fixed: ids must not change between runs
PORTAL_ID = 4242001
STAGES = ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
ANALYTICS_SOURCE = {  # Salesforce LeadSource → HubSpot hs_analytics_source
    "Web": "ORGANIC_SEARCH", "Paid Search": "PAID_SEARCH", "Social": "PAID_SOCIAL", "Email": "EMAIL_MARKETING",
    "Webinar": "OTHER_CAMPAIGNS", "Trade Show": "OFFLINE", "Partner Referral": "REFERRALS",
}
OFFLINE_TYPES = ("Trade Show",)  # campaigns whose responses are imported, not submitted on a form


def hs_time(value: dt.datetime) -> str:
    """HubSpot's datetime form: `2025-01-31T09:30:00.000Z`."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _uid(kind: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


@dataclass
class HubSpotData:
    """The API's objects, already in response shape (`id`, `properties`, `createdAt`, ...)."""

    campaigns: list[dict] = field(default_factory=list)
    contacts: list[dict] = field(default_factory=list)
    forms: list[dict] = field(default_factory=list)
    submissions: dict[str, list[dict]] = field(default_factory=dict)  # form id → submissions

    def counts(self) -> dict[str, int]:
        return {"campaigns": len(self.campaigns), "contacts": len(self.contacts), "forms": len(self.forms),
                "form_submissions": sum(len(s) for s in self.submissions.values())}


def _load(folder: Path, obj: str) -> list[dict]:
    path = folder / f"{obj}.json"
    return sfs.loads(path.read_bytes()) if path.exists() else []


def _at(text: str | None) -> dt.datetime | None:
    return sfs.parse_datetime(text) if text else None


def _day_at(text: str | None, hour: int) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(hour), tzinfo=dt.timezone.utc)


def derive(sandbox_dir: Path) -> HubSpotData:
    """The HubSpot data of the sandbox company at `sandbox_dir` (empty if it has no Salesforce files)."""
    folder = Path(sandbox_dir) / "salesforce"
    campaigns = [c for c in _load(folder, "Campaign") if not c.get("IsDeleted")]
    leads = [l for l in _load(folder, "Lead") if not l.get("IsDeleted") and l.get("Email")]
    members = [m for m in _load(folder, "CampaignMember") if not m.get("IsDeleted")]
    opps = {o["Id"]: o for o in _load(folder, "Opportunity") if not o.get("IsDeleted")}
    out = HubSpotData()

    # campaigns ----------------------------------------------------------------------------------
    camp_by_id = {c["Id"]: c for c in campaigns}
    for c in sorted(campaigns, key=lambda c: c["Id"]):
        status = {"Completed": "completed", "In Progress": "active", "Planned": "planned"}.get(c.get("Status"), "active")
        out.campaigns.append({
            "id": _uid("campaign", c["Id"]),
            "properties": {
                "hs_name": c["Name"], "hs_start_date": c.get("StartDate"), "hs_end_date": c.get("EndDate"),
                "hs_campaign_status": status, "hs_currency_code": c.get("CurrencyIsoCode"),
                "hs_budget_items_sum_amount": None if c.get("BudgetedCost") is None else str(c["BudgetedCost"]),
                "hs_campaign_type": c.get("Type"), "salesforce_campaign_id": c["Id"],
            },
            "createdAt": hs_time(_at(c["CreatedDate"])), "updatedAt": hs_time(_at(c["LastModifiedDate"])),
            "archived": False,
        })

    # forms --------------------------------------------------------------------------------------
    form_of_campaign: dict[str, str] = {}
    contact_us = _uid("form", "contact-us")
    first_created = min((_at(c["CreatedDate"]) for c in campaigns), default=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))
    out.forms.append(_form(contact_us, "Contact us", first_created))
    for c in sorted(campaigns, key=lambda c: c["Id"]):
        if c.get("Type") in OFFLINE_TYPES:
            continue
        fid = _uid("form", c["Id"])
        form_of_campaign[c["Id"]] = fid
        out.forms.append(_form(fid, f"{c['Name']} - landing page", _at(c["CreatedDate"])))
    out.submissions = {f["id"]: [] for f in out.forms}

    # contacts: one per e-mail, from its earliest lead ------------------------------------------
    leads.sort(key=lambda l: (l["CreatedDate"], l["Id"]))
    primary: dict[str, dict] = {}
    for lead in leads:
        primary.setdefault(lead["Email"].lower(), lead)
    lead_by_id = {l["Id"]: l for l in leads}
    for rank, lead in enumerate(primary.values()):
        out.contacts.append(_contact(100001 + rank, lead, opps))

    # form submissions ---------------------------------------------------------------------------
    first_member: set[str] = set()
    for m in sorted(members, key=lambda m: (m["CreatedDate"], m["Id"])):
        lead = lead_by_id.get(m.get("LeadId"))
        camp = camp_by_id.get(m.get("CampaignId"))
        if lead is None or camp is None or camp["Id"] not in form_of_campaign:
            first_member.add(m.get("LeadId"))
            continue
        first = m["LeadId"] not in first_member
        first_member.add(m["LeadId"])
        at = _at(lead["CreatedDate"]) if first else _at(m["CreatedDate"])
        out.submissions[form_of_campaign[camp["Id"]]].append(_submission(lead, camp, at, m["Id"]))
    for lead in leads:
        if lead.get("LeadSource") == "Web" and lead["Id"] not in first_member:
            out.submissions[contact_us].append(_submission(lead, None, _at(lead["CreatedDate"]), "web"))
    for subs in out.submissions.values():  # newest first, as HubSpot lists a form's submissions
        subs.sort(key=lambda s: (s["submittedAt"], s["conversionId"]), reverse=True)
    return out


def _form(fid: str, name: str, created: dt.datetime) -> dict:
    return {"id": fid, "name": name, "formType": "hubspot", "createdAt": hs_time(created),
            "updatedAt": hs_time(created), "archived": False}


def _submission(lead: dict, camp: dict | None, at: dt.datetime, key: str) -> dict:
    values = [{"name": "email", "value": lead["Email"]}, {"name": "firstname", "value": lead.get("FirstName") or ""},
              {"name": "lastname", "value": lead.get("LastName") or ""},
              {"name": "company", "value": lead.get("Company") or ""}]
    page = "https://ltc-sandbox.example.com/contact"
    if camp is not None:
        values.append({"name": "sfcampaignid", "value": camp["Id"]})
        page = f"https://ltc-sandbox.example.com/lp/{_uid('page', camp['Id'])[:8]}"
    return {"conversionId": _uid("submission", f"{lead['Id']}:{key}"),
            "submittedAt": int(at.timestamp() * 1000), "values": values, "pageUrl": page}


def _contact(cid: int, lead: dict, opps: dict[str, dict]) -> dict:
    created = _at(lead["CreatedDate"])
    status = lead.get("Status")
    entered: dict[str, dt.datetime] = {"lead": created}
    if status != "Open - Not Contacted" or lead.get("IsConverted"):
        entered["marketingqualifiedlead"] = created + dt.timedelta(hours=1)
    if status == "Qualified":
        entered["salesqualifiedlead"] = _at(lead["LastModifiedDate"])
    if lead.get("IsConverted"):
        converted = _day_at(lead.get("ConvertedDate"), 9) or _at(lead["LastModifiedDate"])
        entered["salesqualifiedlead"] = converted
        entered["opportunity"] = converted + dt.timedelta(minutes=1)
        opp = opps.get(lead.get("ConvertedOpportunityId") or "")
        if opp and opp.get("IsWon"):
            entered["customer"] = _day_at(opp.get("CloseDate"), 12)
    # keep the stages in order in time, one second apart at least
    last = None
    for stage in STAGES:
        if stage in entered:
            if last is not None and entered[stage] <= last:
                entered[stage] = last + dt.timedelta(seconds=1)
            last = entered[stage]
    current = [s for s in STAGES if s in entered][-1]
    updated = max([_at(lead["LastModifiedDate"]), *entered.values()])
    props = {
        "email": lead["Email"], "firstname": lead.get("FirstName"), "lastname": lead.get("LastName"),
        "company": lead.get("Company"), "country": lead.get("Country"),
        "hs_analytics_source": ANALYTICS_SOURCE.get(lead.get("LeadSource"), "OTHER"),
        "salesforceleadid": lead["Id"], "lifecyclestage": current,
        "createdate": hs_time(created), "lastmodifieddate": hs_time(updated),
    }
    for stage in STAGES:
        props[f"hs_v2_date_entered_{stage}"] = hs_time(entered[stage]) if stage in entered else None
    history = [{"value": s, "timestamp": hs_time(entered[s]), "sourceType": "CRM_UI" if s != "lead" else "FORM",
                "sourceId": None} for s in STAGES if s in entered]
    return {"id": str(cid), "properties": props, "propertiesWithHistory": {"lifecyclestage": history[::-1]},
            "createdAt": hs_time(created), "updatedAt": hs_time(updated), "archived": False}


def write_hubspot(sandbox_dir: Path) -> dict[str, int]:
    """Write the derived data to `<sandbox>/marketing/hubspot/*.json` (for inspection or another
    tool; the fake derives it itself and does not need these files). Returns the counts."""
    data = derive(sandbox_dir)
    folder = Path(sandbox_dir) / "marketing" / "hubspot"
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in (("campaigns", data.campaigns), ("contacts", data.contacts), ("forms", data.forms),
                        ("form_submissions", data.submissions)):
        (folder / f"{name}.json").write_text(json.dumps(value, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return data.counts()
