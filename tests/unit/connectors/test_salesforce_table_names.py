"""The Salesforce object → raw table names that the definitions load without dlt
(connectors/salesforce/objects.py) are dlt's own, so the assets and the landed tables agree."""

from __future__ import annotations

import subprocess
import sys

from dlt.common.normalizers.naming.snake_case import NamingConvention

from connectors.salesforce.objects import DEFAULT_OBJECTS, table_name


def test_the_spelled_out_default_table_names_are_dlts():
    naming = NamingConvention()
    assert {o: table_name(o) for o in DEFAULT_OBJECTS} == {
        o: naming.normalize_identifier(o) for o in DEFAULT_OBJECTS}


def test_a_custom_object_takes_dlts_name():
    assert table_name("Invoice_Plan__c") == NamingConvention().normalize_identifier("Invoice_Plan__c")


def test_the_raw_catalog_loads_without_dlt():
    code = "import sys, connectors.catalog as c; print('dlt' in sys.modules, len(c.RAW_TABLES['salesforce']))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", str(len(DEFAULT_OBJECTS) + 1)]
