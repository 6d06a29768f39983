"""GX suites on the raw landing tables, one module per source system.

`SUITES_BY_SYSTEM[system][table]` is the `SuiteSpec` for ``raw_<system>.<table>``; the suite it
builds is named ``raw_<system>__<table>``.
"""

from __future__ import annotations

from expectations.suites._common import SuiteSpec, suite_name
from expectations.suites.raw_erp import SUITES as ERP_SUITES
from expectations.suites.raw_finance import SUITES as FINANCE_SUITES
from expectations.suites.raw_marketing import SUITES as MARKETING_SUITES
from expectations.suites.raw_salesforce import SUITES as SALESFORCE_SUITES

SUITES_BY_SYSTEM: dict[str, dict[str, SuiteSpec]] = {
    "salesforce": SALESFORCE_SUITES,
    "erp": ERP_SUITES,
    "finance": FINANCE_SUITES,
    "marketing": MARKETING_SUITES,
}

__all__ = ["SUITES_BY_SYSTEM", "SuiteSpec", "suite_name"]
