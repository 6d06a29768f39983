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
import multiprocessing
import os
import threading
import time
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Callable

import fsspec
import pyarrow as pa

from connectors.finance.readers import parse_file
from connectors.landing import quarantine_row

log = logging.getLogger(__name__)

IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".filepart")
# below this many bytes of new statement files a run parses in-process: starting the worker
# processes (~1 s, importing pyarrow and lxml) costs more than it saves
PARALLEL_MIN_BYTES = 16 * 2**20
FORMATS = {".xml": "camt053", ".sta": "mt940", ".mt940": "mt940", ".940": "mt940", ".csv": "bank_csv"}


def is_fx_file(name: str) -> bool:
    low = name.lower()
    return low.startswith("fx_rates") or low.startswith("eurofxref")


@dataclass
class DropFile:
    path: str  # inside the filesystem
    name: str
    source_format: str
    size: int | None = None


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
        self._settled: dict[str, tuple] | None = None  # path → (size, mtime)

    # ---- listing ---------------------------------------------------------------------------
    def _relative(self, path: str) -> str:
        return path[len(self.root):].lstrip("/") if path.startswith(self.root) else path

    def _visible(self, path: str) -> bool:
        parts = self._relative(path).split("/")
        if any(p.startswith((".", "~", "_")) for p in parts[:-1]) or parts[-1].startswith((".", "~")):
            return False
        return not parts[-1].lower().endswith(IN_PROGRESS_SUFFIXES)

    def _stat(self) -> dict[str, tuple]:
        # fsspec reuses one filesystem instance across runs in a process and s3fs caches listings in
        # it: without this, a file the bank uploaded since the last run is listed stale (FileNotFoundError)
        self.fs.invalidate_cache()
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
        return sorted(self._settled)

    def _settle(self) -> dict[str, tuple]:
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
        return first

    def statement_files(self) -> list[DropFile]:
        files = []
        for path in self.settled():
            name = path.rsplit("/", 1)[-1]
            fmt = FORMATS.get("." + name.rsplit(".", 1)[-1].lower()) if "." in name else None
            if fmt and not is_fx_file(name):
                files.append(DropFile(path, name, fmt, self._settled[path][0]))
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


def _pool_context():
    # forkserver: workers start from a clean process, not a fork of one holding DuckDB, dlt and
    # pyarrow threads (forking a threaded process can deadlock); spawn where there is no forkserver
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        ctx.set_forkserver_preload(["connectors.finance.parse_worker"])
    return ctx


def _start_in_background(pool: ProcessPoolExecutor, workers: int) -> threading.Event:
    """Start the pool's processes from a thread; the event is set once they answer. Starting blocks
    the caller until the forkserver has preloaded (3.3 s measured), time this process spends parsing."""
    ready = threading.Event()

    def start():
        try:
            for probe in [pool.submit(os.getpid) for _ in range(workers)]:
                probe.result()
            ready.set()
        except CancelledError:
            pass  # this process parsed everything before the workers were up; the pool was shut down
        except RuntimeError as exc:
            if "shutdown" not in str(exc):
                raise
        except Exception as exc:  # noqa: BLE001 - no workers: this process parses everything
            log.warning("finance: statement parser processes did not start (%s); parsing in-process", exc)

    threading.Thread(target=start, name="ltc-parse-pool-start", daemon=True).start()
    return ready


