"""The sandbox org's Salesforce objects and their wire format, in one place.

The generator writes records with exactly these fields and the fake Salesforce serves `describe`
from the same table, so what the connectors discover through describe is what they get from a
query. The wire helpers (Ids with a real checksum, REST datetime strings, JSON with exact money)
live here for the same reason: generator and fake must agree on them byte for byte.

Not every object has the five common system fields, and that is deliberate, because connectors
must cope with it in a real org: immutable field-history rows (`OpportunityFieldHistory`) have no
LastModifiedDate and no SystemModstamp (the cursor is CreatedDate), and the currency setup
objects (`CurrencyType`, `DatedConversionRate`) have no IsDeleted (they cannot be soft-deleted).
`SObject.has_is_deleted` and `SObject.cursor_field` say what an object has.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

API_VERSION = "59.0"

# ----------------------------------------------------------------------------- picklists

LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Qualified",
    "Closed - Converted",
    "Closed - Not Converted",
)
OPEN_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review")
STAGES = OPEN_STAGES + ("Closed Won", "Closed Lost")
# Standard Salesforce defaults: probability and forecast category follow the stage.
STAGE_PROBABILITY = {
    "Prospecting": 10,
    "Qualification": 20,
    "Needs Analysis": 40,
    "Proposal/Price Quote": 60,
    "Negotiation/Review": 80,
    "Closed Won": 100,
    "Closed Lost": 0,
}
# Opportunity.ForecastCategoryName holds the labels ...
STAGE_FORECAST_NAME = {
    "Prospecting": "Pipeline",
    "Qualification": "Pipeline",
    "Needs Analysis": "Pipeline",
    "Proposal/Price Quote": "Best Case",
    "Negotiation/Review": "Commit",
    "Closed Won": "Closed",
    "Closed Lost": "Omitted",
}
# ... while OpportunityHistory.ForecastCategory holds the API values, as in a real org.
STAGE_FORECAST_CATEGORY = {
    "Prospecting": "Pipeline",
    "Qualification": "Pipeline",
    "Needs Analysis": "Pipeline",
    "Proposal/Price Quote": "BestCase",
    "Negotiation/Review": "Forecast",
    "Closed Won": "Closed",
    "Closed Lost": "Omitted",
}
LEAD_SOURCES = ("Web", "Paid Search", "Social", "Email", "Webinar", "Trade Show", "Partner Referral")
CAMPAIGN_TYPES = ("Paid Search", "Social", "Email", "Webinar", "Trade Show")
CURRENCIES = ("USD", "EUR", "GBP")
REGIONS = ("NA", "EMEA", "UK")
INDUSTRIES = (
    "Technology",
    "Financial Services",
    "Manufacturing",
    "Healthcare",
    "Retail",
    "Media",
    "Logistics",
    "Energy",
)

# ----------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # describe type: id, string, picklist, reference, boolean, currency, ...
    reference_to: tuple[str, ...] = ()
    picklist: tuple[str, ...] = ()
    compound: str | None = None  # compoundFieldName of a component (BillingCity -> BillingAddress)
    custom: bool = False
    auto_number: bool = False
    # A compound parent (type address) is served by the fake but never stored: it is derived
    # from its components, like in a real org.
    components: tuple[str, ...] = ()
    scale: int | None = None  # decimals in describe; None: 2 for currency/double/percent, else 0


@dataclass(frozen=True)
class SObject:
    name: str
    key_prefix: str
    label: str
    fields: tuple[Field, ...]
    custom: bool = False  # a custom object (`Name__c`), e.g. added at runtime by FakeSalesforce.add_object
    createable: bool = True  # describe's object-level permissions (history rows are read-only)
    updateable: bool = True
    deletable: bool = True
    _by_lower: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_lower.update({f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> Field | None:
        """Case-insensitive lookup, as SOQL is."""
        return self._by_lower.get(name.lower())

    @property
    def stored_fields(self) -> tuple[str, ...]:
        """The fields a record on disk carries (compound parents are derived)."""
        return tuple(f.name for f in self.fields if f.type != "address")

    @property
    def has_is_deleted(self) -> bool:
        """False for setup objects (CurrencyType, DatedConversionRate): nothing to soft-delete."""
        return self.field("IsDeleted") is not None

    @property
    def cursor_field(self) -> str:
        """The change cursor a connector would use: SystemModstamp › LastModifiedDate › CreatedDate."""
        for name in ("SystemModstamp", "LastModifiedDate", "CreatedDate"):
            if self.field(name) is not None:
                return name
        raise ValueError(f"{self.name} has no datetime cursor field")


def _common(*, is_deleted: bool = True) -> tuple[Field, ...]:
    return (
        Field("Id", "id"),
        *((Field("IsDeleted", "boolean"),) if is_deleted else ()),
        Field("CreatedDate", "datetime"),
        Field("LastModifiedDate", "datetime"),
        Field("SystemModstamp", "datetime"),
    )


def _ref(name: str, *targets: str, custom: bool = False) -> Field:
    return Field(name, "reference", reference_to=targets, custom=custom)


def _pick(name: str, values: tuple[str, ...]) -> Field:
    return Field(name, "picklist", picklist=values)


_CCY = _pick("CurrencyIsoCode", CURRENCIES)

PRODUCT_FAMILIES = ("Software", "Professional Services", "Support", "Training")
QUOTE_STATUSES = ("Draft", "Presented", "Accepted", "Denied")
# OpportunityFieldHistory.Field is a picklist of the tracked fields' API names (plus `created`).
HISTORY_TRACKED_FIELDS = ("Amount", "CloseDate", "StageName", "created")
# OpportunityFieldHistory.DataType: the tracked field's history data type. [unverified] spellings as seen
# in exports: picklists are "DynamicEnum", money "Currency", dates "DateOnly", text "Text".
HISTORY_DATA_TYPES = ("Currency", "DateOnly", "DynamicEnum", "Text")

SCHEMAS: dict[str, SObject] = {
    o.name: o
    for o in (
        SObject("User", "005", "User", _common() + (
            Field("Username", "string"),
            Field("Name", "string"),
            Field("Email", "email"),
            Field("IsActive", "boolean"),
            Field("Department", "string"),
        )),
        SObject("Campaign", "701", "Campaign", _common() + (
            Field("Name", "string"),
            _pick("Type", CAMPAIGN_TYPES),
            _pick("Status", ("Planned", "In Progress", "Completed", "Aborted")),
            Field("StartDate", "date"),
            Field("EndDate", "date"),
            Field("BudgetedCost", "currency"),
            Field("ActualCost", "currency"),
            _CCY,
            Field("IsActive", "boolean"),
            _ref("OwnerId", "User"),
        )),
        SObject("Lead", "00Q", "Lead", _common() + (
            Field("FirstName", "string", compound="Name"),
            Field("LastName", "string", compound="Name"),
            Field("Name", "string"),
            Field("Company", "string"),
            Field("Email", "email"),
            Field("Country", "string"),
            _pick("LeadSource", LEAD_SOURCES),
            _pick("Status", LEAD_STATUSES),
            _ref("OwnerId", "Group", "User"),
            _pick("Rating", ("Hot", "Warm", "Cold")),
            Field("IsConverted", "boolean"),
            Field("ConvertedDate", "date"),
            _ref("ConvertedAccountId", "Account"),
            _ref("ConvertedContactId", "Contact"),
            _ref("ConvertedOpportunityId", "Opportunity"),
        )),
        SObject("CampaignMember", "00v", "Campaign Member", _common() + (
            _ref("CampaignId", "Campaign"),
            _ref("LeadId", "Lead"),
            _ref("ContactId", "Contact"),
            _pick("Status", ("Sent", "Responded")),
            Field("HasResponded", "boolean"),
            Field("FirstRespondedDate", "date"),
        )),
        SObject("Account", "001", "Account", _common() + (
            Field("Name", "string"),
            _pick("Type", ("Prospect", "Customer")),
            _pick("Industry", INDUSTRIES),
            Field("BillingCity", "string", compound="BillingAddress"),
            Field("BillingCountry", "string", compound="BillingAddress"),
            Field("BillingAddress", "address", components=("BillingCity", "BillingCountry")),
            _ref("OwnerId", "User"),
            Field("AccountNumber", "string"),
            _CCY,
        )),
        SObject("Contact", "003", "Contact", _common() + (
            _ref("AccountId", "Account"),
            Field("FirstName", "string", compound="Name"),
            Field("LastName", "string", compound="Name"),
            Field("Name", "string"),
            Field("Email", "email"),
            _ref("OwnerId", "User"),
        )),
        SObject("Opportunity", "006", "Opportunity", _common() + (
            _ref("AccountId", "Account"),
            Field("Name", "string"),
            _pick("StageName", STAGES),
            Field("Amount", "currency"),
            _CCY,
            Field("Probability", "percent"),
            _pick("ForecastCategoryName", ("Pipeline", "Best Case", "Commit", "Closed", "Omitted")),
            Field("CloseDate", "date"),
            Field("IsClosed", "boolean"),
            Field("IsWon", "boolean"),
            _pick("LeadSource", LEAD_SOURCES),
            _ref("CampaignId", "Campaign"),
            _ref("OwnerId", "User"),
            _pick("Type", ("New Customer", "Existing Customer - Upgrade")),
        )),
        SObject("Product2", "01t", "Product", _common() + (
            Field("Name", "string"),
            Field("ProductCode", "string"),
            _pick("Family", PRODUCT_FAMILIES),
            Field("IsActive", "boolean"),
        )),
        SObject("OpportunityLineItem", "00k", "Opportunity Product", _common() + (
            _ref("OpportunityId", "Opportunity"),
            _ref("Product2Id", "Product2"),
            Field("Quantity", "double"),
            Field("UnitPrice", "currency"),
            Field("TotalPrice", "currency"),
            Field("ServiceDate", "date"),
            _CCY,
        )),
        SObject("Quote", "0Q0", "Quote", _common() + (
            Field("Name", "string"),
            _ref("OpportunityId", "Opportunity"),
            _ref("AccountId", "Account"),
            _pick("Status", QUOTE_STATUSES),
            Field("ExpirationDate", "date"),
            Field("GrandTotal", "currency"),
            _CCY,
            Field("QuoteNumber", "string", auto_number=True),
        )),
        SObject("OpportunityHistory", "008", "Opportunity History", _common() + (
            _ref("OpportunityId", "Opportunity"),
            _pick("StageName", STAGES),
            Field("Amount", "currency"),
            Field("Probability", "percent"),
            _pick("ForecastCategory", ("Pipeline", "BestCase", "Forecast", "Closed", "Omitted")),
            Field("CloseDate", "date"),
            _ref("CreatedById", "User"),
            _CCY,
        )),
        # Immutable, append-only rows: no LastModifiedDate, no SystemModstamp (cursor: CreatedDate).
        SObject("OpportunityFieldHistory", "017", "Opportunity Field History", (
            Field("Id", "id"),
            Field("IsDeleted", "boolean"),
            Field("CreatedDate", "datetime"),
            _ref("CreatedById", "User"),
            _ref("OpportunityId", "Opportunity"),
            _pick("Field", HISTORY_TRACKED_FIELDS),
            _pick("DataType", HISTORY_DATA_TYPES),
            Field("OldValue", "anyType"),
            Field("NewValue", "anyType"),
        ), createable=False, updateable=False, deletable=False),
        SObject("Contract", "800", "Contract", _common() + (
            _ref("AccountId", "Account"),
            Field("ContractNumber", "string", auto_number=True),
            _pick("Status", ("Draft", "Activated")),
            Field("StartDate", "date"),
            Field("EndDate", "date"),
            Field("ContractTerm", "int"),
            Field("CustomerSignedDate", "date"),
            Field("ActivatedDate", "datetime"),
            _CCY,
            _ref("Opportunity__c", "Opportunity", custom=True),
            Field("Contract_Value__c", "currency", custom=True),
        )),
        SObject("Order", "801", "Order", _common() + (
            _ref("AccountId", "Account"),
            _ref("ContractId", "Contract"),
            _ref("OpportunityId", "Opportunity"),
            Field("OrderNumber", "string", auto_number=True),
            _pick("Status", ("Draft", "Activated")),
            Field("EffectiveDate", "date"),
            Field("TotalAmount", "currency"),
            _CCY,
        )),
        # Currency setup objects (multi-currency orgs only): no IsDeleted. Rates are "units of this
        # currency per 1 unit of the corporate currency" (USD here), see generator._currency_records.
        # Key prefixes: DatedConversionRate 04w; CurrencyType 02B [unverified].
        SObject("CurrencyType", "02B", "Currency Type", _common(is_deleted=False) + (
            _pick("IsoCode", CURRENCIES),
            Field("ConversionRate", "double", scale=6),
            Field("DecimalPlaces", "int"),
            Field("IsActive", "boolean"),
            Field("IsCorporate", "boolean"),
        ), deletable=False),
        SObject("DatedConversionRate", "04w", "Dated Conversion Rate", _common(is_deleted=False) + (
            _pick("IsoCode", CURRENCIES),
            Field("ConversionRate", "double", scale=6),
            Field("StartDate", "date"),
            Field("NextStartDate", "date"),
        )),
    )
}
OBJECT_ORDER = tuple(SCHEMAS)  # dependency order: parents before children
NUMERIC_TYPES = frozenset({"currency", "double", "percent", "int", "long"})
# Only in a multi-currency org: a single-currency org has neither these objects nor CurrencyIsoCode.
CURRENCY_OBJECTS = ("CurrencyType", "DatedConversionRate")
# Describe types a SOQL query can neither filter nor sort on (compound address, field-history values).
UNFILTERABLE_TYPES = frozenset({"address", "anyType"})

# ----------------------------------------------------------------------------- describe

_SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "string": "xsd:string", "picklist": "xsd:string",
    "email": "xsd:string", "boolean": "xsd:boolean", "currency": "xsd:double",
    "double": "xsd:double", "percent": "xsd:double", "int": "xsd:int", "date": "xsd:date",
    "datetime": "xsd:dateTime", "address": "urn:address", "anyType": "xsd:anyType",
    "textarea": "xsd:string", "url": "xsd:string", "phone": "xsd:string", "long": "xsd:long",
}
_SYSTEM_FIELDS = {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"}


def _label(name: str) -> str:
    base = name.removesuffix("__c").removesuffix("Id") if name != "Id" else name
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base).replace("_", " ") or name


def describe_field(f: Field) -> dict[str, Any]:
    numeric = f.type in {"currency", "double", "percent"}
    text = f.type in {"string", "picklist", "email", "id", "reference", "textarea", "url", "phone"}
    anytype = f.type == "anyType"  # field-history OldValue/NewValue: string, number or date
    system = f.name in _SYSTEM_FIELDS or f.auto_number
    relationship = None
    if f.type == "reference":
        relationship = f.name[:-3] + "__r" if f.name.endswith("__c") else f.name.removesuffix("Id") or None
    return {
        "name": f.name,
        "label": _label(f.name),
        "type": f.type,
        "soapType": _SOAP_TYPES[f.type],
        "length": 18 if f.type in {"id", "reference"} else (255 if text or anytype else 0),
        "precision": 18 if numeric else 0,
        "scale": f.scale if f.scale is not None else (2 if numeric else 0),
        "digits": 9 if f.type == "int" else 0,
        "byteLength": 18 if f.type in {"id", "reference"} else (765 if text or anytype else 0),
        "nillable": f.name not in {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"},
        "createable": not system and f.type != "address" and not anytype,
        "updateable": not system and f.type != "address" and not anytype,
        "filterable": f.type not in UNFILTERABLE_TYPES,
        "sortable": f.type not in UNFILTERABLE_TYPES,
        "groupable": f.type not in {"address", "anyType", "currency", "double", "percent", "datetime"},
        "calculated": False,
        "calculatedFormula": None,
        "compoundFieldName": f.compound,
        "referenceTo": list(f.reference_to),
        "relationshipName": relationship,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v} for v in f.picklist
        ],
        "defaultValue": None,
        "externalId": False,
        "unique": False,
        "custom": f.custom,
        "autoNumber": f.auto_number,
    }


def _urls(obj: SObject, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def describe_global_entry(obj: SObject, version: str = API_VERSION) -> dict[str, Any]:
    return {
        "name": obj.name,
        "label": obj.label,
        "labelPlural": obj.label + "s",
        "keyPrefix": obj.key_prefix,
        "custom": obj.custom,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "createable": obj.createable,
        "updateable": obj.updateable,
        "deletable": obj.deletable,
        "urls": _urls(obj, version),
    }


def describe_sobject(obj: SObject, version: str = API_VERSION) -> dict[str, Any]:
    return {
        **describe_global_entry(obj, version),
        "undeletable": obj.has_is_deleted and obj.deletable,
        "fields": [describe_field(f) for f in obj.fields],
        "childRelationships": [],
        "recordTypeInfos": [],
    }


# ----------------------------------------------------------------------------- wire format

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


_B62_PAIRS = [a + b for a in _B62 for b in _B62]  # two digits per divmod: half the Python steps


def _base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 3844)
        out = _B62_PAIRS[r] + out
    return out.lstrip("0").rjust(width, "0")


# Each 5-character chunk gives a 5-bit number, bit i set when character i is an upper-case
# letter. Translating to "1"/"0" and reading the reversed chunk in base 2 computes that in C
# (a million synthetic Ids for the Bulk benchmark; same result as summing the bits).
_UPPER_BITS = str.maketrans({c: ("1" if "A" <= c <= "Z" else "0") for c in _B62})


def id_checksum(id15: str) -> str:
    """The 3-character case-safe suffix Salesforce appends to a 15-character Id."""
    bits = id15.translate(_UPPER_BITS)
    return _SUFFIX[int(bits[4::-1], 2)] + _SUFFIX[int(bits[9:4:-1], 2)] + _SUFFIX[int(bits[14:9:-1], 2)]


def sf_id(prefix: str, n: int) -> str:
    """An 18-character Id: key prefix, pod `5g0`, a base-62 sequence number and the checksum."""
    id15 = prefix + "5g0" + _base62(n, 9)
    return id15 + id_checksum(id15)


def format_datetime(value: dt.datetime) -> str:
    """REST datetime: `YYYY-MM-DDTHH:MM:SS.000+0000` (UTC; naive values are taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "+0000"


_DT_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_datetime(text: str) -> dt.datetime:
    """Parse the SOQL/REST datetime forms (`...Z`, `.000+0000`, `+00:00`) into an aware UTC datetime."""
    m = _DT_RE.match(text)
    if not m:
        raise ValueError(f"not a datetime: {text!r}")
    date, hh, mm, ss, frac, tz = m.groups()
    tz = tz or "Z"
    tz = "+00:00" if tz == "Z" else (tz if ":" in tz else f"{tz[:3]}:{tz[3:]}")
    frac = (frac or ".0")[1:].ljust(6, "0")
    return dt.datetime.fromisoformat(f"{date}T{hh}:{mm}:{ss}.{frac}{tz}").astimezone(dt.timezone.utc)


def canonical_datetime(text: str) -> str:
    """Any accepted datetime string → the REST form, so datetimes compare as strings."""
    return format_datetime(parse_datetime(text))


# Money must stay exact on the wire: Decimals are written as JSON numbers from their own digits
# (never through float). The encoder marks them, and one regex pass unquotes the marks.
_MARK = "\u0001"
_MARKED = re.compile(r'"\\u0001(-?[0-9]+(?:\.[0-9]+)?)\\u0001"')


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_MARK}{value}{_MARK}"
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """`json.dumps` that writes Decimal as an exact JSON number."""
    text = json.dumps(value, default=_default, sort_keys=sort_keys, ensure_ascii=False, separators=(",", ":"))
    return _MARKED.sub(r"\1", text) if "\\u0001" in text else text


def loads(text: str | bytes) -> Any:
    """`json.loads` keeping JSON numbers with a fraction exact (Decimal)."""
    return json.loads(text, parse_float=Decimal)
