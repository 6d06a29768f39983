"""Flat-file readers keep exact types: Decimal money and rates, real dates, ints — never floats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connectors.finance.fx import read_fx_csv
from connectors.values import FileFormatError
from connectors.marketing.source import read_adspend_csv


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_fx_csv_is_read_as_decimal_and_date(tmp_path):
    path = _write(tmp_path, "fx_rates.csv", "rate_date,currency,reporting_currency,rate\n2025-01-02,EUR,USD,1.035120\n")
    (row,) = read_fx_csv(path)
    assert row == {"rate_date": dt.date(2025, 1, 2), "currency": "EUR", "reporting_currency": "USD", "rate": Decimal("1.035120")}
    assert isinstance(row["rate"], Decimal)


@pytest.mark.parametrize(
    "line, reason",
    [
        ("2025-01-02,EUR,USD,1.0351234", "at most 6 decimals"),
        ("2025-13-02,EUR,USD,1.0", "rate_date"),
        ("2025-01-02,EURO,USD,1.0", "currency"),
        ("2025-01-02,EUR,USD,-1", "positive"),
    ],
)
def test_bad_fx_rows_reject_the_file(tmp_path, line, reason):
    path = _write(tmp_path, "fx_rates.csv", f"rate_date,currency,reporting_currency,rate\n{line}\n")
    with pytest.raises(FileFormatError, match=reason):
        read_fx_csv(path)


def test_missing_column_is_reported(tmp_path):
    path = _write(tmp_path, "fx_rates.csv", "rate_date,currency,rate\n2025-01-02,EUR,1.0\n")
    with pytest.raises(FileFormatError, match="reporting_currency"):
        read_fx_csv(path)


def test_adspend_types(tmp_path):
    path = _write(
        tmp_path,
        "adspend_2025-01.csv",
        "date,campaign_id,campaign_name,channel,impressions,clicks,spend,currency\n"
        "2025-01-05,701000000000000001,Brand,Paid Search,1200,34,150.10,USD\n",
    )
    (row,) = read_adspend_csv(path)
    assert row["spend"] == Decimal("150.10") and isinstance(row["spend"], Decimal)
    assert row["impressions"] == 1200 and isinstance(row["clicks"], int)
    assert row["date"] == dt.date(2025, 1, 5)


def test_adspend_float_noise_is_rejected_not_rounded(tmp_path):
    path = _write(
        tmp_path,
        "adspend_2025-01.csv",
        "date,campaign_id,campaign_name,channel,impressions,clicks,spend,currency\n"
        "2025-01-05,701x,Brand,Paid Search,1200,34,150.1000000001,USD\n",
    )
    with pytest.raises(FileFormatError, match="spend"):
        read_adspend_csv(path)
