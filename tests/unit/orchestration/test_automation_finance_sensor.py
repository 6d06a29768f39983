"""The finance-drop sensor: one run per new settled file, keyed by content, never twice.

Every test uses a real temporary drop folder holding real CAMT.053 and bank-CSV statements, read
through the connector's own drop listing (settle window included), and evaluates the sensor with
Dagster's own tick evaluation (`evaluate_tick`), cursor included.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from bank_samples import CAMT, CSV

from connectors.settings import Settings
from orchestration.defs.automation.finance_sensor import DropCursor, finance_drop_sensor, run_key_for
from orchestration.defs.automation.jobs import FINANCE_JOB, finance_ingest_job

SETTLE_S = 0.5


@pytest.fixture
def drop(ltc_home: Path, monkeypatch) -> Path:
    folder = ltc_home / "finance_drop"
    folder.mkdir()
    monkeypatch.setenv("LTC_FINANCE_DROP", str(folder))
    monkeypatch.setenv("LTC_FINANCE_SETTLE_S", str(SETTLE_S))
    return folder


@pytest.fixture
def sensor() -> dg.SensorDefinition:
    return finance_drop_sensor(Settings.from_env(), finance_ingest_job())


def deliver(folder: Path, name: str, text: str, age_s: float = 60) -> Path:
    """A file the bank finished writing `age_s` seconds ago (older than the settle window)."""
    path = folder / name
    path.write_text(text)
    past = time.time() - age_s
    os.utime(path, (past, past))
    return path


def tick(sensor: dg.SensorDefinition, cursor: str | None):
    return sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor))


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_new_statement_starts_one_finance_ingest_keyed_by_its_content(drop: Path, sensor):
    deliver(drop, "camt053_2025-03-01.xml", CAMT)
    data = tick(sensor, None)
    [request] = data.run_requests
    assert request.run_key == run_key_for({sha(CAMT)})
    assert request.tags["ltc/new_files"] == "camt053_2025-03-01.xml"
    assert sensor.job_name == FINANCE_JOB
    assert DropCursor.from_json(data.cursor).known_hashes() == {sha(CAMT)}


def test_the_same_file_never_triggers_twice(drop: Path, sensor):
    path = deliver(drop, "camt053_2025-03-01.xml", CAMT)
    first = tick(sensor, None)
    again = tick(sensor, first.cursor)
    assert again.run_requests == [] and "no new settled file" in again.skip_message
    # touched (new mtime, same bytes), then delivered again under another name: still nothing new
    os.utime(path, (time.time() - 30, time.time() - 30))
    deliver(drop, "resent_copy.xml", CAMT)
    later = tick(sensor, again.cursor)
    assert later.run_requests == [], later.skip_message


def test_a_second_statement_starts_a_run_for_that_file_only(drop: Path, sensor):
    deliver(drop, "camt053_2025-03-01.xml", CAMT)
    first = tick(sensor, None)
    deliver(drop, "bank_2025-03-03.csv", CSV)
    second = tick(sensor, first.cursor)
    [request] = second.run_requests
    assert request.run_key == run_key_for({sha(CSV)}) != first.run_requests[0].run_key
    assert request.tags["ltc/new_files"] == "bank_2025-03-03.csv"


def test_files_still_being_uploaded_do_not_trigger(drop: Path, sensor):
    deliver(drop, "camt053_2025-03-01.xml.part", CAMT)  # the bank's upload suffix
    deliver(drop, "notes.txt", "not a statement")
    data = tick(sensor, None)
    assert data.run_requests == [] and "no new settled file" in data.skip_message


def test_a_file_whose_size_still_moves_is_left_for_a_later_tick(drop: Path, sensor):
    path = drop / "camt053_big.xml"
    path.write_text(CAMT[:50])
    stop = threading.Event()

    def keep_writing():  # the bank's SFTP upload, still appending
        with path.open("a") as handle:
            for char in CAMT[50:]:
                if stop.is_set():
                    break
                handle.write(char)
                handle.flush()
                time.sleep(0.01)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        during = tick(sensor, None)
    finally:
        stop.set()
        writer.join()
    assert during.run_requests == []
    assert path.name not in during.cursor

    # the upload is complete: once settled, the file starts its run
    path.write_text(CAMT)
    os.utime(path, (time.time() - 60, time.time() - 60))
    after = tick(sensor, during.cursor)
    [request] = after.run_requests
    assert request.run_key == run_key_for({sha(CAMT)})


def test_without_a_drop_the_sensor_skips_and_says_what_to_set(ltc_home: Path):
    sensor = finance_drop_sensor(Settings.from_env(), finance_ingest_job())
    data = tick(sensor, None)
    assert data.run_requests == [] and "LTC_FINANCE_DROP is not set" in data.skip_message


def test_the_cursor_round_trips_and_a_corrupt_cursor_counts_as_empty(drop: Path, sensor):
    deliver(drop, "camt053_2025-03-01.xml", CAMT)
    deliver(drop, "bank_2025-03-03.csv", CSV)
    data = tick(sensor, None)
    cursor = DropCursor.from_json(data.cursor)
    assert len(cursor.files) == 2 and cursor.known_hashes() == {sha(CAMT), sha(CSV)}
    assert DropCursor.from_json(cursor.to_json()) == cursor
    assert DropCursor.from_json("not json{") == DropCursor()
    assert DropCursor.from_json('{"v": 99, "files": {}}') == DropCursor()
    # one run for both files together, and the same run key whatever their order
    [request] = data.run_requests
    assert request.run_key == run_key_for([sha(CSV), sha(CAMT)])


def test_a_file_that_left_the_drop_leaves_the_cursor(drop: Path, sensor):
    path = deliver(drop, "camt053_2025-03-01.xml", CAMT)
    first = tick(sensor, None)
    path.unlink()  # e.g. quarantined or archived
    second = tick(sensor, first.cursor)
    assert DropCursor.from_json(second.cursor).files == {}
