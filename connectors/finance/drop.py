"""The finance file drop: a local folder or any fsspec URL (`s3://bucket/prefix`, `memory://…`).

What is read, and what is left alone:
- bank statements by extension — `*.xml` CAMT.053, `*.sta`/`*.mt940`/`*.940` MT940, `*.csv` bank
  CSV — except the FX files (`fx_rates*.csv`, `fx_rates*.xml`, `eurofxref*.xml`), read by the FX resource;
- never files still being written: `*.part`, `*.tmp`, `*.partial`, `*.crdownload`, names starting with
  `.` or `~`, anything inside a dot-folder (the quarantine folder is one), and files whose size or
  modification time changes during the settle window (`LTC_FINANCE_SETTLE_S`, default 2 s: listed,
  and if any file is younger than the window, listed again after it; only unchanged files are read);
- a file that cannot be parsed is MOVED to the quarantine folder (`LTC_FINANCE_QUARANTINE`, default
  `<drop>/.quarantine`) next to a `<name>.reason.txt`, and reported in `quarantined_files`.

Files are keyed by the sha256 of their bytes (remembered in the dlt source state, i.e. the
warehouse), so the same file delivered twice, under any name, lands once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Callable

import fsspec

from connectors.landing import quarantine_row

log = logging.getLogger(__name__)

IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".filepart")
FORMATS = {".xml": "camt053", ".sta": "mt940", ".mt940": "mt940", ".940": "mt940", ".csv": "bank_csv"}


def is_fx_file(name: str) -> bool:
    low = name.lower()
    return low.startswith("fx_rates") or low.startswith("eurofxref")


@dataclass
class DropFile:
    path: str  # inside the filesystem
    name: str
    source_format: str


class FinanceDrop:
    def __init__(self, location: str, quarantine: str | None = None, settle_s: float = 2.0):
        self.fs, self.root = fsspec.core.url_to_fs(location)
        self.root = self.root.rstrip("/")
        if not self.fs.isdir(self.root):
            raise NotADirectoryError(f"LTC_FINANCE_DROP={location!r} is not a folder")
        if quarantine:
            self.qfs, self.qroot = fsspec.core.url_to_fs(quarantine)
        else:
            self.qfs, self.qroot = self.fs, f"{self.root}/.quarantine"
        self.settle_s = settle_s
        self._settled: list[str] | None = None

    # ---- listing ---------------------------------------------------------------------------
    def _relative(self, path: str) -> str:
        return path[len(self.root):].lstrip("/") if path.startswith(self.root) else path

    def _visible(self, path: str) -> bool:
        parts = self._relative(path).split("/")
        if any(p.startswith((".", "~", "_")) for p in parts[:-1]) or parts[-1].startswith((".", "~")):
            return False
        return not parts[-1].lower().endswith(IN_PROGRESS_SUFFIXES)

    def _stat(self) -> dict[str, tuple]:
        found = self.fs.find(self.root, detail=True)
        out = {}
        for path, info in found.items():
            if info.get("type") == "file" and self._visible(path):
                mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("created")
                out[path] = (info.get("size"), mtime.timestamp() if hasattr(mtime, "timestamp") else mtime)
        return out

    def settled(self) -> list[str]:
        """Visible files whose size and mtime did not move during the settle window, in name order.
        Listed once per run (per `FinanceDrop`): the statements and the FX resources share it, so a
        run waits the window at most once."""
        if self._settled is None:
            self._settled = self._settle()
        return self._settled

    def _settle(self) -> list[str]:
        first = self._stat()
        now = time.time()
        young = [p for p, (_, m) in first.items() if m is None or not isinstance(m, (int, float)) or now - m < self.settle_s]
        if young and self.settle_s > 0:
            time.sleep(self.settle_s)
            second = self._stat()
            changing = {p for p in first if second.get(p) != first[p]}
            if changing:
                log.info("finance drop: %d file(s) still being written, left for the next run", len(changing))
            first = {p: v for p, v in first.items() if p not in changing}
        return sorted(first)

    def statement_files(self) -> list[DropFile]:
        files = []
        for path in self.settled():
            name = path.rsplit("/", 1)[-1]
            fmt = FORMATS.get("." + name.rsplit(".", 1)[-1].lower()) if "." in name else None
            if fmt and not is_fx_file(name):
                files.append(DropFile(path, name, fmt))
        return files

    def fx_files(self) -> list[DropFile]:
        return [DropFile(p, p.rsplit("/", 1)[-1], "fx") for p in self.settled()
                if is_fx_file(p.rsplit("/", 1)[-1]) and p.lower().endswith((".csv", ".xml"))]

    def read(self, path: str) -> bytes:
        return self.fs.cat_file(path)

    # ---- quarantine ------------------------------------------------------------------------
    def quarantine(self, f: DropFile, sha: str, reason: str) -> str | None:
        """Move `f` into the quarantine folder with `<name>.reason.txt`; the new path, or None."""
        self.qfs.makedirs(self.qroot, exist_ok=True)
        target = f"{self.qroot}/{f.name}"
        if self.qfs.exists(target):
            target = f"{self.qroot}/{sha[:12]}_{f.name}"
        try:
            if self.qfs is self.fs:
                self.fs.mv(f.path, target)
            else:
                self.qfs.pipe_file(target, self.read(f.path))
                self.fs.rm(f.path)
            self.qfs.pipe_file(f"{target}.reason.txt",
                               f"file: {self._relative(f.path)}\nsha256: {sha}\nreason: {reason}\n".encode())
            return target
        except OSError as exc:  # read-only drop: still reported in quarantined_files, state remembers it
            log.warning("could not move %s to quarantine: %s", f.path, exc)
            return None


class BankScan:
    """The new statement files of one run, parsed once for both `bank_transactions` and
    `quarantined_files` (same contract as `landing.DropScan`, over a `FinanceDrop`)."""

    def __init__(self, drop: FinanceDrop, parsers: dict[str, Callable[[bytes, str, str], list[dict]]], errors: tuple):
        self.drop, self.parsers, self.errors = drop, parsers, errors
        self._results = None
        self.skipped = 0

    def results(self, seen: dict):
        if self._results is None:
            self._results, this_run = [], set()
            for f in self.drop.statement_files():
                data = self.drop.read(f.path)
                sha = hashlib.sha256(data).hexdigest()
                if sha in seen or sha in this_run:
                    self.skipped += 1
                    continue
                this_run.add(sha)
                try:
                    rows = self.parsers[f.source_format](data, f.name, sha)
                    for row in rows:
                        row["source_format"] = f.source_format
                    self._results.append((f, sha, rows, None))
                except self.errors as exc:
                    reason = str(exc) if f.name in str(exc) else f"{f.name}: {exc}"
                    log.warning("quarantined %s", reason)
                    self._results.append((f, sha, None, reason))
        return self._results

    def landed_pages(self, seen: dict):
        for f, sha, rows, _ in self.results(seen):
            if rows is None:
                continue
            seen[sha] = {"file_name": f.name, "status": "loaded", "rows": len(rows), "format": f.source_format}
            if rows:
                yield rows

    def quarantined(self, seen: dict) -> list[dict]:
        out = []
        for f, sha, rows, reason in self.results(seen):
            if rows is None:
                moved = self.drop.quarantine(f, sha, reason)
                seen[sha] = {"file_name": f.name, "status": "quarantined", "moved_to": moved}
                out.append(quarantine_row(f.name, sha, reason))
        return out
