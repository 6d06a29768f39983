"""The report templates are compiled once, not by every page of every edition (reports/formatting.py:
one environment per process, and Jinja's bytecode cache between processes)."""

from __future__ import annotations

import pytest
from jinja2 import Environment

from reports.formatting import environment

TEMPLATES = ("cash_collection.html.j2", "contract_reconciliation.html.j2")


@pytest.fixture
def new_process():
    """No environment yet, as in a new process; none left behind for the tests that follow."""
    environment.cache_clear()
    yield
    environment.cache_clear()


def _compiled_names(monkeypatch) -> list[str]:
    compiled: list[str] = []
    original = Environment.compile

    def compile_(self, source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return original(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(Environment, "compile", compile_)
    return compiled


def test_the_pages_share_one_environment_and_its_compiled_templates(new_process, monkeypatch):
    compiled = _compiled_names(monkeypatch)
    assert environment() is environment()
    environment().get_template(TEMPLATES[0])
    seen = len(compiled)
    environment().get_template(TEMPLATES[0])
    assert len(compiled) == seen  # the second page's environment compiled nothing again


def test_a_new_environment_loads_the_compiled_templates_from_the_bytecode_cache(new_process, monkeypatch):
    for name in TEMPLATES:  # compiled and stored, if an earlier run did not already
        environment().get_template(name)
    environment.cache_clear()  # as a new process starts with no environment
    compiled = _compiled_names(monkeypatch)
    env = environment()
    assert env.bytecode_cache is not None
    for name in TEMPLATES:
        env.get_template(name)
    assert compiled == []  # loaded from the cache, not compiled from source
