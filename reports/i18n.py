"""The reports' and the CLI's two languages: English (the default) and Simplified Chinese.

Why a module of its own: every report and the CLI must agree on which locales exist, on how an
unknown one is refused, and on where the message catalogue lives. The catalogue is plain text
(reports/locale/zh_CN/LC_MESSAGES/messages.po, built from reports/locale/messages.pot by
`pybabel`); it is compiled in memory when first used, so there is no .mo build step to forget.

The locale is chosen once, at an entry point (the CLI's `--locale`, `Settings.locale` from
LTC_LOCALE), and set for the rendering with `using(locale)`: a context variable, so the formatting
filters and the templates deep below follow it without every function taking a parameter, and two
threads rendering in different languages do not see each other's choice. English is the source
language: its text is the msgid, so an English rendering never depends on the catalogue.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("en", "zh_CN")
DEFAULT_LOCALE = "en"
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).with_name("locale")
# the HTML `lang` attribute of each locale (BCP 47, not POSIX)
HTML_LANG = {"en": "en", "zh_CN": "zh-CN"}
# spellings people type for the same locale (LTC_LOCALE=zh-CN, --locale zh_cn)
_ALIASES = {"zh-cn": "zh_CN", "zh_cn": "zh_CN", "zh": "zh_CN", "zh-hans": "zh_CN", "en_us": "en", "en-us": "en"}

_current: ContextVar[str] = ContextVar("ltc_locale", default=DEFAULT_LOCALE)


class UnknownLocale(ValueError):
    """A locale the reports have no catalogue for."""


def check_locale(value: str | None, source: str = "LTC_LOCALE") -> str:
    """`value` as one of LOCALES (None or "" is the default); anything else is refused, naming
    the allowed values and where the value came from."""
    if not value:
        return DEFAULT_LOCALE
    if value in LOCALES:
        return value
    alias = _ALIASES.get(value.lower())
    if alias:
        return alias
    raise UnknownLocale(f"{source}={value!r} is not a supported locale; use one of: {', '.join(LOCALES)}")


def catalogue_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def translations(locale: str) -> gettext.NullTranslations:
    """The compiled catalogue of `locale`, read from its .po and compiled once per process.
    English is the msgid itself: no catalogue."""
    locale = check_locale(locale)
    if locale == DEFAULT_LOCALE:
        return gettext.NullTranslations()
    with catalogue_path(locale).open("rb") as fh:
        catalog = read_po(fh, locale=locale, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out, as msgfmt does
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def current() -> str:
    """The locale the code running now renders in."""
    return _current.get()


@contextmanager
def using(locale: str | None) -> Iterator[str]:
    """Render in `locale` (checked) inside the block; the previous locale after it."""
    checked = check_locale(locale)
    token = _current.set(checked)
    try:
        yield checked
    finally:
        _current.reset(token)


def _(message: str) -> str:
    """`message` in the current locale (the English msgid when there is no translation)."""
    return translations(current()).gettext(message)



def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """`message` in the current locale, told apart from the same English word used elsewhere
    ("Booked": a receipt's booking date vs the bookings tile)."""
    return translations(current()).pgettext(context, message)


def NP_(context: str, message: str) -> str:
    """`N_` with a context (reports/catalogue.py extracts it as pgettext)."""
    return message


def N_(message: str) -> str:
    """Marks `message` for the catalogue without translating it yet (module-level tables, which
    are built before any locale is chosen): translate it with `_` where it is used."""
    return message


def html_lang(locale: str | None = None) -> str:
    return HTML_LANG[check_locale(locale or current())]
