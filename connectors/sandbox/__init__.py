"""The sandbox company: a synthetic, seeded company and the local fakes that serve it.

`generate()` writes the company's source systems and its ground truth (docs/contracts.md §1);
`FakeSalesforce` serves the generated org over a local Salesforce REST API, so the real
connectors run unchanged against it.

Both are imported lazily (PEP 562), so `python -m connectors.sandbox.fake_salesforce` does not
find its own module already imported by the package (runpy's RuntimeWarning).
"""

from __future__ import annotations

__all__ = ["FakeSalesforce", "generate"]


def __getattr__(name: str):
    if name == "FakeSalesforce":
        from connectors.sandbox.fake_salesforce import FakeSalesforce

        return FakeSalesforce
    if name == "generate":
        from connectors.sandbox.generator import generate

        return generate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
