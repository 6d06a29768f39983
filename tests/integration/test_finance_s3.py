"""The finance drop on a real S3 API: moto's S3 server (HTTP on 127.0.0.1, in a thread) behind s3fs,
the connector pointed at `s3://bucket/prefix` exactly as in production (`LTC_FINANCE_DROP`).

The endpoint reaches s3fs through the environment only — `AWS_ENDPOINT_URL`, which botocore (under
s3fs/aiobotocore) reads for every client it builds — plus dummy credentials and a region: the
connector gets no storage options from the test. The bank's side (uploads, looking into the
quarantine) is a second s3fs client without instance or listing cache, as another process would be.

Needs the `test` extra (s3fs, moto[s3], flask, flask-cors); without it the test skips, or fails when
LTC_REQUIRE_SERVICES=1 (CI), see tests/conftest.py.
"""

from __future__ import annotations

import importlib.util
import os
import urllib.request
from decimal import Decimal

import pytest

from connectors.ingest import run_ingest

from warehouse import query  # noqa: E402 - tests/support
from bank_samples import CAMT, CSV, MT  # noqa: E402 - tests/support, see tests/conftest.py

BUCKET = "ltc-finance-drop"
DROP = f"{BUCKET}/incoming/bank"
# an MT940 whose :61: has month 13: unreadable (by the library and by every dialect) → quarantined
CORRUPT_MT940 = MT.replace(":61:250302", ":61:251302").encode()
FX = b"rate_date,currency,reporting_currency,rate\n2025-03-03,EUR,USD,1.050000\n"
NEEDS = ("s3fs", "moto", "flask", "flask_cors")


@pytest.fixture
def s3(require_service, monkeypatch, tmp_path):
    """A moto S3 server on a free port; yields the bank's s3fs client (the bucket exists)."""
    missing = [m for m in NEEDS if importlib.util.find_spec(m) is None]
    require_service(not missing, f"S3 test server: {', '.join(missing)} not installed (pip install -e '.[test]')")
    import s3fs
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    _reset(host, port)  # moto keeps its buckets in process-wide state, shared by every server
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("NO_PROXY", ",".join(filter(None, [host, os.environ.get("NO_PROXY")])))  # never via a proxy
    s3fs.S3FileSystem.clear_instance_cache()  # no client built against another test's server
    bank = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    bank.mkdir(BUCKET)
    try:
        yield bank
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        _reset(host, port)
        server.stop()


def _reset(host: str, port: int) -> None:
    request = urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as response:
        assert response.status == 200


def test_s3_drop_lands_once_and_quarantines_inside_the_bucket(ltc_home, monkeypatch, s3):
    s3.pipe_file(f"{DROP}/statements/a.xml", CAMT.encode())
    s3.pipe_file(f"{DROP}/statements/b.sta", MT.encode())
    s3.pipe_file(f"{DROP}/c.csv", CSV.encode())
    s3.pipe_file(f"{DROP}/statements/corrupt.sta", CORRUPT_MT940)
    s3.pipe_file(f"{DROP}/fx_rates.csv", FX)
    monkeypatch.setenv("LTC_FINANCE_DROP", f"s3://{DROP}")
    monkeypatch.setenv("LTC_FINANCE_SETTLE_S", "0")

    first = run_ingest("finance")
    assert first.rows_loaded.get("bank_transactions") == 3
    bank = query("select transaction_id, source_format, amount, currency from raw_finance.bank_transactions order by 1")
    assert bank == [("B1", "bank_csv", Decimal("30.25"), "USD"), ("C1", "camt053", Decimal("10.00"), "EUR"),
                    ("M1", "mt940", Decimal("20.50"), "GBP")]
    assert query("select currency, rate from raw_finance.fx_rates") == [("EUR", Decimal("1.050000"))]

    # the corrupt statement: moved to <drop>/.quarantine/ in the bucket, its reason next to it
    (quarantined,) = query("select file_name, reason from raw_finance.quarantined_files")
    assert quarantined[0] == "corrupt.sta" and "not a readable MT940 statement" in quarantined[1]
    assert not s3.exists(f"{DROP}/statements/corrupt.sta")
    assert s3.cat_file(f"{DROP}/.quarantine/corrupt.sta") == CORRUPT_MT940
    reason = s3.cat_file(f"{DROP}/.quarantine/corrupt.sta.reason.txt").decode()
    assert "file: statements/corrupt.sta" in reason and "reason: corrupt.sta" in reason
    assert s3.exists(f"{DROP}/statements/b.sta")  # landed files stay where the bank put them

    # a second run over the same bucket lands nothing and changes nothing
    tables = "select * exclude (_dlt_id, _dlt_load_id) from raw_finance.bank_transactions order by transaction_id"
    before = query(tables)
    second = run_ingest("finance")
    assert not second.rows_loaded.get("bank_transactions")
    assert query(tables) == before
    assert len(query("select * from raw_finance.quarantined_files")) == 1


def test_a_file_uploaded_between_runs_lands_in_the_next_run(ltc_home, monkeypatch, s3):
    """The connector runs in a long-lived process (Dagster schedule, `ltc dev`); the bank uploads
    through its own client between two runs."""
    s3.pipe_file(f"{DROP}/statements/a.xml", CAMT.encode())
    monkeypatch.setenv("LTC_FINANCE_DROP", f"s3://{DROP}")
    monkeypatch.setenv("LTC_FINANCE_SETTLE_S", "0")
    assert run_ingest("finance").rows_loaded.get("bank_transactions") == 1

    s3.pipe_file(f"{DROP}/statements/d.xml", CAMT.replace("<AcctSvcrRef>C1<", "<AcctSvcrRef>C2<").encode())
    assert run_ingest("finance").rows_loaded.get("bank_transactions") == 1
    assert query("select transaction_id from raw_finance.bank_transactions order by 1") == [("C1",), ("C2",)]
