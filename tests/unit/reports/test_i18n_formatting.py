"""Locale-aware formatting (reports/formatting.py, reports/i18n.py): Babel's forms per locale.

English keeps the forms the reports always had; Chinese gets CLDR's dates and 万 / 亿 on the
headline amounts; CNY is formatted with Babel's symbols in both locales; an unknown locale is an
error naming the allowed values.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from babel.numbers import format_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from reports import i18n
from reports.formatting import (
    _NumberFormat,
    fmt_compact_int, fmt_compact_money, fmt_currency, fmt_date_long, fmt_day_month, fmt_days, fmt_int,
    fmt_money, fmt_month, fmt_pct,
)

D = Decimal


def test_english_forms_are_unchanged():
    assert fmt_int(1234567) == "1,234,567"
    assert fmt_money(D("-1234.565")) == f"{D('-1234.565'):,.2f}" == "-1,234.56"
    assert fmt_pct(D("0.1234")) == "12.3%"
    assert fmt_days(D("41.25")) == "41.2"
    assert fmt_month(dt.date(2026, 3, 1)) == "Mar 2026"
    assert fmt_date_long(dt.date(2026, 3, 5)) == "5 March 2026"
    assert fmt_day_month(dt.date(2026, 3, 5)) == "5 Mar"
    assert fmt_compact_money(D("123456789.12"), "USD") == "$123,456,789.12"
    assert fmt_compact_money(D("1234.56"), "CNY") == "CN¥1,234.56"  # a symbol, not "1,234.56 CNY"
    assert fmt_compact_int(123456) == "123,456"


def test_chinese_dates_and_large_number_units():
    with i18n.using("zh_CN"):
        assert fmt_month(dt.date(2026, 3, 1)) == "2026年3月"
        assert fmt_date_long(dt.date(2026, 3, 5)) == "2026年3月5日"
        assert fmt_day_month(dt.date(2026, 3, 5)) == "3月5日"
        assert fmt_compact_money(D("123456789.12"), "CNY") == "¥1.23亿"
        assert fmt_compact_money(D("1234567.89"), "CNY") == "¥123.46万"
        assert fmt_compact_money(D("1234.5"), "CNY") == "¥1,234.50"  # below 1万: exact
        assert fmt_compact_int(123456) == "12.3万"
        assert fmt_pct(D("0.705")) == "70.5%"
    assert i18n.current() == "en"  # the block's locale ends with it


@pytest.mark.parametrize(("locale", "expected"), [("en", "CN¥1,234,567.80"), ("zh_CN", "¥1,234,567.80")])
def test_cny_is_a_first_class_currency(locale: str, expected: str):
    assert fmt_currency(D("1234567.8"), "CNY", locale=locale) == expected


def test_usd_in_chinese_carries_its_own_symbol():
    assert fmt_compact_money(D("12345678"), "USD", locale="zh_CN") == "US$1234.57万"


def test_unknown_locale_names_the_allowed_values():
    with pytest.raises(ValueError, match=r"LTC_LOCALE='fr'.*en, zh_CN"):
        i18n.check_locale("fr")
    with pytest.raises(ValueError, match="en, zh_CN"), i18n.using("de_DE"):
        pass
    assert i18n.check_locale("zh-CN") == i18n.check_locale("zh_CN") == "zh_CN"
    assert i18n.check_locale(None) == "en"


def test_chinese_messages_come_from_the_catalogue():
    with i18n.using("zh_CN"):
        assert i18n._("Overdue AR") == "逾期回款"
        assert i18n._("On-time collection rate") == "回款及时率"
        assert i18n._("Work without a signed contract") == "无合同投入"
        assert i18n.pgettext("document date", "Booked") == "入账日"
        assert i18n._("Booked") == "成交金额"
    assert i18n._("Overdue AR") == "Overdue AR"


# Compiled number formats (formatting._NumberFormat) must write exactly what Babel writes.
PATTERNS = ("#,##0", "#,##0.00", "#,##0.0", "#,##0.0%", "#,##0%", "#,##0.000%",
            "#,##0.##", "#,##,##0.00")  # the last two take Babel's own path
_decimals = st.decimals(allow_nan=False, allow_infinity=False, min_value=D("-1e15"), max_value=D("1e15"),
                        places=None) | st.decimals(allow_nan=False, allow_infinity=False, places=3,
                                                   min_value=D("-1e6"), max_value=D("1e6"))


@settings(max_examples=400, deadline=None)
@given(value=_decimals | st.integers(min_value=-10**15, max_value=10**15),
       pattern=st.sampled_from(PATTERNS),
       # de_DE swaps the group and decimal symbols; the others are the reports' own locales
       locale=st.sampled_from((*i18n.LOCALES, "de_DE")))
def test_compiled_number_formats_write_what_babel_writes(value, pattern, locale):
    assert _NumberFormat(pattern, locale)(value) == format_decimal(value, format=pattern, locale=locale)
    # and a column of them (its `bare` path: Python's format alone, where the pattern allows)
    assert _NumberFormat(pattern, locale).column([value, None], repr) == [
        format_decimal(value, format=pattern, locale=locale), "None"]


def test_the_compiled_path_is_taken_where_it_can_be_and_babel_elsewhere():
    assert _NumberFormat("#,##0.00", "zh_CN").fast
    assert _NumberFormat("#,##0.00", "en").bare and _NumberFormat("#,##0", "zh_CN").bare
    assert not _NumberFormat("#,##0.0%", "en").bare  # scaled, a percent sign
    assert not _NumberFormat("#,##0.00", "de_DE").bare  # its own group and decimal symbols
    assert _NumberFormat("#,##0.0%", "de_DE").fast
    assert not _NumberFormat("#,##0.##", "en").fast  # a variable number of decimals
    assert not _NumberFormat("#,##,##0.00", "en_IN").fast  # lakh grouping: 12,34,567.00
    assert _NumberFormat("#,##,##0.00", "en_IN")(D("1234567")) == "12,34,567.00"
    assert _NumberFormat("#,##0.00", "de_DE")(D("-1234.5")) == "-1.234,50"


# A column formatted at a time (formatting.fmt_column, cell_values) must write what each cell
# formatted alone (fmt_cell, cell_value) writes: the worklist tables and the workbook's widths.
_cell_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**15, max_value=10**15), _decimals,
    st.decimals(allow_nan=True, allow_infinity=True), st.dates(),
    st.datetimes(timezones=st.none() | st.just(dt.timezone.utc)), st.text(max_size=20),
    st.sampled_from(("unapplied", "no contract:CNY", "90+ days", "Partner", "")),
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_cell_values, max_size=25),
       kind=st.sampled_from(("text", "label", "int", "money", "date", "pct", "days")),
       locale=st.sampled_from(i18n.LOCALES))
def test_a_column_formatted_at_once_is_each_cell_formatted_alone(values, kind, locale):
    from reports.formatting import cell_value, cell_values, fmt_cell, fmt_column

    with i18n.using(locale):
        try:
            expected = [fmt_cell(value, kind) for value in values]
        except Exception as exc:  # a value the kind cannot format (text in a money column): the same error
            with pytest.raises(type(exc)):
                fmt_column(values, kind)
        else:
            assert fmt_column(values, kind) == expected
    assert cell_values(values) == [cell_value(value) for value in values]
