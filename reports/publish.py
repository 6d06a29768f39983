"""Publish report editions under `$LTC_HOME/reports` so a reader never sees a half edition.

An edition is every file a run produced for one as-of date (the HTML reports, the workbook, the
PDF) plus a ``manifest.json`` listing each file with its size and SHA-256. Readers open stable
paths; what sits behind them changes only by atomic renames:

    reports/
      2025-03-31 -> .editions/2025-03-31-20250401T060000Z-k3j2l1   (symlink, one per as-of)
      latest     -> 2025-03-31                                      (symlink, newest as-of)
      index.html                                                    (every edition, newest first)
      .editions/<as-of>-<stamp>-<random>/   the real folders, never modified once published
      .staging/<as-of>-<stamp>-<random>/    a build in progress
      .publish.lock                         serialises publishers (fcntl.flock)

Why it is built this way:

- The build writes into a fresh staging folder. Only when it returns without raising is the
  folder renamed into ``.editions`` and the ``<as-of>`` link swapped to it with ``os.replace``
  (atomic on POSIX). A failed build removes its staging folder and touches nothing else, so the
  last good edition, ``latest`` and the index stay exactly as they were (issue 7: "a failed run
  never overwrites the last good edition").
- ``<as-of>`` and ``latest`` are symlinks rather than folders because a directory cannot be
  replaced atomically by another non-empty one, but a symlink can. ``latest`` points at the
  ``<as-of>`` link (relative), so republishing the newest as-of moves both at once, and
  ``readlink latest`` names the date.
- Superseded folders (an as-of published again) are deleted by the next publish, not right
  after the swap: a reader that resolved ``latest`` an instant before the swap may still be in
  the middle of opening a file there. One publish of grace makes that race practically
  impossible; files already open stay readable anyway (POSIX unlink semantics).
- Publishers hold an exclusive ``flock`` for the whole publish, so two runs (Dagster and a
  manual ``ltc report``, or two threads) are serialised and, holding the lock, a publisher knows
  every staging folder it finds is the leftover of a crashed run and may remove it.
- Files are fsynced before the swap, so a power cut after it cannot leave an edition whose
  manifest promises bytes that never reached the disk.

Plain Python (no Dagster): the report asset and ``ltc report`` both call `publish_edition`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reports.formatting import environment, fmt_date_long, write_atomic
from reports.i18n import _

EDITIONS_DIR = ".editions"
STAGING_DIR = ".staging"
LOCK_FILE = ".publish.lock"
LATEST = "latest"
INDEX = "index.html"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
TEMPLATE = "editions_index.html.j2"
_AS_OF_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class EditionFile:
    """One file of an edition as the manifest records it (`name` is relative, posix style)."""

    name: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Edition:
    """A published edition.

    `path` is the stable reader path ``reports_dir/<as-of>``; `files` are the edition's files
    under it (manifest excluded, main report first), e.g. to attach them to a mail; `manifest`
    has each file's relative name, size and SHA-256 as ``manifest.json`` records them."""

    as_of: dt.date
    path: Path
    files: tuple[Path, ...]
    generated_at: dt.datetime
    run_id: str | None
    manifest: tuple[EditionFile, ...] = ()


# --------------------------------------------------------------------------- reading


def _edition(path: Path, as_of: dt.date, generated_at: dt.datetime, run_id: str | None,
             entries: Iterable[EditionFile]) -> Edition:
    entries = tuple(entries)
    return Edition(as_of=as_of, path=path, files=tuple(path / e.name for e in entries),
                   generated_at=generated_at, run_id=run_id, manifest=entries)


def _edition_from_manifest(path: Path, manifest: dict) -> Edition:
    return _edition(
        path,
        dt.date.fromisoformat(manifest["as_of"]),
        dt.datetime.fromisoformat(manifest["generated_at"]),
        manifest.get("run_id"),
        (EditionFile(f["name"], int(f["bytes"]), f["sha256"]) for f in manifest["files"]),
    )


