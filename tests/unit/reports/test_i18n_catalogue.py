"""The message catalogue is complete: every string the sources mark for translation has Chinese.

The sources (Python `_()`/`N_()`/`ngettext`, templates' `{{ _() }}` and `{% trans %}`) are
extracted with Babel exactly as `python -m reports.catalogue` does. The test fails when a marked
string has no (or an empty, or a fuzzy) zh_CN entry, and when the committed .pot or .po no longer
matches the sources (run `python -m reports.catalogue`, then translate the new entries).
"""

from __future__ import annotations

from babel.messages.catalog import Catalog

from reports import catalogue
from reports.i18n import catalogue_path


def _ids(catalog: Catalog) -> set[tuple[object, str | None]]:
    return {(m.id, m.context) for m in catalog if m.id}


def untranslated(template: Catalog, translated: Catalog) -> list[str]:
    """The messages of `template` without a usable translation in `translated`."""
    missing = []
    for message in template:
        if not message.id:
            continue
        found = translated.get(message.id, context=message.context)
        strings = (found.string if isinstance(found.string, (tuple, list)) else (found.string,)) if found else ()
        if found is None or found.fuzzy or not strings or not all(s and s.strip() for s in strings):
            missing.append(str(message.id))
    return missing


def test_every_extracted_message_has_a_chinese_translation():
    missing = untranslated(catalogue.extract(), catalogue.read(catalogue_path("zh_CN"), "zh_CN"))
    assert not missing, f"{len(missing)} message(s) without zh_CN: {missing[:10]} (python -m reports.catalogue)"


def test_the_committed_catalogues_match_the_sources():
    extracted = _ids(catalogue.extract())
    pot = _ids(catalogue.read(catalogue.POT))
    po = _ids(catalogue.read(catalogue_path("zh_CN"), "zh_CN"))
    assert pot == extracted, (
        f"messages.pot is stale: new {sorted(map(str, extracted - pot))[:10]}, "
        f"gone {sorted(map(str, pot - extracted))[:10]}; run python -m reports.catalogue"
    )
    assert po == extracted, f"zh_CN messages.po is stale: {sorted(map(str, extracted ^ po))[:10]}"


def test_translations_keep_the_placeholders_of_their_message():
    po = catalogue.read(catalogue_path("zh_CN"), "zh_CN")
    problems = [(str(message.id), [str(e) for e in errors]) for message, errors in po.check()]
    assert not problems, problems[:5]


def test_the_check_fails_for_an_untranslated_message():
    """The completeness check can fail: a message added to the sources and not translated."""
    template = catalogue.extract()
    template.add("A brand-new report string nobody translated", locations=[("reports/new.py", 1)])
    po = catalogue.read(catalogue_path("zh_CN"), "zh_CN")
    assert untranslated(template, po) == ["A brand-new report string nobody translated"]
    # an empty and a fuzzy entry count as missing too
    po.add("A brand-new report string nobody translated", "")
    assert untranslated(template, po) == ["A brand-new report string nobody translated"]
    po.add("A brand-new report string nobody translated", "新字符串", flags=["fuzzy"])
    assert untranslated(template, po) == ["A brand-new report string nobody translated"]


def test_templates_and_python_are_both_extracted():
    sources = {path for m in catalogue.extract() for path, _line in m.locations}
    assert any(p.startswith("reports/templates/") for p in sources)
    assert "orchestration/cli.py" in sources and "reports/html.py" in sources
