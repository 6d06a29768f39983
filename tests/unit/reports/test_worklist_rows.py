"""The worklist rows rendered in Python (reports/formatting.worklist_rows) are byte for byte what
the template's per-cell Jinja loop wrote, escaping and both locales included."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports import i18n
from reports.formatting import environment
from reports.worklist import Column, Worklist

# the loop templates/_worklist.html.j2 had before the rows moved to Python
JINJA_LOOP = """\
    <tbody>
    {% for row in (w.rows if limit is none else w.rows[:limit]) %}
      <tr>
      {% for c in w.columns %}
        {% set v = row[loop.index0] %}
        <td class="{{ 'l' if c.kind in ('text', 'label', 'date') else '' }}" data-value="{{ v | cv }}">{{ v | cell(c.kind) }}</td>
      {% endfor %}
      </tr>
    {% endfor %}
    </tbody>
"""
PYTHON_ROWS = """\
    <tbody>
{# the rows: reports/formatting.worklist_rows #}
{{ w.columns | worklist_rows(w.rows, limit) }}    </tbody>
"""

WORKLIST = Worklist(
    key="mixed", title="Mixed", description="Every kind of cell.",
    columns=(Column("customer", "Customer"), Column("status", "Status", "label"), Column("due", "Due", "date"),
             Column("days", "Days", "int"), Column("amount", "Amount", "money", total=True),
             Column("share", "Share", "pct"), Column("avg", "Average days", "days")),
    rows=(
        ('Smith & "Sons" <Ltd> \'s', "unapplied", dt.date(2026, 5, 1), 60, Decimal("9876543210.12"),
         Decimal("0.5125"), Decimal("12.5")),
        ("Partner", "no contract:CNY", None, None, None, None, 7),
        ("上海华信科技（集团）有限公司", "90+ days", dt.date(2026, 1, 31), -3, Decimal("-0.10"), Decimal("1"), None),
        ("=HYPERLINK(\"x\")", "a word no mart has", dt.date(2025, 12, 31), 0, Decimal("0.00"), Decimal("0"), Decimal("0")),
    ),
    source="marts.test",
)


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
@pytest.mark.parametrize("limit", [None, 2])
def test_python_rows_equal_the_jinja_loop(locale: str, limit: int | None):
    env = environment()
    with i18n.using(locale):
        jinja = env.from_string(JINJA_LOOP).render(w=WORKLIST, limit=limit)
        python = env.from_string(PYTHON_ROWS).render(w=WORKLIST, limit=limit)
    assert python == jinja
    assert "&amp; &#34;Sons&#34; &lt;Ltd&gt; &#39;s" in python  # escaped, as autoescape escapes
    assert python.count("<tr>") == (limit or len(WORKLIST.rows))


# Columns of every kind holding what worklists hold (and odd values: text in a number column is
# formatted by fmt_cell's own fallback), escaping included: rendered a column at a time
# (formatting.fmt_column), the rows are still what the per-cell loop wrote.
_KIND_VALUES = {
    "text": st.text(max_size=12) | st.sampled_from(("Smith & Sons", "<b>", "a'b\"c", "Partner")),
    "label": st.sampled_from(("unapplied", "no contract:CNY", "90+ days", "a word no mart has", "<x>", "")),
    "date": st.dates(),
    "int": st.integers(-10**9, 10**9),
    "money": st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**9, max_value=10**9),
    "pct": st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10, max_value=10),
    "days": st.integers(0, 10**4) | st.decimals(allow_nan=False, allow_infinity=False, places=1, min_value=0,
                                                max_value=10**4),
}


@st.composite
def _worklists(draw):
    kinds = draw(st.lists(st.sampled_from(sorted(_KIND_VALUES)), min_size=1, max_size=6))
    columns = tuple(Column(f"c{i}", f"C{i}", kind) for i, kind in enumerate(kinds))
    cell = {kind: st.none() | _KIND_VALUES[kind] | st.sampled_from(("odd & <text>", dt.date(2026, 1, 2)))
            for kind in set(kinds) if kind in ("text", "label", "date")}
    cell.update({kind: st.none() | _KIND_VALUES[kind] for kind in set(kinds) if kind not in cell})
    rows = draw(st.lists(st.tuples(*(cell[kind] for kind in kinds)), max_size=8))
    return Worklist(key="w", title="W", description="", columns=columns, rows=tuple(rows), source="test")


@settings(max_examples=150, deadline=None)
@given(worklist=_worklists(), locale=st.sampled_from(i18n.LOCALES), limit=st.none() | st.integers(0, 5))
def test_python_rows_equal_the_jinja_loop_for_any_worklist(worklist: Worklist, locale: str, limit: int | None):
    env = environment()
    with i18n.using(locale):
        jinja = env.from_string(JINJA_LOOP).render(w=worklist, limit=limit)
        python = env.from_string(PYTHON_ROWS).render(w=worklist, limit=limit)
    assert python == jinja
