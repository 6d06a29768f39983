"""Shared sandbox fixtures: one generated company per test session, read back from its files."""

from __future__ import annotations

import csv
import json
import sqlite3
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.sandbox import generate

CAMT = "{urn:iso:std:iso:20022:tech:xsd:camt.053.001.02}"


@dataclass
class Sandbox:
    """A generated company plus independent readers of what it wrote."""

    dir: Path
    truth: dict

    def sf(self, obj: str) -> list[dict]:
        return json.loads((self.dir / "salesforce" / f"{obj}.json").read_text(), parse_float=Decimal)

    def erp(self, sql: str) -> list[sqlite3.Row]:
        con = sqlite3.connect(self.dir / "erp.sqlite")
        con.row_factory = sqlite3.Row
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def fx(self) -> list[dict]:
        with open(self.dir / "finance" / "fx_rates.csv", newline="") as fh:
            return list(csv.DictReader(fh))

    def adspend(self) -> list[dict]:
        rows = []
        for path in sorted((self.dir / "marketing" / "adspend").glob("adspend_*.csv")):
            with open(path, newline="") as fh:
                rows += list(csv.DictReader(fh))
        return rows

    def entries(self) -> list[dict]:
        """Every CAMT.053 entry, flattened (parsed here with ElementTree, not with the generator)."""
        out = []
        for path in sorted((self.dir / "finance" / "statements").glob("*.xml")):
            root = ET.parse(path).getroot()
            for stmt in root.iter(f"{CAMT}Stmt"):
                for ntry in stmt.iter(f"{CAMT}Ntry"):
                    amt = ntry.find(f"{CAMT}Amt")
                    ustrd = ntry.find(f".//{CAMT}RmtInf/{CAMT}Ustrd")
                    debtor = ntry.find(f".//{CAMT}RltdPties/{CAMT}Dbtr/{CAMT}Nm")
                    out.append({
                        "file": path.name,
                        "ref": ntry.findtext(f"{CAMT}AcctSvcrRef"),
                        "amount": Decimal(amt.text),
                        "currency": amt.get("Ccy"),
                        "cd": ntry.findtext(f"{CAMT}CdtDbtInd"),
                        "booking_date": ntry.findtext(f"{CAMT}BookgDt/{CAMT}Dt"),
                        "ustrd": ustrd.text if ustrd is not None else None,
                        "debtor": debtor.text if debtor is not None else None,
                    })
        return out


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Sandbox:
    out = tmp_path_factory.mktemp("sandbox")
    # every statement as CAMT.053, so these tests can read the bank side with one parser; the
    # MT940/CSV split is covered by tests/integration/test_finance_formats_landing.py and the
    # e2e run, whose figures must still equal the ground truth
    return Sandbox(out, generate(out, seed=42, scale=500, bank_formats=False))
