"""Ad-spend exports: four CSV shapes, one normalised table, bad rows set aside with a reason.

Marketing teams export daily campaign reports from each ad platform as they come, so the drop holds
our own generic shape next to Google Ads, Meta (Facebook/Instagram) and LinkedIn campaign reports,
each with its own column names, date format and currency convention. The shape is recognised from
the header (never from the file name: people rename files), and every row becomes one
`raw_marketing.ad_spend` row with `platform` recorded:

| shape      | date (format)                       | campaign           | spend                 | currency            |
|------------|-------------------------------------|--------------------|-----------------------|---------------------|
| generic    | `date` (2025-01-31)                 | `campaign_id`      | `spend`               | `currency`          |
| google_ads | `Day` (2025-01-31)                  | `Campaign ID`      | `Cost`                | `Currency code`     |
| meta       | `Reporting starts` (2025-01-31)     | `Campaign ID`      | `Amount spent (USD)`  | from the header     |
| linkedin   | `Start Date (in UTC)` (1/31/2025)   | `Campaign ID`      | `Total Spent`         | `Currency`          |

Platform UIs put report titles above the header (Google Ads: "Campaign report" and the date range;
LinkedIn: several "Report Start: ..." lines), and Google Ads adds "Total: ..." rows at the end:
the header is looked for in the first lines, and total rows are skipped.

Bad input, and why it goes where it goes:
- A *file* that cannot be read as any shape (empty, no known header, a required column missing, two
  columns with the same name, not UTF-8) lands one `quarantined_files` row and nothing else: we
  cannot tell which values mean what, so guessing would be worse than stopping for that file.
- A *row* that fails (wrong type, a date not in the shape's format, negative or absurd spend or
  counts, a currency that is not ISO 4217, a missing key, the wrong number of cells) lands one
  `quarantined_rows` row (file, line, reason, the raw cells) and the good rows of the file still
  land. The file also gets a `quarantined_files` row summarising how many rows were set aside, so
  one table lists every file that needs a look. Each reason names the file and the line.
- Extra columns are schema drift we can take safely: they land as extra text columns of
  `ad_spend` (dlt adds them), unless one would collide with a normalised column name, which is
  refused for the file. A column whose type would change is refused by the table's schema contract
  (`data_type: freeze`): the run stops loudly rather than creating variant columns.

Money is `Decimal` end to end (at most 2 decimals; more would be silently rounded by the
DECIMAL(18,2) column, so it is refused), counts are `int`. Platform numbers may carry thousands
separators (`1,234.56`), which are accepted only in their exact grouping.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable

from connectors.values import FileFormatError, active_currency

GENERIC = "generic"
GOOGLE_ADS = "google_ads"
META = "meta"
LINKEDIN = "linkedin"
PLATFORMS = (GENERIC, GOOGLE_ADS, META, LINKEDIN)

# Above this a single campaign-day is a unit mistake (cents exported as units, a pasted total), not
# spend: the largest sandbox day is a few hundred, real B2B campaigns rarely reach 5 figures a day.
MAX_DAILY_SPEND = Decimal("1000000.00")
MAX_DAILY_COUNT = 10**10
EARLIEST_DAY, LATEST_DAY = dt.date(2000, 1, 1), dt.date(2099, 12, 31)  # no ad platform before 2000
HEADER_SEARCH_LINES = 12  # report titles above the header: Google Ads 2, LinkedIn up to 6


# The normalised columns, in table order. `platform` is part of the key: campaign ids are only
# unique within one ad platform (a Google Ads and a LinkedIn campaign can share a number).
NORMALISED = ("date", "platform", "campaign_id", "campaign_name", "channel", "impressions", "clicks",
              "spend", "currency", "file_name")


# ---- value converters (each raises ValueError with a short reason) ------------------------------

_GROUPED = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")


def _plain_number(text: str, grouped: bool) -> str:
    if grouped and "," in text:
        if not _GROUPED.match(text):
            raise ValueError("not a number")
        return text.replace(",", "")
    return text


def money(text: str, grouped: bool = False) -> Decimal:
    try:
        number = Decimal(_plain_number(text, grouped))
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not number.is_finite() or number != number.quantize(Decimal("0.01")):
        raise ValueError("not a number with at most 2 decimals")
    if number < 0:
        raise ValueError("negative spend")
    if number > MAX_DAILY_SPEND:
        raise ValueError(f"absurd spend (over {MAX_DAILY_SPEND} for one campaign-day)")
    return number.quantize(Decimal("0.01"))


def count(text: str, grouped: bool = False) -> int:
    plain = _plain_number(text, grouped)
    if not re.fullmatch(r"-?\d+", plain):
        raise ValueError("not a whole number")
    number = int(plain)
    if number < 0:
        raise ValueError("negative count")
    if number > MAX_DAILY_COUNT:
        raise ValueError("absurd count")
    return number


def date_in(fmt: str, example: str) -> Callable[[str], dt.date]:
    """A converter accepting exactly one date format (a wrong one is refused, never guessed: is
    `03/04/2025` March or April?)."""

    def convert(text: str) -> dt.date:
        try:
            day = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            raise ValueError(f"not a date in the form {example}") from None
        if not EARLIEST_DAY <= day <= LATEST_DAY:  # year 0001 / 9999: a placeholder, not a campaign day
            raise ValueError(f"date {day} is outside {EARLIEST_DAY}..{LATEST_DAY}")
        return day

    return convert


# ---- shapes ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Shape:
    """One export layout: which header column feeds which normalised column, and how to read it."""

    platform: str
    columns: dict[str, str]  # normalised name -> header name (required columns)
    date: Callable[[str], dt.date]
    channel: str | None = None  # fixed channel for platform exports; generic reads its own column
    currency_from_header: re.Pattern | None = None  # Meta: "Amount spent (EUR)"
    grouped_numbers: bool = False


ISO_DATE = date_in("%Y-%m-%d", "2025-01-31")
SHAPES = (
    Shape(GENERIC, {"date": "date", "campaign_id": "campaign_id", "campaign_name": "campaign_name",
                    "channel": "channel", "impressions": "impressions", "clicks": "clicks",
                    "spend": "spend", "currency": "currency"}, ISO_DATE),
    Shape(GOOGLE_ADS, {"date": "Day", "campaign_id": "Campaign ID", "campaign_name": "Campaign",
                       "spend": "Cost", "impressions": "Impressions", "clicks": "Clicks",
                       "currency": "Currency code"}, ISO_DATE, channel="Paid Search", grouped_numbers=True),
    # Meta names the account currency in the spend column's header and has no currency column
    Shape(META, {"date": "Reporting starts", "campaign_id": "Campaign ID", "campaign_name": "Campaign name",
                 "spend": "Amount spent ({currency})", "impressions": "Impressions", "clicks": "Link clicks"},
          ISO_DATE, channel="Social", currency_from_header=re.compile(r"^Amount spent \(([A-Za-z]{3})\)$"),
          grouped_numbers=True),
    Shape(LINKEDIN, {"date": "Start Date (in UTC)", "campaign_id": "Campaign ID", "campaign_name": "Campaign Name",
                     "spend": "Total Spent", "impressions": "Impressions", "clicks": "Clicks",
                     "currency": "Currency"}, date_in("%m/%d/%Y", "1/31/2025"), channel="Social",
          grouped_numbers=True),
)
# The columns that identify a shape in a header line (enough to tell them apart, few enough that a
# header missing one required column is still recognised, and reported as missing that column).
_SIGNATURES = {
    GENERIC: {"date", "campaign_id", "spend"},
    GOOGLE_ADS: {"Day", "Campaign ID", "Cost"},
    META: {"Reporting starts", "Campaign ID"},
    LINKEDIN: {"Start Date (in UTC)", "Campaign ID", "Total Spent"},
}


@dataclass
class ParsedFile:
    """What one file gave: its shape, the good normalised rows and the quarantined ones."""

    file_name: str
    platform: str
    rows: list[dict]
    bad_rows: list[dict]  # {"line", "reason", "raw"}

    def summary(self) -> str | None:
        if not self.bad_rows:
            return None
        first = self.bad_rows[0]["reason"]
        return f"{len(self.bad_rows)} row(s) quarantined ({len(self.rows)} landed); first: {first}"


def _detect(lines: list[list[str]], name: str) -> tuple[int, Shape, list[str]]:
    """(index of the header line, its shape, the header's column names): the first of the first
    lines that holds a shape's signature columns."""
    for i, cells in enumerate(lines[:HEADER_SEARCH_LINES]):
        header = [c.strip() for c in cells]
        present = set(header)
        for shape in SHAPES:
            signature = set(_SIGNATURES[shape.platform])
            if shape.currency_from_header is not None:
                spend_cols = [h for h in header if shape.currency_from_header.match(h)]
                if not spend_cols:
                    continue
            if signature <= present:
                return i, shape, header
    raise FileFormatError(
        f"{name}: no known ad-spend header in the first {HEADER_SEARCH_LINES} lines (expected one of: "
        + "; ".join(f"{p}: {', '.join(sorted(s))}" for p, s in _SIGNATURES.items()) + ")")


def parse_adspend(path: Path, *, file_name: str | None = None) -> ParsedFile:
    """Read one export. Raises `FileFormatError` when the file as a whole cannot be read."""
    path = Path(path)
    name = file_name or path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    lines = _csv_lines(text)
    if not any(any(c.strip() for c in cells) for cells in lines):
        raise FileFormatError(f"{name}: empty file")
    at, shape, header = _detect(lines, name)
    line_base = at + 1  # 1-based line number of the header

    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise FileFormatError(f"{name} line {line_base}: duplicate columns {dupes}")
    columns = dict(shape.columns)
    currency = None
    if shape.currency_from_header is not None:
        spend_col = next(h for h in header if shape.currency_from_header.match(h))
        columns["spend"] = spend_col
        try:
            currency = active_currency(shape.currency_from_header.match(spend_col).group(1))
        except ValueError as exc:
            raise FileFormatError(f"{name} line {line_base}: {spend_col!r}: {exc}") from exc
    missing = [c for c in columns.values() if c not in header]
    if missing:
        raise FileFormatError(f"{name} line {line_base}: missing columns {missing} for the {shape.platform} "
                              f"shape (header {header})")
    extras = _extra_columns(header, set(columns.values()), name, line_base)
    index = {h: header.index(h) for h in header if h}

    good, bad = [], []
    data_lines = lines[at + 1:]
    for offset, cells in enumerate(data_lines, start=1):
        line_no = line_base + offset
        if isinstance(cells, _Unreadable):
            bad.append({"line": line_no, "reason": f"{name} line {line_no}: {cells.reason}", "raw": []})
            continue
        if not any(c.strip() for c in cells):
            continue  # blank line (platform exports end with one)
        if cells[0].strip().lower().startswith("total"):
            continue  # Google Ads / LinkedIn summary rows: not a campaign-day
        try:
            if len(cells) != len(header):
                raise ValueError(f"{len(cells)} cells, the header has {len(header)}")
            good.append(_row(shape, columns, index, extras, cells, currency, name))
        except ValueError as exc:  # _CellError included
            bad.append({"line": line_no, "reason": f"{name} line {line_no}: {exc}", "raw": cells})
    if not good and not bad:
        raise FileFormatError(f"{name}: header only, no rows")
    return ParsedFile(name, shape.platform, good, bad)


class _CellError(ValueError):
    pass


class _Unreadable(list):
    """A line the csv module refused (a cell over its 128 KiB field limit): no cells, and the reason."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


def _csv_lines(text: str) -> list[list[str]]:
    """The cells of every line; a line the csv module cannot read stays in place as `_Unreadable`,
    so line numbers hold and that row alone is quarantined (a bare `csv.Error` stopped the whole run)."""
    reader, lines = csv.reader(text.splitlines()), []
    while True:
        try:
            lines.append(next(reader))
        except StopIteration:
            return lines
        except csv.Error as exc:
            lines.append(_Unreadable(f"not readable as CSV ({exc})"))


def _extra_columns(header: list[str], known: set[str], name: str, line_no: int) -> dict[str, str]:
    """Extra header columns → the normalised (snake_case) column they land in, as text."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    naming = NamingConvention()
    extras = {}
    for h in header:
        if not h or h in known:
            continue
        target = naming.normalize_identifier(h)
        if target in NORMALISED or target.startswith("_") or target in extras.values():
            raise FileFormatError(f"{name} line {line_no}: extra column {h!r} would overwrite column {target!r}")
        extras[h] = target
    return extras


def _row(shape: Shape, columns: dict[str, str], index: dict[str, int], extras: dict[str, str],
         cells: list[str], currency: str | None, name: str) -> dict:
    def cell(col: str) -> str:
        return cells[index[columns[col]]].strip()

    def convert(col: str, fn):
        value = cell(col)
        if value == "":
            return None
        try:
            return fn(value)
        except ValueError as exc:
            raise _CellError(f"{columns[col]}={value!r}: {exc}") from None

    grouped = shape.grouped_numbers
    row = {
        "date": convert("date", shape.date),
        "platform": shape.platform,
        "campaign_id": cell("campaign_id") or None,
        "campaign_name": cell("campaign_name") or None,
        "channel": shape.channel if shape.channel else (cell("channel") or None),
        "impressions": convert("impressions", lambda v: count(v, grouped)),
        "clicks": convert("clicks", lambda v: count(v, grouped)),
        "spend": convert("spend", lambda v: money(v, grouped)),
        "currency": currency if currency else convert("currency", active_currency),
        "file_name": name,
    }
    for col in ("date", "campaign_id", "spend", "currency"):
        if row[col] is None:
            raise _CellError(f"{columns.get(col, col)} is required")
    if row["impressions"] is not None and row["clicks"] is not None and row["clicks"] > row["impressions"]:
        raise _CellError(f"more clicks ({row['clicks']}) than impressions ({row['impressions']})")
    for header_name, target in extras.items():
        row[target] = cells[index[header_name]].strip() or None
    return row
