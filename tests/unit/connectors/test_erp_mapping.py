"""The ERP mapping file and the Arrow coercion, without a database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from connectors.erp.mapping import CANONICAL, DEFAULT_MAPPING, ErpMappingError, load_mapping
from connectors.erp.source import coerce

ALT = DEFAULT_MAPPING.with_name("erp_alt_postgres.yml")


def test_both_shipped_mappings_cover_every_canonical_entity_and_column():
    for path in (DEFAULT_MAPPING, ALT):
        mapping = load_mapping(path)
        assert set(mapping.entities) == set(CANONICAL)
        for name, entity in mapping.entities.items():
            assert list(entity.columns) == list(CANONICAL[name]), (path.name, name)
    alt = load_mapping(ALT)
    assert alt.schema == "erp_alt" and alt.entities["invoices"].source("due_date") == "re_due_date"
    assert alt.entities["invoices"].soft_delete == "is_deleted" and alt.entities["deliveries"].reconcile_every == 2


@pytest.mark.parametrize("text, message", [
    ("entities: {orders: {table: x, columns: {a: b}}}", "unknown entity 'orders'"),
    ("entities: {invoices: {table: x, columns: {invoice_id: id}}}", "cursor 'updated_at' must be one of its mapped columns"),
    ("entities: {invoices: {columns: {invoice_id: id}}}", "needs `table:` and `columns:`"),
    ("on_missing_column: ignore\nentities: {}", "on_missing_column must be one of"),
    ("entities: [", "is not valid YAML"),
])
def test_a_bad_mapping_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "m.yml"
    path.write_text(text)
    with pytest.raises(ErpMappingError, match=message):
        load_mapping(path)
    with pytest.raises(ErpMappingError, match="does not exist"):
        load_mapping(tmp_path / "missing.yml")


def _invoices(**overrides):
    row = {"invoice_id": "I1", "invoice_number": "INV-1", "customer_id": "C1", "order_id": "O1",
           "issue_date": "2025-03-01", "due_date": "2025-03-31", "currency": "eur", "payment_terms": "NET 30",
           "net_amount": "100.1", "tax_amount": "19.02", "total_amount": "119.12", "status": "open",
           "is_deleted": "0", "created_at": "2025-03-01 06:00:00", "updated_at": dt.datetime(2025, 3, 1, 6)}
    rows = [row, {**row, "invoice_id": "I2", **overrides}]
    return pa.Table.from_pylist(rows)


def test_coercion_types_text_exactly_and_keeps_good_rows():
    entity = load_mapping().entities["invoices"]
    good, bad = coerce(_invoices(), entity, Decimal("1e9"))
    assert bad == [] and good.num_rows == 2
    assert good.schema.field("net_amount").type == pa.decimal128(18, 2)
    assert good.column("net_amount").to_pylist() == [Decimal("100.10")] * 2
    assert good.column("currency").to_pylist() == ["EUR", "EUR"]
    assert good.column("due_date").to_pylist()[0] == dt.date(2025, 3, 31)
    assert good.column("created_at").to_pylist()[0] == dt.datetime(2025, 3, 1, 6, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("overrides, reason", [
    ({"due_date": "03/31/2025"}, "due_date='03/31/2025': date not in YYYY-MM-DD form"),
    ({"net_amount": "-1.00"}, "net_amount='-1.00': negative amount"),
    ({"net_amount": "1.005"}, "more than 2 decimals"),
    ({"total_amount": "5000000000"}, "absurd amount"),
    ({"currency": "EURO"}, "unknown currency"),
    ({"is_deleted": "maybe"}, "is_deleted='maybe'"),
    ({"created_at": "yesterday"}, "timestamp not in ISO form"),
    ({"invoice_id": None}, "(the key) is empty"),
])
def test_each_kind_of_bad_value_quarantines_its_row_only(overrides, reason):
    entity = load_mapping().entities["invoices"]
    good, bad = coerce(_invoices(**overrides), entity, Decimal("1e9"))
    assert good.column("invoice_id").to_pylist() == ["I1"]
    assert len(bad) == 1 and reason in bad[0]["reason"], bad
    assert bad[0]["reason"].startswith("invoices row invoice_id=") and bad[0]["entity"] == "invoices"


def test_auto_backend_reads_postgres_through_connectorx_and_sqlite_through_pyarrow():
    import importlib.util

    from sqlalchemy.engine import make_url

    from connectors.ingest import _erp_backend

    has_cx = importlib.util.find_spec("connectorx") is not None
    assert _erp_backend("auto", make_url("postgresql://u@h/erp")) == ("connectorx" if has_cx else "pyarrow")
    assert _erp_backend("auto", make_url("postgresql+psycopg2://u@h/erp")) == ("connectorx" if has_cx else "pyarrow")
    assert _erp_backend("auto", make_url("sqlite:///erp.sqlite")) == "pyarrow"
    assert _erp_backend("pyarrow", make_url("postgresql://u@h/erp")) == "pyarrow"
