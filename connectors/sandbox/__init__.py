"""The sandbox company: a synthetic, seeded company and the local fakes that serve it.

`generate()` writes the company's source systems and its ground truth (docs/contracts.md §1);
`FakeSalesforce` serves the generated org over a local Salesforce REST API, so the real
connectors run unchanged against it.
"""

from connectors.sandbox.fake_salesforce import FakeSalesforce
from connectors.sandbox.generator import generate

__all__ = ["FakeSalesforce", "generate"]
