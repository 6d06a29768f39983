"""The message catalogue's upkeep: extract every translatable string, refresh the .pot and .po.

Why: a string wrapped in `_()` (Python) or `{{ _() }}` / `{% trans %}` (templates) but missing from
the Chinese catalogue would quietly show English in a Chinese report. This module is the one
definition of where messages come from, used both by the maintainer's command and by the test
that fails when a message has no Chinese (tests/unit/reports/test_i18n_catalogue.py):

    .venv/bin/python -m reports.catalogue        # rewrite messages.pot, merge it into every .po

then translate the new (empty) entries of reports/locale/zh_CN/LC_MESSAGES/messages.po. Babel
does the extraction (its Python extractor, and Jinja's `jinja2.ext:babel_extract`); the files
are written without line numbers so that editing code does not churn the catalogue.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po, write_po

from reports.i18n import DEFAULT_LOCALE, DOMAIN, LOCALE_DIR, LOCALES, catalogue_path

ROOT = Path(__file__).resolve().parents[1]
POT = LOCALE_DIR / f"{DOMAIN}.pot"
# (glob under the repository root, Babel extraction method)
SOURCES: tuple[tuple[str, str], ...] = (
    ("reports/*.py", "python"),
    ("orchestration/cli.py", "python"),
    ("orchestration/cli_errors.py", "python"),
    ("reports/templates/*.j2", "jinja2.ext:babel_extract"),
)
# the templates are parsed as formatting.environment() parses them; `silent: false` makes a
# template that does not parse an error instead of a silently empty extraction
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true",
                 "newstyle_gettext": "true", "silent": "false"}
# Babel's keywords (_, gettext, ngettext, pgettext, N_, ...) and NP_: N_ with a context
KEYWORDS = {**DEFAULT_KEYWORDS, "NP_": ((1, "c"), 2)}
# a fixed header date: regenerating an unchanged catalogue gives identical bytes
_STAMP = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def source_files() -> Iterator[tuple[Path, str]]:
    for pattern, method in SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            yield path, method


def extract() -> Catalog:
    """Every message of the sources, as a template catalogue (no translations)."""
    catalog = Catalog(domain=DOMAIN, project="ltc-visibility", version="1", creation_date=_STAMP,
                      charset="utf-8", fuzzy=False)
    for path, method in source_files():
        options = JINJA_OPTIONS if method != "python" else {}
        for lineno, message, comments, context in extract_from_file(
            method, str(path), keywords=KEYWORDS, options=options
        ):
            catalog.add(message, None, [(str(path.relative_to(ROOT)), lineno)],
                        auto_comments=comments, context=context)
    return catalog


def render(catalog: Catalog) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    write_po(buffer, catalog, width=100, include_lineno=False, sort_output=True, omit_header=False)
    return buffer.getvalue()


def read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=locale, domain=DOMAIN)


def update() -> list[Path]:
    """Rewrite the .pot from the sources and merge it into each locale's .po (new entries empty,
    obsolete ones dropped); return the files written."""
    template = extract()
    POT.parent.mkdir(parents=True, exist_ok=True)
    POT.write_bytes(render(template))
    written = [POT]
    for locale in LOCALES:
        if locale == DEFAULT_LOCALE:
            continue  # English is the msgid
        path = catalogue_path(locale)
        catalog = read(path, locale) if path.exists() else Catalog(locale=locale, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.creation_date = catalog.revision_date = _STAMP
        catalog.fuzzy = False
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(catalog))
        written.append(path)
    return written


if __name__ == "__main__":
    for written in update():
        print(written.relative_to(ROOT))
    sys.exit(0)