def _read_edition(path: Path) -> Edition | None:
    """The edition behind `path`, or None when it has no readable manifest.

    Lenient on purpose: the index must still be written when some folder next to the editions
    is not one (a hand-made date folder, a manifest from a newer format)."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        return _edition_from_manifest(path, manifest)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def list_editions(reports_dir: Path) -> list[Edition]:
    """Every published edition, newest as-of first, read from the manifests."""
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        return []
    editions = []
    for entry in reports_dir.iterdir():
        if _AS_OF_NAME.match(entry.name):
            edition = _read_edition(entry)
            if edition is not None:
                editions.append(edition)
    return sorted(editions, key=lambda e: e.as_of, reverse=True)


def latest_edition(reports_dir: Path) -> Edition | None:
    """The edition `latest` points at, or None before the first publish."""
    link = Path(reports_dir) / LATEST
    try:
        as_of_name = os.readlink(link)
    except OSError:
        return None
    return _read_edition(Path(reports_dir) / Path(as_of_name).name)


# --------------------------------------------------------------------------- filesystem helpers


@contextlib.contextmanager
def _locked(reports_dir: Path) -> Iterator[None]:
    """Exclusive lock for one publish. flock is per open file description, so two threads of
    one process that each open the file are serialised as well as two processes."""
    fd = os.open(reports_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _hash_and_sync(path: Path) -> tuple[int, str]:
    """(bytes, sha256) of a file, fsynced while it is open anyway."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
        os.fsync(fh.fileno())
    return size, digest.hexdigest()


