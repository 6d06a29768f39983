"""The marketing REST API (HubSpot v3 shapes), read through dlt's declarative `rest_api` source.

Why `rest_api` rather than hand-written paging: the API is plain JSON lists with a cursor, which is
exactly what the declarative source does (bearer auth, `paging.next.after` cursor paging, retries on
429/5xx honouring `Retry-After` through dlt's requests helper, incremental cursors kept in the
warehouse). We only add a `map` step per resource that flattens HubSpot's `properties` envelope so
the raw tables have one column per property.

Tables (all in `raw_marketing`, merged on their key):
- `hubspot_campaigns` (`id`): incremental on `updatedAt`;
- `hubspot_contacts` (`id`): incremental on `updatedAt`; properties as columns (`email`,
  `salesforceleadid` = the Salesforce Lead Id, `lifecyclestage`, `hs_v2_date_entered_<stage>`, ...)
  and the stage history (`propertiesWithHistory.lifecyclestage`) as the nested table
  `hubspot_contacts__lifecyclestage_history` (`value`, `timestamp`, `source_type`), replaced with
  its contact on every merge;
- `hubspot_forms` (`id`): incremental on `updatedAt`;
- `hubspot_form_submissions` (`conversion_id`, with `form_id`, `submitted_at` and the submitted
  values as columns): incremental on `submittedAt` (append-only; the cursor is the newest
  submission over all forms, so a submission back-dated below it would be missed).

HubSpot's list endpoints cannot filter on `updatedAt` (only the search endpoint can, and it caps
at 10,000 results), so the incremental cursor filters client side: every run pages through the
list but lands only rows changed since the last run (at or after the saved `updatedAt`; dlt
deduplicates the boundary).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from connectors.values import MONEY

CAMPAIGN_PROPERTIES = ("hs_name", "hs_start_date", "hs_end_date", "hs_campaign_status", "hs_currency_code",
                       "hs_budget_items_sum_amount", "hs_campaign_type", "salesforce_campaign_id")
LIFECYCLE_STAGES = ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
CONTACT_PROPERTIES = ("email", "firstname", "lastname", "company", "country", "hs_analytics_source",
                      "salesforceleadid", "lifecyclestage", "createdate", "lastmodifieddate",
                      *(f"hs_v2_date_entered_{s}" for s in LIFECYCLE_STAGES))
TABLES = ("hubspot_campaigns", "hubspot_contacts", "hubspot_contacts__lifecyclestage_history",
          "hubspot_forms", "hubspot_form_submissions")
# nested tables land with their parent resource
PARENT = {"hubspot_contacts__lifecyclestage_history": "hubspot_contacts"}
EPOCH = "1970-01-01T00:00:00.000Z"
EPOCH_DT = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
PAGINATOR = {"type": "cursor", "cursor_path": "paging.next.after", "cursor_param": "after"}


def _ts() -> dict:
    # a fresh dict per column: dlt writes the column name into the hint it is given
    return {"data_type": "timestamp", "timezone": True}


@dataclass(frozen=True)
class HubSpotApi:
    url: str
    token: str = field(repr=False)
    page_size: int = 100


def _flatten(item: dict) -> dict:
    """`{"id", "properties": {...}, ...}` → one flat row (properties as columns)."""
    row = {k: v for k, v in item.items() if k not in ("properties", "propertiesWithHistory")}
    for name, value in (item.get("properties") or {}).items():
        row[name] = value if value != "" else None
    history = (item.get("propertiesWithHistory") or {}).get("lifecyclestage")
    if history is not None:
        row["lifecyclestage_history"] = [
            {"value": h.get("value"), "timestamp": h.get("timestamp"), "source_type": h.get("sourceType")}
            for h in history
        ]
    return row


def _submission(item: dict) -> dict:
    row = {"conversion_id": item.get("conversionId"), "form_id": item.get("_hubspot_forms_id"),
           "page_url": item.get("pageUrl"),
           # keeps the API's key (dlt names the column `submitted_at`): for a child resource dlt runs
           # this map before the incremental step, which reads the cursor from this key
           "submittedAt": dt.datetime.fromtimestamp(item["submittedAt"] / 1000, dt.timezone.utc)}
    for v in item.get("values") or []:
        row[v["name"]] = v.get("value")
    return row


def rest_api_config(api: HubSpotApi) -> dict:
    """The declarative `rest_api` configuration (also what the docs show)."""
    page = {"limit": api.page_size}
    return {
        "client": {
            "base_url": api.url.rstrip("/") + "/",
            "auth": {"type": "bearer", "token": api.token},
        },
        "resource_defaults": {
            "write_disposition": "merge",
            "primary_key": "id",
            # a paginator per endpoint (a dict here makes one instance per resource: a client-level
            # instance shared by a parent and its child resource stopped the child after one page)
            "endpoint": {"data_selector": "results", "paginator": PAGINATOR},
        },
        # column hints use the API's names (`updatedAt`): dlt normalises them like the data; a hint
        # already in snake case collided with the incremental cursor's column and logged a warning
        "resources": [
            {
                "name": "hubspot_campaigns",
                "endpoint": {"path": "marketing/v3/campaigns",
                             "params": {**page, "properties": ",".join(CAMPAIGN_PROPERTIES)},
                             "incremental": {"cursor_path": "updatedAt", "initial_value": EPOCH}},
                "columns": {"createdAt": _ts(), "updatedAt": _ts(), "hs_start_date": {"data_type": "date"},
                            "hs_end_date": {"data_type": "date"}, "hs_budget_items_sum_amount": dict(MONEY)},
                "processing_steps": [{"map": _flatten}],
            },
            {
                "name": "hubspot_contacts",
                "endpoint": {"path": "crm/v3/objects/contacts",
                             "params": {**page, "properties": ",".join(CONTACT_PROPERTIES),
                                        "propertiesWithHistory": "lifecyclestage", "archived": "false"},
                             "incremental": {"cursor_path": "updatedAt", "initial_value": EPOCH}},
                "columns": {"createdAt": _ts(), "updatedAt": _ts(), "createdate": _ts(), "lastmodifieddate": _ts(),
                            **{f"hs_v2_date_entered_{s}": _ts() for s in LIFECYCLE_STAGES}},
                "processing_steps": [{"map": _flatten}],
            },
            {
                "name": "hubspot_forms",
                "endpoint": {"path": "marketing/v3/forms", "params": page,
                             "incremental": {"cursor_path": "updatedAt", "initial_value": EPOCH}},
                "columns": {"createdAt": _ts(), "updatedAt": _ts()},
            },
            {
                "name": "hubspot_form_submissions",
                "primary_key": "conversion_id",
                "endpoint": {"path": "form-integrations/v1/submissions/forms/{resources.hubspot_forms.id}",
                             "params": {"limit": 50},
                             # append-only: the newest submission seen over all forms
                             "incremental": {"cursor_path": "submittedAt", "initial_value": EPOCH_DT}},
                "include_from_parent": ["id"],
                "columns": {"submittedAt": _ts()},
                "processing_steps": [{"map": _submission}],
            },
        ],
    }


def hubspot_resources(api: HubSpotApi, notes: list[str]) -> list:
    from dlt.sources.rest_api import rest_api_resources

    notes.append(f"marketing api: {api.url}")
    return rest_api_resources(rest_api_config(api))
