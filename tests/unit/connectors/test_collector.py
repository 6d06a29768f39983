"""connectors/collector.py: full collections off (for good, or for a block), the young generations'
thresholds untouched, and the process's thresholds restored once the last paused block ends, even
when blocks on several threads overlap or one fails."""

from __future__ import annotations

import gc
import threading

import pytest

from connectors.collector import FULL_COLLECTION_AFTER, full_collections_off, full_collections_paused


@pytest.fixture
def thresholds():
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield (700, 10, 10)
    gc.set_threshold(*saved)


def test_full_collections_off_keeps_the_young_generations(thresholds):
    full_collections_off()
    assert gc.get_threshold() == (700, 10, FULL_COLLECTION_AFTER)
    assert gc.isenabled()


def test_a_paused_block_restores_the_thresholds_even_when_it_fails(thresholds):
    with pytest.raises(RuntimeError):
        with full_collections_paused():
            assert gc.get_threshold() == (700, 10, FULL_COLLECTION_AFTER)
            raise RuntimeError("the block failed")
    assert gc.get_threshold() == thresholds


def test_overlapping_blocks_restore_only_when_the_last_one_ends(thresholds):
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with full_collections_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with full_collections_paused():
            second_in.set()
            first_out.wait(5)
            seen["after_first_left"] = gc.get_threshold()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["after_first_left"] == (700, 10, FULL_COLLECTION_AFTER)
    assert gc.get_threshold() == thresholds
