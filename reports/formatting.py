"""Formatting and templating shared by every report: visible text from exact values.

The visible forms (`fmt_*`) are for people; `data_value` is the exact machine-readable form that
reports put in `data-value` attributes, so tests read figures without scraping formatted text.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).with_name("templates")
DASH = "—"


def data_value(value: int | Decimal | None) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def fmt_int(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def fmt_money(value: Decimal | None) -> str:
    return DASH if value is None else f"{value:,.2f}"


def fmt_pct(value: Decimal | None, places: int = 1) -> str:
    return DASH if value is None else f"{value * 100:,.{places}f}%"


def fmt_days(value: Decimal | None) -> str:
    return DASH if value is None else f"{value:,.1f}"


def fmt_month(value: dt.date) -> str:
    return value.strftime("%b %Y")


def fmt_date_long(value: dt.date) -> str:
    return f"{value.day} {value.strftime('%B %Y')}"


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
    """The Jinja environment of every report template, with the formatting filters."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every interpolated string is escaped; SVG is passed as Markup
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        money=fmt_money,
        pct=fmt_pct,
        days=fmt_days,
        num=fmt_int,
        month=fmt_month,
        dv=data_value,
        cell=fmt_cell,
        cv=cell_value,
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
