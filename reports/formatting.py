"""Formatting and templating shared by every report: visible text from exact values.

The visible forms (`fmt_*`) are for people; `data_value` is the exact machine-readable form that
reports put in `data-value` attributes, so tests read figures without scraping formatted text.
The visible forms follow the current locale (reports/i18n.py: English or Simplified Chinese) and
are Babel's, so grouping, percent signs, month names and 万/亿 come from CLDR, not from rules of ours;
`data_value` never depends on the locale.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from decimal import Decimal
from pathlib import Path

from babel.dates import format_date, format_skeleton
from babel.numbers import (
    format_compact_currency, format_compact_decimal, format_currency, format_decimal, format_percent,
)
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from reports import i18n

TEMPLATES = Path(__file__).with_name("templates")
DASH = "—"


def data_value(value: int | Decimal | None) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _locale(locale: str | None) -> str:
    return i18n.check_locale(locale) if locale else i18n.current()


def _plain(value):
    """Babel reads numbers through str(): a bool (a worklist's odd cell) is its int, as f-strings had it."""
    return int(value) if isinstance(value, bool) else value


def fmt_int(value: int | None, locale: str | None = None) -> str:
    return DASH if value is None else format_decimal(_plain(value), format="#,##0", locale=_locale(locale))


def fmt_money(value: Decimal | None, locale: str | None = None) -> str:
    return DASH if value is None else format_decimal(_plain(value), format="#,##0.00", locale=_locale(locale))


def fmt_pct(value: Decimal | None, places: int = 1, locale: str | None = None) -> str:
    if value is None:
        return DASH
    pattern = "#,##0" + ("." + "0" * places if places else "") + "%"
    return format_percent(value, format=pattern, locale=_locale(locale))


def fmt_days(value: Decimal | None, locale: str | None = None) -> str:
    return DASH if value is None else format_decimal(_plain(value), format="#,##0.0", locale=_locale(locale))


def fmt_currency(value: Decimal | None, currency: str, locale: str | None = None) -> str:
    """An amount with its currency's symbol as the locale writes it (USD: $ / US$; CNY: CN¥ / ¥)."""
    return DASH if value is None else format_currency(value, currency, locale=_locale(locale))


def fmt_compact_money(value: Decimal | None, currency: str, locale: str | None = None) -> str:
    """A headline amount in the units its readers count in: 1.23亿 / 45.67万 in Chinese (with the
    currency's symbol); in English the exact amount, as the tiles have always shown it."""
    loc = _locale(locale)
    if value is None:
        return DASH
    if loc == "en":
        return fmt_money(value, loc)
    if abs(value) < 10_000:  # below 1万 the exact amount reads best (CLDR has no shorter form)
        return format_currency(value, currency, locale=loc)
    return format_compact_currency(value, currency, locale=loc, fraction_digits=2)


def fmt_compact_int(value: int | None, locale: str | None = None) -> str:
    """A headline count: 1.2万 in Chinese, 12,345 in English."""
    loc = _locale(locale)
    if value is None:
        return DASH
    if loc == "en" or abs(value) < 10_000:
        return fmt_int(value, loc)
    return format_compact_decimal(value, locale=loc, fraction_digits=1)


def fmt_month(value: dt.date, locale: str | None = None) -> str:
    return format_skeleton("yMMM", value, locale=_locale(locale))  # Mar 2026 / 2026年3月


# the long date of the masthead: English keeps its day-first form; other locales use CLDR's long date
_LONG_DATE = {"en": "d MMMM y"}


def fmt_date_long(value: dt.date, locale: str | None = None) -> str:
    loc = _locale(locale)
    return format_date(value, _LONG_DATE.get(loc, "long"), locale=loc)


def fmt_day_month(value: dt.date, locale: str | None = None) -> str:
    """A day in a month without the year: "5 Mar" / "3月5日"."""
    loc = _locale(locale)
    return format_date(value, "d MMM", locale=loc) if loc == "en" else format_skeleton("MMMd", value, locale=loc)


def fmt_cell(value: object, kind: str) -> str:
    """One worklist cell as a person reads it (reports/worklist.py kinds)."""
    if value is None:
        return DASH
    if kind == "money":
        return fmt_money(value)  # type: ignore[arg-type]
    if kind == "pct":
        return fmt_pct(value)  # type: ignore[arg-type]
    if kind in ("int", "days") and isinstance(value, int):
        return fmt_int(value)
    if kind == "days":
        return fmt_days(value)  # type: ignore[arg-type]
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def cell_value(value: object) -> str:
    """The exact machine-readable form of a worklist cell (`data-value`, sorting, tests)."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, Decimal)):
        return data_value(value)
    return str(value)


def environment() -> Environment:
    """The Jinja environment of every report template, with the formatting filters and gettext
    (`_()`, `{% trans %}`) in the current locale (reports/i18n.py)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every interpolated string is escaped; SVG is passed as Markup
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # callables, not one catalogue: the template follows `i18n.using(...)` at render time.
    # newstyle: `_("%(n)s rows", n=3)` formats and escapes like the rest of the template
    env.install_gettext_callables(i18n._, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext)
    env.globals["html_lang"] = i18n.html_lang  # _base.html.j2: lang="en" / "zh-CN"
    env.filters.update(
        money=fmt_money,
        pct=fmt_pct,
        days=fmt_days,
        num=fmt_int,
        month=fmt_month,
        dv=data_value,
        cell=fmt_cell,
        cv=cell_value,
        currency=fmt_currency,
        compact_money=fmt_compact_money,
        daymonth=fmt_day_month,
        date_long=fmt_date_long,
    )
    return env


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temp file + rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())  # the rename must never publish a file whose bytes are not on disk
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a published page is there to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
