"""The worklist rows rendered in Python (reports/formatting.worklist_rows) are byte for byte what
the template's per-cell Jinja loop wrote, escaping and both locales included."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

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
