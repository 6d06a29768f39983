"""dlt source for marketing: the ad-spend export drop and, when configured, the HubSpot-style API.

Ad spend (`LTC_ADSPEND_DROP`, sandbox: `<sandbox>/marketing/adspend`): CSV exports in our generic
shape (`adspend_<YYYY-MM>.csv`: `date,campaign_id,campaign_name,channel,impressions,clicks,spend,currency`)
or as Google Ads, Meta or LinkedIn write them (`connectors.marketing.adspend` recognises the shape
by its header). All land in `ad_spend`, one row per platform per campaign per day, merged on
(`date`, `platform`, `campaign_id`), so a month re-exported with corrections updates its rows.
Files already landed (same sha256, tracked in the resource state in the warehouse) are skipped.
A file that cannot be read lands one `quarantined_files` row; a row that cannot be read lands one
`quarantined_rows` row (file, line, reason, raw cells) while the good rows of its file still land.

The marketing API (`LTC_MARKETING_API_URL` + `LTC_MARKETING_API_TOKEN`) is paged by
`connectors.marketing.hubspot` and lands as Arrow tables: `hubspot_campaigns`, `hubspot_contacts`
(with `hubspot_contacts__lifecyclestage_history`), `hubspot_forms` and `hubspot_form_submissions`.
The ad-spend rows stay dicts through dlt's normaliser: one row per campaign-day, ~1.4k at any
scale of the sandbox (campaigns do not grow with leads), well under a second.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dlt

from connectors.landing import (
    QUARANTINE_TABLE,
    DropScan,
    drop_state,
    quarantine_row,
    utc_now,
)
from connectors.marketing.adspend import ParsedFile, parse_adspend
from connectors.values import MONEY, FileFormatError

log = logging.getLogger(__name__)

STATE_KEY = "adspend_files"
AD_SPEND_KEY = ("date", "platform", "campaign_id")
QUARANTINED_ROWS = "quarantined_rows"
ADSPEND_TABLES = ("ad_spend", QUARANTINED_ROWS, QUARANTINE_TABLE)
AD_SPEND_COLUMNS = [
    {"name": "date", "data_type": "date", "nullable": False},
    # nullable although part of the key: dlt makes key columns NOT NULL, and DuckDB/Postgres cannot
    # add a NOT NULL column to an ad_spend table landed before platforms existed (its rows keep NULL)
    {"name": "platform", "data_type": "text", "nullable": True},
    {"name": "campaign_id", "data_type": "text", "nullable": False},
    {"name": "campaign_name", "data_type": "text"},
    {"name": "channel", "data_type": "text"},
    {"name": "impressions", "data_type": "bigint"},
    {"name": "clicks", "data_type": "bigint"},
    {"name": "spend", **MONEY},
    {"name": "currency", "data_type": "text"},
    {"name": "file_name", "data_type": "text"},
]
QUARANTINED_ROWS_COLUMNS = [
    {"name": "file_sha256", "data_type": "text", "nullable": False},
    {"name": "line", "data_type": "bigint", "nullable": False},
    {"name": "file_name", "data_type": "text"},
    {"name": "reason", "data_type": "text"},
    {"name": "raw", "data_type": "text"},  # the row's cells as a JSON array, as delivered
    {"name": "quarantined_at", "data_type": "timestamp", "timezone": True},
]
# New columns (extra export columns) may appear; a column changing type may not: that would make
# dlt create a variant column and readers would silently miss values.
AD_SPEND_CONTRACT = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}


def read_adspend_csv(path: Path) -> list[dict]:
    """All rows of one export, or `FileFormatError` naming the file and the first bad row
    (strict reading, for callers that want all or nothing)."""
    parsed = parse_adspend(Path(path))
    if parsed.bad_rows:
        raise FileFormatError(parsed.bad_rows[0]["reason"])
    return parsed.rows


def _read_export(path: Path, sha: str) -> ParsedFile:
    """One export for `DropScan`: whole-file problems raise `FileFormatError` (the file goes to
    quarantine); bad rows stay in the `ParsedFile` for `quarantined_rows`, the good ones land."""
    parsed = parse_adspend(path)
    if parsed.bad_rows:
        log.warning("%s: %s", path.name, parsed.summary())
    return parsed


def adspend_scan(folder: Path) -> DropScan:
    """The new files of the drop, read once per run for the three resources that share them.

    `seen` (dlt source state, i.e. kept in the warehouse) maps sha256 → what became of the file, so
    a file delivered twice, even under another name, is read once. The three resources always run
    together (see `connectors.ingest._marketing`), so marking a file in `ad_spend` is safe.
    """
    return DropScan(folder, "*.csv", _read_export, (FileFormatError,))


@dlt.source(name="marketing", max_table_nesting=1)
def marketing_source(folder: Path | None, notes: list[str] | None = None, api=None, first_loads=()):
    """`folder`: the ad-spend drop (None: no ad-spend resources). `api`: a
    `connectors.marketing.hubspot.HubSpotApi` (None: no API resources); `first_loads`: API tables
    that are empty (see `connectors.marketing.hubspot.prepare_landing`)."""
    notes = notes if notes is not None else []
    resources = []
    if folder is not None:
        resources += adspend_resources(Path(folder), notes)
    if api is not None:
        from connectors.marketing.hubspot import hubspot_resources

        resources += hubspot_resources(api, notes, first_loads)
    return resources


def adspend_resources(folder: Path, notes: list[str]) -> list:
    scan = adspend_scan(folder)

    @dlt.resource(name="ad_spend", write_disposition="merge", primary_key=list(AD_SPEND_KEY),
                  columns=AD_SPEND_COLUMNS, schema_contract=AD_SPEND_CONTRACT, max_table_nesting=0)
    def ad_spend():
        """One row per platform per campaign per day; merge on (date, platform, campaign_id)."""
        seen = drop_state(STATE_KEY)
        files = rows = 0
        for path, sha, parsed, _ in scan.results(seen):
            if parsed is None:
                continue
            files += 1
            seen[sha] = {"file_name": path.name, "status": "loaded", "platform": parsed.platform,
                         "rows": len(parsed.rows), "quarantined_rows": len(parsed.bad_rows)}
            if parsed.rows:
                rows += len(parsed.rows)
                yield parsed.rows
        notes.append(f"ad_spend: {files} new file(s), {rows} row(s), {scan.skipped} file(s) already landed")

    @dlt.resource(name=QUARANTINED_ROWS, write_disposition="merge", primary_key=["file_sha256", "line"],
                  columns=QUARANTINED_ROWS_COLUMNS, max_table_nesting=0)
    def quarantined_rows():
        """One row per export row that could not be read: file, line, reason, raw cells."""
        out = []
        now = utc_now()
        for path, sha, parsed, _ in scan.results(drop_state(STATE_KEY)):
            if parsed is None:
                continue
            for bad in parsed.bad_rows:
                out.append({"file_sha256": sha, "line": bad["line"], "file_name": path.name,
                            "reason": bad["reason"][:1000], "raw": json.dumps(bad["raw"], ensure_ascii=False),
                            "quarantined_at": now})
        if out:
            notes.append(f"{QUARANTINED_ROWS}: {len(out)} row(s)")
            yield out

    @dlt.resource(name=QUARANTINE_TABLE, write_disposition="merge", primary_key="file_sha256",
                  columns=[{"name": "file_sha256", "data_type": "text", "nullable": False},
                           {"name": "file_name", "data_type": "text"}, {"name": "reason", "data_type": "text"},
                           {"name": "quarantined_at", "data_type": "timestamp", "timezone": True}],
                  max_table_nesting=0)
    def quarantined_files():
        """One row per delivered file that could not be read, or had rows set aside (see
        `quarantined_rows`); merge on file_sha256."""
        seen = drop_state(STATE_KEY)
        out = []
        for path, sha, parsed, reason in scan.results(seen):
            if parsed is None:
                seen[sha] = {"file_name": path.name, "status": "quarantined"}
                out.append(quarantine_row(path.name, sha, reason))
            elif parsed.bad_rows:
                out.append(quarantine_row(path.name, sha, parsed.summary()))
        if out:
            notes.append(f"{QUARANTINE_TABLE}: {', '.join(r['file_name'] for r in out)}")
            yield out

    return [ad_spend, quarantined_rows, quarantined_files]

