"""The quota guard on `Sforce-Limit-Info` and the retry bound of the shared transport."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from simple_salesforce.api import Usage

from connectors._http import default_retry
from connectors.salesforce.source import QuotaGuard, SalesforceLimitError
from connectors.settings import Settings


def _client(used: int, total: int):
    return SimpleNamespace(api_usage={"api-usage": Usage(used, total)})


def test_guard_is_quiet_until_the_header_was_seen_and_above_the_reserve():
    guard = QuotaGuard(10)
    guard.check(SimpleNamespace(api_usage={}), "Lead")
    guard.check(_client(13_500, 15_000), "Lead")  # exactly the reserve left: still allowed
    assert guard.last == (13_500, 15_000)


def test_guard_stops_below_the_reserve_with_a_clear_message():
    with pytest.raises(SalesforceLimitError, match=r"1499 of 15000 daily requests left, below the 10% reserve"):
        QuotaGuard(10).check(_client(13_501, 15_000), "Lead")
    QuotaGuard(0).check(_client(15_000, 15_000), "Lead")  # reserve 0: only a 403 stops the run


def test_reserve_setting_defaults_to_ten_percent(ltc_home, monkeypatch):
    assert Settings.from_env().salesforce_api_reserve_pct == 10.0
    monkeypatch.setenv("LTC_SF_API_RESERVE_PCT", "2.5")
    assert Settings.from_env().salesforce_api_reserve_pct == 2.5


def test_default_retry_is_bounded_with_jittered_exponential_backoff():
    retry = default_retry()
    assert retry.total == 5 and retry.backoff_factor == 0.5 and retry.backoff_jitter > 0
    assert retry.backoff_max == 30.0 and 503 in retry.status_forcelist and "POST" not in retry.allowed_methods
