"""SOQL window building, describe-driven field selection and record conversion."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connectors.salesforce.extract import (
    FieldSpec,
    RecordConverter,
    build_soql,
    column_hints,
    cursor_field,
    select_fields,
)

UTC = dt.timezone.utc


def test_window_is_closed_below_open_above_and_ordered_for_ties():
    soql = build_soql(
        "Lead",
        ["Id", "SystemModstamp"],
        "SystemModstamp",
        dt.datetime(2025, 1, 1, 9, 50, 0, 500000, tzinfo=UTC),
        dt.datetime(2025, 1, 2, 12, 0, 0, 900000, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    )
    assert soql == (
        "SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp >= 2025-01-01T09:50:00Z "
        "AND SystemModstamp < 2025-01-02T10:00:00Z ORDER BY SystemModstamp, Id"
    )


def test_first_run_has_only_the_upper_bound():
    soql = build_soql("User", ["Id"], "SystemModstamp", None, dt.datetime(2025, 1, 2, tzinfo=UTC))
    assert "WHERE SystemModstamp < 2025-01-02T00:00:00Z ORDER BY" in soql
    assert ">=" not in soql


def test_naive_bounds_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        build_soql("Lead", ["Id"], "SystemModstamp", None, dt.datetime(2025, 1, 2))


def test_compound_parents_are_dropped_but_name_is_kept():
    describe = {
        "fields": [
            {"name": "Id", "type": "id"},
            {"name": "Name", "type": "string"},
            {"name": "FirstName", "type": "string", "compoundFieldName": "Name"},
            {"name": "BillingAddress", "type": "address"},
            {"name": "BillingCity", "type": "string", "compoundFieldName": "BillingAddress"},
            {"name": "Geo__c", "type": "location"},
            {"name": "SystemModstamp", "type": "datetime"},
        ]
    }
    names = [f.name for f in select_fields(describe)]
    assert names == ["Id", "Name", "FirstName", "BillingCity", "SystemModstamp"]


def test_cursor_preference():
    assert cursor_field([FieldSpec("LastModifiedDate", "datetime"), FieldSpec("SystemModstamp", "datetime")]) == "SystemModstamp"
    assert cursor_field([FieldSpec("CreatedDate", "datetime")]) == "CreatedDate"


def test_records_are_converted_to_landing_rows():
    fields = [
        FieldSpec("Id", "id"),
        FieldSpec("CloseDate", "date"),
        FieldSpec("SystemModstamp", "datetime"),
        FieldSpec("Amount", "currency"),
        FieldSpec("Opportunity__c", "reference"),
    ]
    row = RecordConverter(fields)(
        {
            "attributes": {"type": "Opportunity"},
            "Id": "006x",
            "CloseDate": "2025-03-31",
            "SystemModstamp": "2025-01-01T10:00:00.000+0000",
            "Amount": Decimal("1000.50"),
            "Opportunity__c": None,
        }
    )
    assert row == {
        "id": "006x",
        "close_date": dt.date(2025, 3, 31),
        "system_modstamp": dt.datetime(2025, 1, 1, 10, tzinfo=UTC),
        "amount": Decimal("1000.50"),
        "opportunity_c": None,
    }


def test_money_hint_is_decimal_18_2():
    hints = column_hints([FieldSpec("Amount", "currency"), FieldSpec("IsWon", "boolean")])
    assert hints["amount"]["data_type"] == "decimal" and (hints["amount"]["precision"], hints["amount"]["scale"]) == (18, 2)
    assert hints["is_won"]["data_type"] == "bool"
