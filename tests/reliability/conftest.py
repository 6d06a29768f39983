"""The fault-injection and security suite (issue 9): every test under tests/reliability is marked
`reliability`, so `make test` leaves it out and `make test-reliability` (run by .ci/run) runs it.

The suite proves the pipeline's promises to finance: a crash, an API fault or a bad file either
recovers or stops with an actionable message; nothing is lost, nothing duplicated, nothing leaked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)
