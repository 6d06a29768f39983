"""GX suites as code: one per raw landing table, one per report dataset over the marts.

`SUITES_BY_SYSTEM[system][table]` is the `SuiteSpec` for ``raw_<system>.<table>``; the suite it
builds is named ``raw_<system>__<table>``. `MART_SUITES[name]` is the `MartSuiteSpec` of a report
dataset (a query over schema `marts`); its suite is named ``marts__<name>``.
"""

from __future__ import annotations

from expectations.suites._common import SuiteSpec, suite_name
from expectations.suites.marts import MART_SUITES, MartSuiteSpec
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

__all__ = ["MART_SUITES", "SUITES_BY_SYSTEM", "MartSuiteSpec", "SuiteSpec", "suite_name"]