def _symlink_atomic(target: str, link: Path) -> None:
    """Point `link` at `target` (relative), replacing whatever link was there in one rename."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _referenced_folders(reports_dir: Path) -> set[str]:
    """Names of the `.editions` folders that some `<as-of>` link points at."""
    names = set()
    for entry in reports_dir.iterdir():
        if _AS_OF_NAME.match(entry.name) and entry.is_symlink():
            target = Path(os.readlink(entry))
            if target.parent.name == EDITIONS_DIR:
                names.add(target.name)
    return names


def _clean_up(reports_dir: Path) -> None:
    """Remove leftovers: staging folders of crashed runs and superseded edition folders.

    Runs under the lock before a new build, so no other publisher is using either; a superseded
    folder has then been unreferenced for at least one whole build (see the module docstring)."""
    staging = reports_dir / STAGING_DIR
    for entry in staging.iterdir():
        _remove(entry)
    keep = _referenced_folders(reports_dir)
    for entry in (reports_dir / EDITIONS_DIR).iterdir():
        if entry.name not in keep:
            _remove(entry)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _adopt_real_folder(reports_dir: Path, as_of_name: str) -> None:
    """A real `<as-of>` folder (written by hand or an older layout) cannot be replaced by a
    symlink in one rename: move it aside into `.editions`, where the next publish removes it.
    The one moment the path is missing only happens on this first migration."""
    link = reports_dir / as_of_name
    if link.is_dir() and not link.is_symlink():
        os.rename(link, reports_dir / EDITIONS_DIR / f".adopted-{as_of_name}-{os.urandom(4).hex()}")


# --------------------------------------------------------------------------- building


def _edition_files(staging: Path, returned: Iterable[Path]) -> list[Path]:
    """The files of the edition, in the order the build returned them, then any other file the
    build left in the folder (the manifest must list everything a reader can open)."""
    staging_real = staging.resolve()
    ordered: list[Path] = []
    for raw in returned:
        path = Path(raw) if Path(raw).is_absolute() else staging / raw
        real = path.resolve()
        if not real.is_relative_to(staging_real):
            raise ValueError(f"build returned {raw}, which is outside the staging folder {staging}")
        if not real.is_file():
            raise ValueError(f"build returned {raw}, which it did not write")
        rel = real.relative_to(staging_real)
        if rel not in ordered:
            ordered.append(rel)
    if not ordered:
        raise ValueError("build returned no files: refusing to publish an empty edition")
    for path in sorted(staging_real.rglob("*")):
        rel = path.relative_to(staging_real)
        if path.is_file() and rel not in ordered:
            ordered.append(rel)
    if Path(MANIFEST) in ordered:
        raise ValueError(f"build wrote {MANIFEST}, a name the edition reserves for its manifest")
    return ordered


def _write_manifest(staging: Path, as_of: dt.date, generated_at: dt.datetime, run_id: str | None,
                    names: list[Path]) -> list[EditionFile]:
    files = []
    for rel in names:
        size, sha = _hash_and_sync(staging / rel)
        files.append(EditionFile(rel.as_posix(), size, sha))
    manifest = {
        "format": MANIFEST_FORMAT,
        "as_of": as_of.isoformat(),
        "generated_at": generated_at.isoformat(),
        "run_id": run_id,
        "files": [{"name": f.name, "bytes": f.bytes, "sha256": f.sha256} for f in files],
    }
    path = staging / MANIFEST
    write_atomic(path, json.dumps(manifest, indent=2) + "\n")
    _hash_and_sync(path)
    return files


def render_index(editions: list[Edition], *, generated_at: dt.datetime) -> str:
    """The index page of every edition (newest first), self-contained: inline CSS, no script."""
    editions = sorted(editions, key=lambda e: e.as_of, reverse=True)
    latest = editions[0] if editions else None
    return environment().get_template(TEMPLATE).render(
        title=_("Report editions"),
        editions=editions,
        latest=latest,
        as_of_iso=latest.as_of.isoformat() if latest else "",
        as_of_long=fmt_date_long(latest.as_of) if latest else _("no edition yet"),
        generated_at=_utc_label(generated_at),
        utc_label=_utc_label,
        kb=_size_label,
    )


def _size_label(size: int) -> str:
    if size < 1024 * 1024:
        return f"{max(1, -(-size // 1024)):,} KB"  # rounded up: a 10-byte file is not "0 KB"
    return f"{size / (1024 * 1024):,.1f} MB"


def _utc_label(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def publish_edition(
    reports_dir: Path,
    as_of: dt.date,
    build: Callable[[Path], Iterable[Path]],
    *,
    generated_at: dt.datetime | None = None,
    run_id: str | None = None,
) -> Edition:
    """Build an edition into a staging folder and, only if `build` succeeds, publish it.

    `build(staging_dir)` writes every file of the edition into `staging_dir` (a fresh, empty
    folder) and returns their paths (absolute, or relative to `staging_dir`), main report first:
    that order is the order of the index and the manifest. If it raises, the staging folder is
    removed and the exception propagates; nothing published changes. Publishing the same as-of
    again replaces that edition atomically. Returns the published edition (its `path` is the
    stable ``reports_dir/<as-of>``).
    """
    reports_dir = Path(reports_dir)
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    if generated_at.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware")
    as_of_name = as_of.isoformat()
    for sub in (EDITIONS_DIR, STAGING_DIR):
        (reports_dir / sub).mkdir(parents=True, exist_ok=True)

    with _locked(reports_dir):
        _clean_up(reports_dir)
        stamp = generated_at.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        staging = Path(tempfile.mkdtemp(prefix=f"{as_of_name}-{stamp}-", dir=reports_dir / STAGING_DIR))
        try:
            os.chmod(staging, 0o755)  # mkdtemp makes it private; a published edition is to be read
            names = _edition_files(staging, build(staging))
            files = _write_manifest(staging, as_of, generated_at, run_id, names)
            edition = _edition(reports_dir / as_of_name, as_of, generated_at, run_id, files)
            # Everything that can fail on content (the index template) fails before the swap.
            others = [e for e in list_editions(reports_dir) if e.as_of != as_of]
            editions = [edition, *others]
            index_html = render_index(editions, generated_at=generated_at)
            for sub in [p for p in sorted(staging.rglob("*"), reverse=True) if p.is_dir()] + [staging]:
                _fsync_dir(sub)
            final = reports_dir / EDITIONS_DIR / staging.name
            os.rename(staging, final)  # same filesystem: atomic; from here on it is not staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _fsync_dir(reports_dir / EDITIONS_DIR)

        _adopt_real_folder(reports_dir, as_of_name)
        _symlink_atomic(f"{EDITIONS_DIR}/{final.name}", reports_dir / as_of_name)
        newest = max(e.as_of for e in editions).isoformat()
        _symlink_atomic(newest, reports_dir / LATEST)
        write_atomic(reports_dir / INDEX, index_html)
        _fsync_dir(reports_dir)
    return edition