class BankScan:
    """The new statement files of one run, parsed once for both `bank_transactions` and
    `quarantined_files` (same contract as `landing.DropScan`, over a `FinanceDrop`).

    Parsing is CPU-bound and per file. When a run has more than `PARALLEL_MIN_BYTES` of statement
    files, up to `workers` extra processes parse alongside this one: each file read (and hashed)
    here goes to a worker when one has fewer than two files queued, else it is parsed here. So this
    process keeps parsing while the workers start (~3 s on the 2-core benchmark machine, most of it
    Arrow registering its compute kernels), and memory holds the queued files' bytes plus the
    parsed Arrow rows. Results come back in file-name order."""

    def __init__(self, drop: FinanceDrop, parsers: dict[str, Callable[[bytes, str, str], pa.Table]], errors: tuple,
                 workers: int = 0):
        self.drop, self.parsers, self.errors, self.workers = drop, parsers, errors, max(0, workers)
        self._results = None
        self.skipped = 0
        self.parsed_by_workers = 0
        self._pool: ProcessPoolExecutor | None = None
        self._ready: threading.Event | None = None

    def _wants_workers(self) -> bool:
        files = self.drop.statement_files()
        return bool(self.workers) and len(files) > 1 and sum(f.size or 0 for f in files) >= PARALLEL_MIN_BYTES

    def start_workers(self) -> None:
        """Start the worker processes now, if this run will use them, so they are up by the time
        parsing begins: `run_ingest` calls this before dlt sets up the pipeline (~1.5 s), which is
        longer than a worker takes to start (0.8 s). Pair with `close()`."""
        if self._pool is None and self._results is None and self._wants_workers():
            self._pool = ProcessPoolExecutor(self.workers, mp_context=_pool_context())
            self._ready = _start_in_background(self._pool, self.workers)

    def close(self) -> None:
        """Stop the worker processes (a no-op once the parse is done, or if they never started)."""
        if self._pool is not None:
            # what may still run is the start-up probe of workers this run did not wait for: do not wait
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._ready = None

    def _new_files(self, seen: dict):
        """(file, sha256, bytes) of every statement file not landed before, nor earlier in this run."""
        this_run = set()
        for f in self.drop.statement_files():
            data = self.drop.read(f.path)
            sha = hashlib.sha256(data).hexdigest()
            if sha in seen or sha in this_run:
                self.skipped += 1
                continue
            this_run.add(sha)
            yield f, sha, data

    def _parse_here(self, f: DropFile, sha: str, data: bytes) -> tuple:
        return parse_file(self.parsers[f.source_format], self.errors, data, f.name, sha)

    def _parsed(self, seen: dict) -> list:
        if self._pool is not None or self._wants_workers():
            return self._parsed_with_workers(seen)
        return [(f, sha, self._parse_here(f, sha, data)) for f, sha, data in self._new_files(seen)]

    def _parsed_with_workers(self, seen: dict) -> list:
        slots = []  # [file, sha, (table, reason) or Future, bytes while queued]
        queued: set = set()
        self.start_workers()
        pool, ready = self._pool, self._ready
        try:
            for f, sha, data in self._new_files(seen):
                queued = {q for q in queued if not q.done()}
                if ready.is_set() and len(queued) < 2 * self.workers:
                    future = pool.submit(parse_file, self.parsers[f.source_format], self.errors, data, f.name, sha)
                    queued.add(future)
                    slots.append([f, sha, future, data])
                else:
                    slots.append([f, sha, self._parse_here(f, sha, data), None])
            for slot in slots:
                if isinstance(slot[2], Future):
                    slot[2] = self._worker_result(*slot)
                    self.parsed_by_workers += 1
        finally:
            self.close()  # every result is in by now
        return [(f, sha, outcome) for f, sha, outcome, _ in slots]

    def _worker_result(self, f: DropFile, sha: str, future: Future, data: bytes) -> tuple:
        try:
            return future.result()
        except BrokenProcessPool as exc:
            # e.g. a script calling run_ingest without an `if __name__ == "__main__":` guard (workers
            # re-import the main module): parse here, slower but complete
            log.warning("finance: a statement parser process failed (%s); parsing %s in-process", exc, f.name)
            return self._parse_here(f, sha, data)

    def results(self, seen: dict):
        """[(file, sha256, Arrow rows or None, quarantine reason or None)], in file-name order."""
        if self._results is None:
            self._results = []
            for f, sha, (table, reason) in self._parsed(seen):
                if reason is not None:
                    log.warning("quarantined %s", reason)
                self._results.append((f, sha, table, reason))
        return self._results

    def landed_pages(self, seen: dict):
        for f, sha, table, _ in self.results(seen):
            if table is None:
                continue
            seen[sha] = {"file_name": f.name, "status": "loaded", "rows": table.num_rows, "format": f.source_format}
            if table.num_rows:
                yield table

    def quarantined(self, seen: dict) -> list[dict]:
        out = []
        for f, sha, table, reason in self.results(seen):
            if table is None:
                moved = self.drop.quarantine(f, sha, reason)
                seen[sha] = {"file_name": f.name, "status": "quarantined", "moved_to": moved}
                out.append(quarantine_row(f.name, sha, reason))
        return out
