"""Small bank files the finance tests share: one CAMT.053, MT940 and bank-CSV statement with one
transaction each, an ECB eurofxref-hist file, and a German bank CSV with its column map plus the
same two transactions in the sandbox bank's layout.

Kept here (on `sys.path` through tests/conftest.py) because tests/ has no packages: test modules
cannot import each other.
"""

from connectors.finance.bank_csv import DEFAULT_MAP

CAMT = """<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<Stmt><Id>S1</Id><Acct><Id><IBAN>DE001</IBAN></Id><Ccy>EUR</Ccy></Acct><Ntry><Amt Ccy="EUR">10.00</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2025-03-01</Dt></BookgDt><ValDt><Dt>2025-03-01</Dt></ValDt>
<AcctSvcrRef>C1</AcctSvcrRef></Ntry></Stmt></BkToCstmrStmt></Document>"""
MT = """:20:S2\r\n:25:GB001\r\n:28C:1/1\r\n:60F:C250301GBP0,00\r\n:61:2503020302C20,50NTRFNONREF//M1\r
:86:166?00GUTSCHRIFT?20EREF+E2SVWZ+INV-2?31GB99X?32PAYER\r\n:62F:C250331GBP20,50\r\n-\r\n"""
CSV = ",".join(DEFAULT_MAP["columns"].values()) + "\nB1,S3,US001,2025-03-03,,CRDT,30.25,USD,,Payer,,INV-3\n"
HIST = """<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <Cube>
    <Cube time="2025-03-04"><Cube currency="USD" rate="1.0500"/><Cube currency="GBP" rate="0.8300"/></Cube>
    <Cube time="2025-03-03"><Cube currency="USD" rate="1.0486"/><Cube currency="GBP" rate="0.82550"/></Cube>
    <Cube time="2025-03-01"><Cube currency="GBP" rate="0.8200"/></Cube>
    <Cube time="2025-02-28"><Cube currency="USD" rate="1.0000005"/><Cube currency="GBP" rate="0.5"/></Cube>
  </Cube>
</gesmes:Envelope>"""
GERMAN_MAP = {
    "columns": {"transaction_id": "Buchungsreferenz", "account_iban": "Konto", "booking_date": "Buchungstag",
                "value_date": "Valuta", "amount": "Betrag", "currency": "Waehrung",
                "debtor_name": "Auftraggeber", "debtor_iban": "IBAN Auftraggeber",
                "remittance_unstructured": "Verwendungszweck"},
    "ignore": ["Saldo"], "delimiter": ";", "date_format": "%d.%m.%Y", "decimal_comma": True, "signed_amount": True,
}
GERMAN = ("Buchungsreferenz;Konto;Buchungstag;Valuta;Betrag;Waehrung;Auftraggeber;IBAN Auftraggeber;"
          "Verwendungszweck;Saldo\n"
          "R1;DE001;01.03.2025;02.03.2025;1.234,56;EUR;Kunde 1 GmbH;DE002;INV-2025-000001;9.999,00\n"
          "R2;DE001;03.03.2025;03.03.2025;-12,50;EUR;Bank;;Kontofuehrung;9.986,50\n")
DEFAULT_LAYOUT = (",".join(DEFAULT_MAP["columns"].values()) + "\n"
                  "R1,,DE001,2025-03-01,2025-03-02,CRDT,1234.56,EUR,,Kunde 1 GmbH,DE002,INV-2025-000001\n"
                  "R2,,DE001,2025-03-03,2025-03-03,DBIT,12.50,EUR,,Bank,,Kontofuehrung\n")
