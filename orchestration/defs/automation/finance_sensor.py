"""Start the finance ingest when a new bank file lands in the finance drop.

Why a sensor and not a schedule: banks deliver statements when they like (overnight batches, an
intraday CAMT.052 export, a manual upload); waiting for the daily refresh leaves cash
application a day behind, and polling the bank on a tight schedule lands nothing most of the time.

What counts as new is decided with the connector's own drop listing (`FinanceDrop`), so the sensor
sees exactly what the ingest will read: statement and FX files only, never `*.part`/`*.tmp`/dot
files, and never a file whose size or mtime still moves during the settle window
(`LTC_FINANCE_SETTLE_S`). A file is identified by the sha256 of its bytes, as the ingest keys it:
the same statement delivered twice, under any name, starts one run, and a file merely touched
(new mtime, same bytes) starts none.

The cursor maps each settled file to (size, mtime, sha256), so a tick re-hashes only files that
are new or changed; files that left the drop (quarantined, archived) leave the cursor. The run key
is derived from the new content hashes, so Dagster itself also refuses to start the same
delivery twice, even after the cursor forgot it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import dagster as dg

from connectors.settings import Settings

if TYPE_CHECKING:  # imported where used: they pull in dlt (1.1 s), which loading the definitions need not
    from connectors.finance.drop import FinanceDrop

FINANCE_SENSOR = "finance_drop_sensor"
_CHUNK = 1 << 20  # hash in 1 MiB reads: a big statement file never sits in memory whole
_CURSOR_VERSION = 1


@dataclass
class DropCursor:
    """The settled files seen at the last tick: fs path → (size, mtime, sha256)."""

    files: dict[str, tuple[int | None, float | None, str]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"v": _CURSOR_VERSION, "files": {p: list(v) for p, v in sorted(self.files.items())}},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> "DropCursor":
        """The cursor, or an empty one for no cursor or an unreadable one (then every settled file
        counts as new once; the ingest's own content-hash state keeps them from landing twice)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if data.get("v") != _CURSOR_VERSION:
                return cls()
            return cls({p: (v[0], v[1], str(v[2])) for p, v in data["files"].items()})
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return cls()

    def known_hashes(self) -> set[str]:
        return {sha for _, _, sha in self.files.values()}


def open_drop(settings: Settings) -> FinanceDrop:
    """The finance drop as the ingest opens it; LandingConfigError/OSError when it is not usable."""
    from connectors.finance.drop import FinanceDrop
    from connectors.landing import LandingConfigError, drop_folder

    location = settings.finance_drop
    if not location:
        raise LandingConfigError("LTC_FINANCE_DROP is not set; point it at the drop folder or s3://bucket/prefix")
    if "://" not in location:  # a local folder: resolved like the ingest does (clear error if missing)
        location = str(drop_folder(location, "LTC_FINANCE_DROP"))
    return FinanceDrop(location, quarantine=settings.finance_quarantine, settle_s=settings.finance_settle_s)


def _timestamp(value) -> float | None:
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value) if isinstance(value, (int, float)) else None


def _fingerprint(drop: FinanceDrop, path: str) -> tuple[int | None, float | None]:
    info = drop.fs.info(path)
    mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("created")
    return info.get("size"), _timestamp(mtime)


def _sha256(drop: FinanceDrop, path: str) -> str:
    digest = hashlib.sha256()
    with drop.fs.open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def scan_drop(drop: FinanceDrop, previous: DropCursor) -> tuple[DropCursor, dict[str, str]]:
    """(the cursor for the files settled now, {sha256: file name} of contents `previous` did not know)."""
    current = DropCursor()
    new: dict[str, str] = {}
    known = previous.known_hashes()
    for f in [*drop.statement_files(), *drop.fx_files()]:
        try:
            size, mtime = _fingerprint(drop, f.path)
            seen = previous.files.get(f.path)
            sha = seen[2] if seen and seen[:2] == (size, mtime) else _sha256(drop, f.path)
        except FileNotFoundError:
            continue  # moved away since the listing (e.g. quarantined by a running ingest)
        current.files[f.path] = (size, mtime, sha)
        if sha not in known:
            new.setdefault(sha, f.name)
    return current, new


def run_key_for(hashes) -> str:
    """One key per set of new contents: the same delivery always maps to the same key."""
    return "finance-drop-" + hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()[:32]


def _names_tag(names: list[str], limit: int = 200) -> str:
    text = ", ".join(sorted(names))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def finance_drop_sensor(settings: Settings, job) -> dg.SensorDefinition:
    @dg.sensor(
        name=FINANCE_SENSOR,
        job=job,
        minimum_interval_seconds=settings.finance_sensor_interval_s,
        description="Starts the finance ingest when a settled statement or FX file with new content "
        "lands in LTC_FINANCE_DROP (content-hash keyed; files still being written are left for a later tick).",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        from connectors.landing import LandingConfigError

        settings_now = Settings.from_env()  # read per tick, like the ingest itself
        try:
            drop = open_drop(settings_now)
        except (LandingConfigError, OSError, ValueError) as exc:
            return dg.SkipReason(f"finance drop not readable: {exc}")
        current, new = scan_drop(drop, DropCursor.from_json(context.cursor))
        context.update_cursor(current.to_json())
        if not new:
            return dg.SkipReason(f"no new settled file in the finance drop ({len(current.files)} known)")
        return dg.RunRequest(
            run_key=run_key_for(new),
            tags={"ltc/trigger": FINANCE_SENSOR, "ltc/new_files": _names_tag(list(new.values()))},
        )

    return _sensor
