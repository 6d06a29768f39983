"""dlt source over the ad-spend export drop (`LTC_ADSPEND_DROP`, sandbox: `<sandbox>/marketing/adspend`).

`adspend_<YYYY-MM>.csv`: `date,campaign_id,campaign_name,channel,impressions,clicks,spend,currency`,
one row per campaign per day. Read with explicit types (spend `Decimal`, counts `int`), merged on
(`date`, `campaign_id`), so a month re-exported with corrections updates its rows. Files already
landed (same sha256, tracked in the resource state in the warehouse) are skipped; a malformed file
lands one `quarantined_files` row with the reason and the run continues.
"""

from __future__ import annotations

from pathlib import Path

import dlt

from connectors.landing import (
    MONEY,
    DropScan,
    FileFormatError,
    currency_code,
    drop_state,
    exact_decimal,
    iso_date,
    quarantine_resource,
    read_typed_csv,
)


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("negative count")
    return number


AD_SPEND_TYPES = {
    "date": iso_date,
    "campaign_id": str,
    "campaign_name": str,
    "channel": str,
    "impressions": _count,
    "clicks": _count,
    "spend": exact_decimal(2),
    "currency": currency_code,
}
STATE_KEY = "adspend_files"
AD_SPEND_KEY = ("date", "campaign_id")
AD_SPEND_COLUMNS = [
    {"name": "date", "data_type": "date", "nullable": False},
    {"name": "campaign_id", "data_type": "text", "nullable": False},
    {"name": "campaign_name", "data_type": "text"},
    {"name": "channel", "data_type": "text"},
    {"name": "impressions", "data_type": "bigint"},
    {"name": "clicks", "data_type": "bigint"},
    {"name": "spend", **MONEY},
    {"name": "currency", "data_type": "text"},
]


def read_adspend_csv(path: Path) -> list[dict]:
    rows = read_typed_csv(Path(path), AD_SPEND_TYPES)
    for n, row in enumerate(rows, start=2):
        if row["date"] is None or not row["campaign_id"] or row["spend"] is None:
            raise FileFormatError(f"{Path(path).name} line {n}: date, campaign_id and spend are required")
    return rows


@dlt.source(name="marketing", max_table_nesting=0)
def marketing_source(folder: Path, notes: list[str] | None = None):
    notes = notes if notes is not None else []
    folder = Path(folder)

    scan = DropScan(folder, "*.csv", lambda path, sha: read_adspend_csv(path), (FileFormatError,))

    @dlt.resource(
        name="ad_spend",
        write_disposition="merge",
        primary_key=list(AD_SPEND_KEY),
        columns=AD_SPEND_COLUMNS,
    )
    def ad_spend():
        """One row per campaign per day; merge on (date, campaign_id)."""
        files = 0
        for page in scan.landed_pages(drop_state(STATE_KEY)):
            files += 1
            yield page
        notes.append(f"ad_spend: {files} new file(s), {scan.skipped} already landed")

    return [ad_spend, quarantine_resource(scan, STATE_KEY, notes)]
