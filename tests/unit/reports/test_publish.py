"""Publishing report editions (reports/publish.py): layout, manifest, atomic swaps, failures,
concurrent publishers and readers. Pure filesystem: each build writes known bytes, so every
expectation (hashes, sizes, which bytes `latest` shows) is computed from what the test wrote."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import os
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports.publish import latest_edition, list_editions, publish_edition

MARCH = dt.date(2025, 3, 31)
APRIL = dt.date(2025, 4, 30)
FEBRUARY = dt.date(2025, 2, 28)
T0 = dt.datetime(2025, 4, 1, 6, 0, tzinfo=dt.timezone.utc)


def writer(files: dict[str, bytes]):
    """A build that writes `files` (name -> bytes) and returns their paths, in order."""

    def build(staging: Path) -> list[Path]:
        out = []
        for name, data in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            out.append(path)
        return out

    return build


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (following the edition symlinks) by relative name."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def assert_manifest(folder: Path, as_of: dt.date, files: dict[str, bytes]) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["as_of"] == as_of.isoformat()
    assert [f["name"] for f in manifest["files"]] == list(files)
    for entry in manifest["files"]:
        data = files[entry["name"]]
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    return manifest


def snapshot(reports: Path) -> dict:
    """Everything a reader could observe of the published reports."""
    out = {"index": (reports / "index.html").read_bytes(), "latest": os.readlink(reports / "latest")}
    for entry in sorted(reports.iterdir()):
        if entry.name[:1].isdigit():
            out[entry.name] = (os.readlink(entry), tree(entry))
    out["editions"] = sorted(p.name for p in (reports / ".editions").iterdir())
    return out


class _IndexParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.links: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-as-of"):
            self.rows.append(found["data-as-of"])
        for key in ("href", "src"):
            value = found.get(key) or ""
            if tag == "a" and key == "href" and value:
                self.links.append(value)
            if value and ("//" in value or key == "src"):
                self.external.append(value)


def parse_index(reports: Path) -> _IndexParser:
    parser = _IndexParser()
    parser.feed((reports / "index.html").read_text(encoding="utf-8"))
    return parser


def test_publish_creates_edition_latest_index_and_manifest(tmp_path: Path):
    reports = tmp_path / "reports"
    files = {
        "ltc_report.html": b"<html>executive</html>",
        "ltc_workbook.xlsx": os.urandom(5000),
        "charts/funnel.svg": b"<svg/>",
    }
    edition = publish_edition(reports, MARCH, writer(files), generated_at=T0, run_id="run-1")

    folder = reports / "2025-03-31"
    assert folder.is_dir() and (reports / "latest").is_dir()
    assert os.readlink(reports / "latest") == "2025-03-31"
    assert {k: v for k, v in tree(folder).items() if k != "manifest.json"} == files
    assert tree(reports / "latest") == tree(folder)
    manifest = assert_manifest(folder, MARCH, files)
    assert manifest["run_id"] == "run-1"
    assert dt.datetime.fromisoformat(manifest["generated_at"]) == T0

    assert edition.as_of == MARCH and edition.path == folder and edition.run_id == "run-1"
    assert edition.generated_at == T0
    assert [f.name for f in edition.manifest] == list(files)
    assert edition.files == tuple(folder / name for name in files)
    assert [p.read_bytes() for p in edition.files] == list(files.values())
    assert [(f.bytes, f.sha256) for f in edition.manifest] == [
        (len(data), hashlib.sha256(data).hexdigest()) for data in files.values()]
    assert latest_edition(reports) == edition
    assert list_editions(reports) == [edition]

    index = parse_index(reports)
    assert index.rows == ["2025-03-31"]
    for name in files:
        assert f"2025-03-31/{name}" in index.links
    assert index.external == [], "the index must be self-contained"
    # Everything a reader opens is world-readable (mkdtemp/mkstemp would make it private).
    assert os.stat(folder).st_mode & 0o005 == 0o005
    assert os.stat(reports / "index.html").st_mode & 0o004
    assert list((reports / ".staging").iterdir()) == []


def test_newer_as_of_moves_latest_and_backfill_does_not(tmp_path: Path):
    reports = tmp_path / "reports"
    march = {"r.html": b"march"}
    april = {"r.html": b"april"}
    publish_edition(reports, MARCH, writer(march), generated_at=T0)
    publish_edition(reports, APRIL, writer(april), generated_at=T0 + dt.timedelta(days=30))
    assert os.readlink(reports / "latest") == "2025-04-30"
    assert (reports / "latest" / "r.html").read_bytes() == b"april"
    assert (reports / "2025-03-31" / "r.html").read_bytes() == b"march"

    publish_edition(reports, FEBRUARY, writer({"r.html": b"february"}))  # a backfill
    assert os.readlink(reports / "latest") == "2025-04-30"
    assert latest_edition(reports).as_of == APRIL
    assert [e.as_of for e in list_editions(reports)] == [APRIL, MARCH, FEBRUARY]


class Boom(RuntimeError):
    pass


def _raises_midway(staging: Path) -> list[Path]:
    (staging / "r.html").write_bytes(b"half a rep")
    raise Boom("the warehouse went away")


def _returns_nothing(staging: Path) -> list[Path]:
    return []


def _returns_missing_file(staging: Path) -> list[Path]:
    (staging / "r.html").write_bytes(b"complete")
    return [staging / "r.html", staging / "ltc_workbook.xlsx"]


def _returns_outside_file(staging: Path) -> list[Path]:
    outside = staging.parent.parent / "elsewhere.html"
    outside.write_bytes(b"not in the edition")
    return [outside]


@pytest.mark.parametrize(
    "build, error",
    [(_raises_midway, Boom), (_returns_nothing, ValueError), (_returns_missing_file, ValueError),
     (_returns_outside_file, ValueError)],
)
@pytest.mark.parametrize("as_of", [MARCH, APRIL], ids=["same-as-of", "new-as-of"])
def test_failed_build_leaves_the_last_good_edition(tmp_path: Path, build, error, as_of):
    reports = tmp_path / "reports"
    good = {"r.html": b"the last good edition", "w.xlsx": b"workbook"}
    publish_edition(reports, MARCH, writer(good), generated_at=T0)
    before = snapshot(reports)

    with pytest.raises(error):
        publish_edition(reports, as_of, build)

    assert snapshot(reports) == before
    assert not (reports / "2025-04-30").exists()
    assert list((reports / ".staging").iterdir()) == [], "the failed staging folder is left behind"
    assert tree(reports / "latest")["r.html"] == b"the last good edition"
    assert_manifest(reports / "latest", MARCH, good)


def test_republishing_an_as_of_replaces_it(tmp_path: Path):
    reports = tmp_path / "reports"
    first = {"r.html": b"first", "old_only.csv": b"gone in the second"}
    second = {"r.html": b"second, longer than the first"}
    publish_edition(reports, MARCH, writer(first), generated_at=T0, run_id="a")
    first_folder = os.readlink(reports / "2025-03-31")
    edition = publish_edition(reports, MARCH, writer(second), generated_at=T0 + dt.timedelta(hours=1),
                              run_id="b")

    assert os.readlink(reports / "2025-03-31") != first_folder
    assert {k: v for k, v in tree(reports / "2025-03-31").items() if k != "manifest.json"} == second
    assert_manifest(reports / "latest", MARCH, second)
    assert list_editions(reports) == [edition] and edition.run_id == "b"
    assert parse_index(reports).rows == ["2025-03-31"]

    # The superseded folder goes with the next publish (one publish of grace for readers).
    publish_edition(reports, APRIL, writer({"r.html": b"april"}))
    live = {Path(os.readlink(reports / d)).name for d in ("2025-03-31", "2025-04-30")}
    assert {p.name for p in (reports / ".editions").iterdir()} == live


def test_stale_staging_of_a_crashed_run_is_cleaned_up(tmp_path: Path):
    reports = tmp_path / "reports"
    publish_edition(reports, MARCH, writer({"r.html": b"x"}))
    crashed = reports / ".staging" / "2025-04-30-20250501T000000Z-crash"
    (crashed / "sub").mkdir(parents=True)
    (crashed / "sub" / "half.html").write_bytes(b"half")
    orphan = reports / ".editions" / "2025-04-30-20250501T000000Z-orphan"
    orphan.mkdir()  # renamed into place, then the process died before the link swap
    publish_edition(reports, APRIL, writer({"r.html": b"y"}))
    assert list((reports / ".staging").iterdir()) == []
    assert not orphan.exists()
    assert (reports / "2025-03-31" / "r.html").read_bytes() == b"x"


def _payload(version: int, size: int = 300_000) -> bytes:
    """Self-checking content: a header naming the version, then bytes derived from it."""
    head = f"version {version}\n".encode()
    body = hashlib.sha256(head).digest() * (size // 32)
    return head + body


def _check_payload(data: bytes) -> bool:
    head, _, _ = data.partition(b"\n")
    try:
        version = int(head.split()[1])
    except (IndexError, ValueError):
        return False
    return data == _payload(version)


def test_reader_never_sees_a_missing_or_partial_file(tmp_path: Path):
    reports = tmp_path / "reports"
    names = ["ltc_report.html", "collection.html", "workbook.xlsx"]

    def build(version: int):
        return writer({n: _payload(version) for n in names})

    publish_edition(reports, MARCH, build(0))
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            for name in names:
                try:
                    data = (reports / "latest" / name).read_bytes()
                except OSError as exc:
                    problems.append(f"{name}: {exc!r}")
                    continue
                if not _check_payload(data):
                    problems.append(f"{name}: partial or mixed content ({len(data)} bytes)")
                reads[0] += 1
            try:
                json.loads((reports / "latest" / "manifest.json").read_bytes())
            except (OSError, ValueError) as exc:
                problems.append(f"manifest: {exc!r}")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for version in range(1, 25):
            # Mostly replacing the same as-of (the racy case), sometimes moving `latest` on.
            as_of = APRIL if version % 6 == 0 else MARCH
            publish_edition(reports, as_of, build(version))
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert problems == []
    assert reads[0] > 24, "the readers hardly ran: the test proves nothing"
    assert os.readlink(reports / "latest") == "2025-04-30"  # the last publish (24) was April's
    assert (reports / "latest" / names[0]).read_bytes() == _payload(24)


def _timed_build(log_dir: Path, tag: str, data: bytes, pause: float):
    """A slow build that records when it ran, to prove builds never overlapped."""

    def build(staging: Path) -> list[Path]:
        start = time.monotonic()
        (staging / "r.html").write_bytes(data)
        time.sleep(pause)
        (staging / "w.xlsx").write_bytes(data[::-1])
        (log_dir / f"{tag}.json").write_text(json.dumps([start, time.monotonic()]))
        return [staging / "r.html", staging / "w.xlsx"]

    return build


def _publish_in_child(reports: Path, log_dir: Path, tag: str, as_of: dt.date, data: bytes) -> None:
    publish_edition(reports, as_of, _timed_build(log_dir, tag, data, 0.4), run_id=tag)


@pytest.mark.parametrize("kind", ["threads", "processes"])
@pytest.mark.parametrize("same_as_of", [False, True], ids=["two-as-ofs", "one-as-of"])
def test_concurrent_publishes_are_serialised(tmp_path: Path, kind: str, same_as_of: bool):
    reports = tmp_path / "reports"
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    publish_edition(reports, FEBRUARY, writer({"r.html": b"earlier"}))
    jobs = {
        "a": (MARCH, b"edition a " * 1000),
        "b": (MARCH if same_as_of else APRIL, b"edition b " * 1000),
    }
    if kind == "threads":
        workers = [threading.Thread(target=_publish_in_child, args=(reports, log_dir, tag, *job))
                   for tag, job in jobs.items()]
    else:
        ctx = multiprocessing.get_context("fork")
        workers = [ctx.Process(target=_publish_in_child, args=(reports, log_dir, tag, *job))
                   for tag, job in jobs.items()]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    if kind == "processes":
        assert [w.exitcode for w in workers] == [0, 0]

    spans = sorted(json.loads((log_dir / f"{tag}.json").read_text()) for tag in jobs)
    assert len(spans) == 2 and spans[0][1] <= spans[1][0], f"builds overlapped: {spans}"

    editions = {e.as_of: e for e in list_editions(reports)}
    for edition in editions.values():
        if edition.run_id is None:
            continue
        data = jobs[edition.run_id][1]
        assert_manifest(edition.path, edition.as_of, {"r.html": data, "w.xlsx": data[::-1]})
    expected_as_ofs = {FEBRUARY, MARCH} | ({MARCH} if same_as_of else {APRIL})
    assert set(editions) == expected_as_ofs
    assert parse_index(reports).rows == [d.isoformat() for d in sorted(expected_as_ofs, reverse=True)]
    assert os.readlink(reports / "latest") == max(expected_as_ofs).isoformat()
    assert list((reports / ".staging").iterdir()) == []


def test_index_lists_every_edition_newest_first_with_working_links(tmp_path: Path):
    reports = tmp_path / "reports"
    published = {}
    for i, as_of in enumerate([MARCH, FEBRUARY, APRIL, dt.date(2024, 12, 31)]):
        files = {"ltc_report.html": f"report {as_of}".encode(), "cash collection.html": b"c"}
        published[as_of] = publish_edition(reports, as_of, writer(files),
                                           generated_at=T0 + dt.timedelta(days=i), run_id=f"r{i}")
    index = parse_index(reports)
    assert index.rows == [d.isoformat() for d in sorted(published, reverse=True)]
    html = (reports / "index.html").read_text(encoding="utf-8")
    for as_of, edition in published.items():
        assert edition.run_id in html
        assert edition.generated_at.strftime("%Y-%m-%d %H:%M UTC") in html
    # Every link in the index opens an existing file or folder (links are URL-encoded).
    from urllib.parse import unquote

    file_links = [link for link in index.links if not link.endswith("/")]
    assert len(file_links) >= 4 * 3
    for link in index.links:
        assert (reports / unquote(link)).exists(), link
    assert "2025-04-30/cash%20collection.html" in index.links
    assert index.external == []
    assert list_editions(reports) == sorted(published.values(), key=lambda e: e.as_of, reverse=True)


def test_nothing_published_yet(tmp_path: Path):
    assert list_editions(tmp_path / "missing") == []
    assert latest_edition(tmp_path / "missing") is None
    (tmp_path / "reports").mkdir()
    assert latest_edition(tmp_path / "reports") is None


def test_build_may_not_write_the_manifest(tmp_path: Path):
    reports = tmp_path / "reports"
    with pytest.raises(ValueError, match="manifest"):
        publish_edition(reports, MARCH, writer({"manifest.json": b"{}"}))
    assert not (reports / "2025-03-31").exists() and not (reports / "latest").exists()
    assert list((reports / ".staging").iterdir()) == []
