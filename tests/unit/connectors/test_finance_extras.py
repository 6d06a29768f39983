"""Finance pieces not covered by the format tests: the ECB XML rate reader, CSV-over-ECB precedence
in the `fx_rates` resource, and a bank-CSV column map loaded from a JSON file (LTC_FINANCE_CSV_MAP)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.finance.bank_csv import DEFAULT_MAP, load_map, parse_bank_csv
from connectors.finance.fx import read_ecb_xml
from connectors.finance.source import finance_source
from connectors.values import FileFormatError

# eurofxref-hist (many days, newest first, one without USD) and the German CSV map: tests/support
from bank_samples import DEFAULT_LAYOUT, GERMAN, GERMAN_MAP, HIST  # noqa: E402

ECB_NS = ('xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
          'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"')
# eurofxref-daily.xml: one day
DAILY = f"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope {ECB_NS}>
  <gesmes:subject>Reference rates</gesmes:subject>
  <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
  <Cube>
    <Cube time='2025-03-03'>
      <Cube currency='USD' rate='1.0486'/>
      <Cube currency='JPY' rate='157.12'/>
      <Cube currency='GBP' rate='0.82550'/>
    </Cube>
  </Cube>
</gesmes:Envelope>"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _rates(rows) -> dict:
    return {(r["rate_date"].isoformat(), r["currency"], r["reporting_currency"]): r["rate"] for r in rows}


def test_ecb_daily_is_crossed_through_eur_into_the_reporting_currency(tmp_path):
    rows = read_ecb_xml(_write(tmp_path, "eurofxref-daily.xml", DAILY), "usd")
    assert _rates(rows) == {
        ("2025-03-03", "EUR", "USD"): Decimal("1.048600"),
        ("2025-03-03", "GBP", "USD"): Decimal("1.270260"),   # 1.0486 / 0.8255 = 1.2702604482…
        ("2025-03-03", "JPY", "USD"): Decimal("0.006674"),   # 1.0486 / 157.12 = 0.0066738798…
    }
    for row in rows:  # exactly the DECIMAL(18,6) column's 6 places, and a real date
        assert row["rate"].as_tuple().exponent == -6
        assert isinstance(row["rate_date"], dt.date)


def test_ecb_hist_gives_every_day_with_a_reporting_quote_rounded_half_even(tmp_path):
    rates = _rates(read_ecb_xml(_write(tmp_path, "eurofxref-hist.xml", HIST), "USD"))
    assert sorted({k[0] for k in rates}) == ["2025-02-28", "2025-03-03", "2025-03-04"]  # 03-01: no USD
    assert rates[("2025-03-04", "GBP", "USD")] == Decimal("1.265060")
    assert rates[("2025-03-03", "GBP", "USD")] == Decimal("1.270260")
    # 1.0000005 → 1.000000 (half to even; half-up would say 1.000001); 1.0000005 / 0.5 = 2.000001 exactly
    assert rates[("2025-02-28", "EUR", "USD")] == Decimal("1.000000")
    assert rates[("2025-02-28", "GBP", "USD")] == Decimal("2.000001")
    assert not any(k[1] == "USD" for k in rates)  # no USD→USD row
    assert len(rates) == 6


def test_ecb_into_eur_inverts_the_quotes(tmp_path):
    rates = _rates(read_ecb_xml(_write(tmp_path, "eurofxref-daily.xml", DAILY), "EUR"))
    assert rates[("2025-03-03", "USD", "EUR")] == Decimal("0.953652")
    assert rates[("2025-03-03", "GBP", "EUR")] == Decimal("1.211387")
    assert ("2025-03-03", "EUR", "EUR") not in rates


@pytest.mark.parametrize("text, reason", [
    ("<Envelope><Cube><Cube time='2025-03-03'>", "not well-formed"),
    ("<Envelope><Cube/></Envelope>", "no <Cube time"),
    ("<Envelope><Cube><Cube time='2025-03-03'><Cube currency='USD' rate='-1'/></Cube></Cube></Envelope>", "positive"),
    ("<Envelope><Cube><Cube time='2025-13-03'><Cube currency='USD' rate='1'/></Cube></Cube></Envelope>", "2025-13-03"),
    ("<Envelope><Cube><Cube time='2025-03-03'><Cube currency='USD' rate='abc'/></Cube></Cube></Envelope>", "2025-03-03"),
])
def test_malformed_ecb_file_fails_naming_the_file(tmp_path, text, reason):
    with pytest.raises(FileFormatError, match=reason) as exc:
        read_ecb_xml(_write(tmp_path, "eurofxref-bad.xml", text), "USD")
    assert "eurofxref-bad.xml" in str(exc.value)


def test_fx_csv_wins_over_ecb_on_the_same_day_and_currency(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    _write(drop, "eurofxref-hist.xml", HIST)
    # the CSV names EUR→USD for 2025-03-03 (ECB: 1.048600) and adds a currency the ECB file lacks
    _write(drop, "fx_rates.csv", "rate_date,currency,reporting_currency,rate\n"
                                 "2025-03-03,EUR,USD,1.050000\n2025-03-03,CHF,USD,1.110000\n")
    source = finance_source(drop, settle_s=0, reporting_currency="USD")
    rows = [r for page in source.resources["fx_rates"] for r in (page if isinstance(page, list) else [page])]
    rates = _rates(rows)
    assert rates[("2025-03-03", "EUR", "USD")] == Decimal("1.050000")    # the CSV's
    assert rates[("2025-03-03", "CHF", "USD")] == Decimal("1.110000")
    assert rates[("2025-03-03", "GBP", "USD")] == Decimal("1.270260")    # the ECB's, untouched
    assert rates[("2025-03-04", "EUR", "USD")] == Decimal("1.050000")
    assert len(rows) == len(rates) == 7  # one row per key


# ---- a bank CSV column map from LTC_FINANCE_CSV_MAP ---------------------------------------------



def test_csv_map_from_a_json_file_lands_the_same_values_as_the_default_layout(tmp_path):
    spec = load_map(_write(tmp_path, "german.json", json.dumps(GERMAN_MAP)))
    ours = parse_bank_csv(GERMAN.encode(), "german.csv", "sha", spec=spec)
    theirs = parse_bank_csv(DEFAULT_LAYOUT.encode(), "default.csv", "sha")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "file_name"} for r in rows]  # noqa: E731
    assert strip(ours) == strip(theirs)
    assert ours[0]["amount"] == Decimal("1234.56") and ours[1]["credit_debit"] == "DBIT"
    assert ours[1]["amount"] == Decimal("12.50")


def test_csv_map_is_checked_before_any_file(tmp_path):
    bad = {**GERMAN_MAP, "columns": {**GERMAN_MAP["columns"], "colour": "Farbe"}}
    with pytest.raises(ValueError, match="unknown target columns"):
        load_map(_write(tmp_path, "bad.json", json.dumps(bad)))
    unsigned = {**GERMAN_MAP, "signed_amount": False}
    with pytest.raises(ValueError, match="credit_debit"):
        load_map(_write(tmp_path, "unsigned.json", json.dumps(unsigned)))
    # the default layout's header is refused under the German map (bank changed its export)
    with pytest.raises(Exception, match="missing column"):
        parse_bank_csv(DEFAULT_LAYOUT.encode(), "default.csv", spec=load_map(_write(tmp_path, "g.json",
                                                                                    json.dumps(GERMAN_MAP))))
