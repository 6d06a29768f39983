"""Land the sandbox company into a fresh DuckDB file through the real connectors.

generate (connectors.sandbox.generator) -> serve its Salesforce JSON on 127.0.0.1 -> run_ingest for
salesforce, erp, finance and marketing -> the raw_<system> tables dbt reads. The Salesforce fake is
the sandbox's own `FakeSalesforce` when it exists, else the connector unit tests' MiniSalesforce
fed with the sandbox schema's field types.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _salesforce_fake(root: Path):
    try:
        from connectors.sandbox import FakeSalesforce  # type: ignore[attr-defined]
    except ImportError:
        FakeSalesforce = None
    if FakeSalesforce is not None:
        return FakeSalesforce(root, port=0, batch_size=2000)

    from connectors.sandbox.sf_schema import SCHEMAS

    spec = importlib.util.spec_from_file_location(
        "sf_fake_server", REPO / "tests" / "unit" / "connectors" / "sf_fake_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    objects = {}
    for path in sorted((root / "salesforce").glob("*.json")):
        schema = SCHEMAS[path.stem]
        objects[path.stem] = {
            "fields": [{"name": f.name, "type": f.type} for f in schema.fields if f.type != "address"],
            "records": json.loads(path.read_text()),
        }
    return module.MiniSalesforce(objects, token="sandbox-token", batch_size=2000)


def land_sandbox(tmp_path: Path, seed: int, scale: int, monkeypatch, region: str = "default") -> tuple[Path, dict]:
    """Generate the sandbox (of `region`, generator.World) under tmp_path, ingest all four systems;
    return (duckdb path, truth)."""
    from connectors.ingest import run_ingest
    from connectors.sandbox.generator import generate
    from connectors.settings import Settings

    home = tmp_path / "ltc_home"
    root = home / "sandbox"
    truth = generate(root, seed=seed, scale=scale, region=region)
    db = home / "warehouse.duckdb"
    monkeypatch.setenv("LTC_HOME", str(home))
    monkeypatch.setenv("LTC_DUCKDB_PATH", str(db))
    monkeypatch.setenv("LTC_WAREHOUSE", "duckdb")
    monkeypatch.setenv("LTC_ERP_URL", f"sqlite:///{root / 'erp.sqlite'}")
    monkeypatch.setenv("LTC_FINANCE_DROP", str(root / "finance"))
    monkeypatch.setenv("LTC_ADSPEND_DROP", str(root / "marketing" / "adspend"))

    fake = _salesforce_fake(root)
    url = fake.start()
    try:
        monkeypatch.setenv("SALESFORCE_INSTANCE_URL", url)
        monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "sandbox-token")
        settings = Settings.from_env()
        for system in ("salesforce", "erp", "finance", "marketing"):
            run_ingest(system, settings)
    finally:
        fake.stop()
    return db, truth
