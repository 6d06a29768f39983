"""The Salesforce connector's error types, in a module that imports nothing.

Why apart from `client.py` and `source.py`: `run_ingest` catches them for every system, and
importing them from there pulled in simple_salesforce (0.7 s measured) on every ERP, finance and
marketing run as well.
"""


class SalesforceConfigError(ValueError):
    """Salesforce settings are missing or incomplete; the message says which variable to set."""


class SalesforceLimitError(RuntimeError):
    """The org's API request limit is exhausted (403 REQUEST_LIMIT_EXCEEDED) or the requests left
    fell below the configured reserve (`LTC_SF_API_RESERVE_PCT`)."""


class SalesforceExtractError(RuntimeError):
    """Salesforce refused a describe or query; the message carries its errorCode."""


class SalesforceValueError(SalesforceExtractError):
    """A record's value does not fit its field's describe type (a changed type: text where a number,
    date or boolean belongs). Raised while extracting, so nothing of the run lands and no cursor
    moves: the same window is read again once the source is fixed, never a silent NULL."""


def changed_type(table: str, record_id: object, column: str, value: object, expected: object) -> SalesforceValueError:
    """The refusal of one value, naming where it is and what to do (checklist #8: loud, lossless)."""
    return SalesforceValueError(
        f"{table} id {record_id}: column {column} = {value!r} is not a {expected} (the field's type changed, "
        "or the record holds a bad value); refused, nothing of this run landed and the cursors are "
        "unchanged: fix the value in Salesforce (or, if the field's type changed for good, the column and "
        "the dbt staging model that reads it), then re-run: the next run reads the same window again")
