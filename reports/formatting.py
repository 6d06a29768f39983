"""Formatting and templating shared by every report: visible text from exact values.

The visible forms (`fmt_*`) are for people; `data_value` is the exact machine-readable form that
reports put in `data-value` attributes, so tests read figures without scraping formatted text.
The visible forms follow the current locale (reports/i18n.py: English or Simplified Chinese) and
are Babel's, so grouping, percent signs, month names and 万/亿 come from CLDR, not from rules of ours;
`data_value` never depends on the locale.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from decimal import Decimal
from operator import itemgetter
from pathlib import Path

from babel.dates import format_date, format_skeleton
from babel.numbers import (
    format_compact_currency, format_compact_decimal, format_currency, format_decimal, get_decimal_symbol,
    get_group_symbol, parse_pattern,
)
from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from reports import i18n
from reports.labels import label

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


class _NumberFormat:
    """One Babel number pattern in one locale, compiled once and applied to many cells.

    Why: Babel's `format_decimal` parses the locale and the pattern again on every call (about
    20 us); a 100k-lead edition formats 250,000 cells, and a 1M-lead one several times that, so
    the per-call parsing cost the reports phase 12 s of 26 s at 100k leads (cProfile, stop 21).
    The symbols, the affixes and the grouping still come from Babel and CLDR: only the digits are
    laid out by Python's own `format` (same rounding, half-even, from the decimal context), and only
    for the patterns whose layout it shares (groups of three, a fixed number of decimals); any other
    pattern, or a value that is neither int nor Decimal, goes to Babel itself.
    tests/unit/reports/test_i18n_formatting.py checks both paths give the same text for any value.
    """

    def __init__(self, pattern: str, locale: str) -> None:
        self.pattern, self.locale = pattern, locale
        compiled = parse_pattern(pattern)
        low, high = compiled.frac_prec
        self.fast = compiled.grouping == (3, 3) and low == high and compiled.exp_prec is None
        self.scale = Decimal(10) ** compiled.scale
        self.spec = f",.{low}f"
        symbols = {",": get_group_symbol(locale), ".": get_decimal_symbol(locale)}
        # None where the locale writes Python's own symbols (en, zh_CN): translate() costs 0.7 us a cell
        self.symbols = None if symbols == {",": ",", ".": "."} else str.maketrans(symbols)
        # the affixes around the digits, as Babel writes them for +1 and -1 (a percent sign, a minus)
        self.affixes = tuple(self._affixes(Decimal(sign) / self.scale) for sign in (1, -1))
        # the text of a number is Python's `format` of it, minus sign included (en and zh_CN
        # amounts, counts and days: no scale, no symbols to swap, no affix but the minus)
        self.bare = (self.fast and self.scale == 1 and self.symbols is None
                     and self.affixes == (("", ""), ("-", "")))

    def _affixes(self, probe: Decimal) -> tuple[str, str]:
        text = format_decimal(probe, format=self.pattern, locale=self.locale)
        digits = self._digits(abs(probe))
        at = text.index(digits)
        return text[:at], text[at + len(digits):]

    def _digits(self, value: int | Decimal) -> str:
        text = format(value * self.scale if self.scale != 1 else value, self.spec)
        return text.translate(self.symbols) if self.symbols else text

    def __call__(self, value: int | Decimal) -> str:
        if not (self.fast and isinstance(value, (int, Decimal)) and not isinstance(value, bool)):
            return format_decimal(_plain(value), format=self.pattern, locale=self.locale)
        if isinstance(value, Decimal) and not value.is_finite():
            return format_decimal(value, format=self.pattern, locale=self.locale)
        digits = self._digits(value)
        negative = digits.startswith("-")  # after rounding, as Babel: -0.001 is "-0.00"
        prefix, suffix = self.affixes[negative]
        return prefix + (digits[1:] if negative else digits) + suffix

    def column(self, values: Sequence[object], other: Callable[[object], str]) -> list[str]:
        """`self(value)` of each int and Decimal of `values` (one `format` call each where the
        pattern is `bare`), `other(value)` of anything else (None, a bool, a NaN where bare)."""
        if self.bare:
            spec = self.spec
            return [format(value, spec) if value.__class__ is int or (value.__class__ is Decimal and value.is_finite())
                    else other(value) for value in values]
        return [self(value) if value.__class__ is int or value.__class__ is Decimal else other(value)
                for value in values]


@functools.lru_cache(maxsize=64)
def _number_format(pattern: str, locale: str) -> _NumberFormat:
    return _NumberFormat(pattern, locale)


def format_number(value: int | Decimal, pattern: str, locale: str | None = None) -> str:
    """`value` in the Babel `pattern` of the locale (reports/i18n.py's current one by default)."""
    return _number_format(pattern, _locale(locale))(value)


def fmt_int(value: int | None, locale: str | None = None) -> str:
    return DASH if value is None else format_number(_plain(value), "#,##0", locale)


def fmt_money(value: Decimal | None, locale: str | None = None) -> str:
    return DASH if value is None else format_number(_plain(value), "#,##0.00", locale)


def fmt_pct(value: Decimal | None, places: int = 1, locale: str | None = None) -> str:
    if value is None:
        return DASH
    return format_number(value, "#,##0" + ("." + "0" * places if places else "") + "%", locale)


def fmt_days(value: Decimal | None, locale: str | None = None) -> str:
    return DASH if value is None else format_number(_plain(value), "#,##0.0", locale)


def fmt_currency(value: Decimal | None, currency: str, locale: str | None = None) -> str:
    """An amount with its currency's symbol as the locale writes it (USD: $ / US$; CNY: CN¥ / ¥)."""
    return DASH if value is None else format_currency(value, currency, locale=_locale(locale))


def fmt_compact_money(value: Decimal | None, currency: str, locale: str | None = None) -> str:
    """A headline amount in the units its readers count in: 1.23亿 / 45.67万 in Chinese; in English
    the exact amount. Both with the currency's symbol as CLDR writes it ($, CN¥, ¥), never a bare
    figure followed by its ISO code."""
    loc = _locale(locale)
    if value is None:
        return DASH
    if loc == "en":
        return format_currency(value, currency, locale=loc)
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


def fmt_month_axis(value: dt.date, *, with_year: bool = False, narrow: bool = False,
                   locale: str | None = None) -> str:
    """A month under a chart's axis: "Mar" / "Mar 25" / "M" in English (the labels the charts have
    always drawn); CLDR's abbreviated and narrow months elsewhere ("3月" / "2025年3月" / "3")."""
    loc = _locale(locale)
    if narrow and not with_year:
        return format_date(value, "MMMMM", locale=loc)
    if loc == "en":
        return format_date(value, "MMM yy" if with_year else "MMM", locale=loc)
    return format_skeleton("yMMM" if with_year else "MMM", value, locale=loc)


def fmt_axis_number(value: float, locale: str | None = None) -> str | None:
    """A chart axis' compact number in the locale's own units (4.4万, 1.2亿), or None for English,
    whose axes keep their k / M / B (reports.charts.compact)."""
    loc = _locale(locale)
    if loc == "en":
        return None
    return format_compact_decimal(value, locale=loc, fraction_digits=1)


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
    if kind == "label":
        return label(value)  # a mart's status or type word in the reader's language
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


_HTML_SPECIAL = re.compile(r"[&<>'\"]").search


def _html(text: str) -> str:
    """`text` escaped exactly as the templates' autoescape does (markupsafe); most cells have
    nothing to escape and skip the call."""
    return str(escape(text)) if _HTML_SPECIAL(text) else text


def worklist_rows(columns: Sequence, rows: Sequence[Sequence[object]], limit: int | None = None) -> Markup:
    """The `<tr>` rows of a worklist table (templates/_worklist.html.j2), byte for byte what the
    template's own loop over `cell` and `cv` wrote (rows as `Worklist` holds them: one value per
    column). Why in Python: at 1M leads the worklists hold 1.1M cells, and Jinja's per-cell filter
    calls and escaping took 7.1 s of an 18.8 s edition. Why a column at a time: each column is
    formatted by one comprehension with its kind's formatter worked out once (`fmt_column`), and
    escaped only when some cell of it has a character to escape; the 363k cells of the two pages
    at 1M leads took 0.43 CPU seconds cell by cell (`fmt_cell`, `cell_value`, `_html` per cell),
    0.28 s so."""
    shown = rows if limit is None else rows[:limit]
    if not columns:
        return Markup("      <tr>\n      </tr>\n" * len(shown))
    cells = [_column_cells(column.css_class, column.kind, list(map(itemgetter(c), shown)))
             for c, column in enumerate(columns)]
    return Markup("".join([f"      <tr>\n{''.join(row)}      </tr>\n" for row in zip(*cells)]))


def _column_cells(css: str, kind: str, values: Sequence[object]) -> list[str]:
    """The `<td>` of every value of one column: shown as `fmt_cell`, `data-value` as `cell_value`."""
    head = f'        <td class="{css}" data-value="'
    return [f'{head}{exact}">{text}</td>\n'
            for exact, text in zip(_html_column(cell_values(values)), _html_column(fmt_column(values, kind)))]


def _html_column(texts: list[str]) -> list[str]:
    """`_html` of every text; one search over the whole column finds most columns have nothing to escape."""
    return [_html(text) for text in texts] if _HTML_SPECIAL("".join(texts)) else texts


# A number column's formats (reports/worklist.py kinds): (of a Decimal, of an int), as `fmt_cell`
# formats them; None: not a pattern (`fmt_cell` writes an int column's Decimal as str()).
_COLUMN_PATTERNS: dict[str, tuple[str | None, str]] = {
    "money": ("#,##0.00", "#,##0.00"),
    "pct": ("#,##0.0%", "#,##0.0%"),
    "days": ("#,##0.0", "#,##0"),
    "int": (None, "#,##0"),
}


def fmt_column(values: Sequence[object], kind: str) -> list[str]:
    """`[fmt_cell(value, kind) for value in values]`, a column at a time: the values of the
    column's own type (Decimal and int in number columns, dates in date columns, str in text
    columns) go through the kind's formatter worked out once, a label column's words are looked
    up once each; any other value goes through `fmt_cell` itself.
    tests/unit/reports/test_i18n_formatting.py checks both give the same text."""
    if kind in _COLUMN_PATTERNS:
        loc = i18n.current()
        decimal_pattern, int_pattern = _COLUMN_PATTERNS[kind]
        if decimal_pattern == int_pattern:  # money, pct
            return _number_format(int_pattern, loc).column(values, functools.partial(fmt_cell, kind=kind))
        of_int = _number_format(int_pattern, loc)
        of_decimal = _number_format(decimal_pattern, loc) if decimal_pattern else functools.partial(fmt_cell, kind=kind)
        return [of_decimal(value) if value.__class__ is Decimal else of_int(value) if value.__class__ is int
                else fmt_cell(value, kind) for value in values]
    if kind == "date":
        return [value.isoformat() if value.__class__ is dt.date else fmt_cell(value, kind) for value in values]
    if kind == "label":
        words = label_words(values)
        return [words[value] if value.__class__ is str else fmt_cell(value, kind) for value in values]
    return [value if value.__class__ is str else fmt_cell(value, kind) for value in values]


def label_words(values: Sequence[object]) -> dict[str, str]:
    """The display label (`label`) of each distinct str among `values`: a label column of 100k
    rows holds a dozen words, each looked up once."""
    return {word: label(word) for word in {value for value in values if value.__class__ is str}}


def cell_values(values: Sequence[object]) -> list[str]:
    """`[cell_value(value) for value in values]`, with the common str and Decimal values inline."""
    return [value if value.__class__ is str else format(value, "f") if value.__class__ is Decimal
            else cell_value(value) for value in values]


@functools.cache
def environment() -> Environment:
    """The Jinja environment of every report template, with the formatting filters and gettext
    (`_()`, `{% trans %}`) in the current locale (reports/i18n.py).

    Compiling the templates was a fixed cost of every edition: 17 compilations of the 10 templates
    (each page's environment compiled the shared base and macros again). Now one environment per
    process keeps what it compiled, and Jinja's bytecode cache (a folder of the user's own under
    the system temp folder, files replaced atomically) keeps the compiled code between runs, keyed
    by each template's path and a checksum of its source, so an edited template is compiled anew.
    An edition at 10k leads, one fresh process each, 4 runs alternately: 1.46-1.64 s before,
    1.34-1.44 s after."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        bytecode_cache=FileSystemBytecodeCache(),
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
        worklist_rows=worklist_rows,
        currency=fmt_currency,
        compact_money=fmt_compact_money,
        daymonth=fmt_day_month,
        date_long=fmt_date_long,
        label=label,  # a mart value (stage, status, bucket) as a display label: reports/labels.py
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
