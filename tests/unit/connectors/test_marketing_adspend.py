"""Ad-spend exports: the four shapes by header, Decimal money, and every kind of bad input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connectors.values import FileFormatError
from connectors.marketing.adspend import parse_adspend
from connectors.marketing.source import read_adspend_csv

GENERIC = "date,campaign_id,campaign_name,channel,impressions,clicks,spend,currency\n"
GOOGLE = (
    "Campaign report\n"
    '"January 1, 2025 - January 31, 2025"\n'
    "Day,Campaign ID,Campaign,Cost,Impressions,Clicks,Currency code\n"
    '2025-01-05,1234567890,Brand - NA,"1,234.56","12,000",340,USD\n'
    "2025-01-06,1234567890,Brand - NA,99.99,900,12,USD\n"
    "Total: Account,--,--,\"1,334.55\",\"12,900\",352,--\n"
)
META = (
    "Reporting starts,Reporting ends,Campaign name,Campaign ID,Amount spent (EUR),Impressions,Link clicks\n"
    "2025-02-01,2025-02-01,Finance Leaders EU,23851234567890123,45.10,3000,21\n"
    "2025-02-02,2025-02-02,Finance Leaders EU,23851234567890123,0,1200,\n"
)
LINKEDIN = (
    "Campaign Performance Report (in UTC)\n"
    "Report Start: 1/1/2025\n"
    "Report End: 1/31/2025\n"
    "\n"
    "Start Date (in UTC),Campaign ID,Campaign Name,Total Spent,Impressions,Clicks,Currency\n"
    "1/13/2025,612345678,NA Decision Makers,310.00,5100,44,USD\n"
)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_generic_shape_keeps_working(tmp_path):
    path = _write(tmp_path, "adspend_2025-01.csv",
                  GENERIC + "2025-01-05,701000000000000001,Brand,Paid Search,1200,34,150.10,usd\n")
    parsed = parse_adspend(path)
    assert parsed.platform == "generic" and not parsed.bad_rows
    (row,) = parsed.rows
    assert row["spend"] == Decimal("150.10") and isinstance(row["spend"], Decimal)
    assert row["currency"] == "USD" and row["channel"] == "Paid Search" and row["platform"] == "generic"
    assert read_adspend_csv(path) == parsed.rows


def test_google_ads_report_with_title_lines_totals_and_grouped_numbers(tmp_path):
    parsed = parse_adspend(_write(tmp_path, "whatever_name.csv", GOOGLE))
    assert parsed.platform == "google_ads" and not parsed.bad_rows
    first, second = parsed.rows  # the "Total:" row is not a campaign-day
    assert first == {"date": dt.date(2025, 1, 5), "platform": "google_ads", "campaign_id": "1234567890",
                     "campaign_name": "Brand - NA", "channel": "Paid Search", "impressions": 12000,
                     "clicks": 340, "spend": Decimal("1234.56"), "currency": "USD", "file_name": "whatever_name.csv"}
    assert second["spend"] == Decimal("99.99")


def test_meta_currency_comes_from_the_spend_header_and_extra_columns_land_as_text(tmp_path):
    parsed = parse_adspend(_write(tmp_path, "meta.csv", META))
    assert parsed.platform == "meta" and not parsed.bad_rows
    a, b = parsed.rows
    assert a["currency"] == "EUR" and a["spend"] == Decimal("45.10") and a["clicks"] == 21
    assert a["channel"] == "Social" and a["reporting_ends"] == "2025-02-01"  # extra column, evolved
    assert b["spend"] == Decimal("0.00") and b["clicks"] is None


def test_linkedin_dates_are_month_first(tmp_path):
    parsed = parse_adspend(_write(tmp_path, "li.csv", LINKEDIN))
    assert parsed.platform == "linkedin"
    (row,) = parsed.rows
    assert row["date"] == dt.date(2025, 1, 13) and row["spend"] == Decimal("310.00")


@pytest.mark.parametrize("line, reason", [
    ("2025-01-05,701a,A,Email,10,1,abc,USD", "spend='abc': not a number"),
    ("2025-01-05,701a,A,Email,10,1,-5.00,USD", "spend='-5.00': negative spend"),
    ("2025-01-05,701a,A,Email,10,1,25000000.00,USD", "absurd spend"),
    ("2025-01-05,701a,A,Email,10,1,150.1000000001,USD", "at most 2 decimals"),
    ("2025-01-05,701a,A,Email,10,1,5.00,XYZ", "currency='XYZ': unknown currency"),
    ("05/01/2025,701a,A,Email,10,1,5.00,USD", "date='05/01/2025': not a date in the form 2025-01-31"),
    ("2025-01-05,701a,A,Email,ten,1,5.00,USD", "impressions='ten': not a whole number"),
    ("2025-01-05,701a,A,Email,-1,1,5.00,USD", "negative count"),
    ("2025-01-05,701a,A,Email,10,50,5.00,USD", "more clicks (50) than impressions (10)"),
    ("2025-01-05,,A,Email,10,1,5.00,USD", "campaign_id is required"),
    ("2025-01-05,701a,A,Email,10,1,5.00", "7 cells, the header has 8"),
])
def test_a_bad_row_is_quarantined_with_file_and_line_and_the_good_rows_land(tmp_path, line, reason):
    path = _write(tmp_path, "adspend_2025-01.csv",
                  GENERIC + "2025-01-04,701a,A,Email,10,1,5.00,USD\n" + line + "\n2025-01-06,701a,A,Email,10,1,5.00,USD\n")
    parsed = parse_adspend(path)
    assert [r["date"].day for r in parsed.rows] == [4, 6]
    (bad,) = parsed.bad_rows
    assert bad["line"] == 3 and bad["reason"].startswith("adspend_2025-01.csv line 3: ")
    assert reason in bad["reason"]
    assert bad["raw"] == line.split(",")
    assert "1 row(s) quarantined (2 landed)" in parsed.summary()
    with pytest.raises(FileFormatError, match="line 3"):
        read_adspend_csv(path)  # the strict reader refuses the file


def test_wrong_date_format_for_the_platform_is_refused_not_guessed(tmp_path):
    text = LINKEDIN.replace("1/13/2025", "2025-01-13")
    parsed = parse_adspend(_write(tmp_path, "li.csv", text))
    assert not parsed.rows and "not a date in the form 1/31/2025" in parsed.bad_rows[0]["reason"]
    assert parsed.bad_rows[0]["line"] == 6  # counted from the top of the file, title lines included


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ("\n\n", "empty file"),
    (GENERIC, "header only"),
    ("date,campaign_id,campaign_name,channel,impressions,clicks,spend\n2025-01-05,7,A,E,1,1,1.00\n",
     "missing columns ['currency']"),
    ("Day,Campaign ID,Cost,Impressions\n2025-01-05,1,1.00,1\n", "missing columns ['Campaign', 'Clicks', 'Currency code']"),
    ("when,what,how much\n2025-01-05,a,1\n", "no known ad-spend header"),
    (GENERIC.strip() + ",spend\n", "duplicate columns ['spend']"),
    (GENERIC.strip() + ",Platform\n2025-01-05,7,A,E,1,1,1.00,USD,x\n", "would overwrite column 'platform'"),
    ("Reporting starts,Campaign ID,Campaign name,Amount spent (ZZZ),Impressions,Link clicks\n", "unknown currency"),
])
def test_a_file_that_cannot_be_read_is_refused_naming_the_file(tmp_path, text, message):
    path = _write(tmp_path, "adspend_2025-02.csv", text)
    with pytest.raises(FileFormatError) as info:
        parse_adspend(path)
    assert str(info.value).startswith("adspend_2025-02.csv") and message in str(info.value)


def test_not_utf8_is_a_file_error(tmp_path):
    path = tmp_path / "adspend_2025-03.csv"
    path.write_bytes(GENERIC.encode() + "2025-01-05,7,Caf\xe9,E,1,1,1.00,EUR\n".encode("latin-1"))
    with pytest.raises(FileFormatError, match="not UTF-8"):
        parse_adspend(path)
