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
