{#-
    The canonical columns of one raw ERP table as they landed, for its staging model (see
    `landed_columns`).

    An ERP mapping (connectors/erp/mappings/*.yml) may leave an entity out, or any of its canonical
    columns but the key and the cursor, and nothing lands for what it leaves out. So the landed
    columns are read from the warehouse: a canonical column that did not land reads as a typed
    null, and a table that never landed gives an empty, typed relation rather than a failed build.
    `canonical`: [(column name, SQL type), ...].
-#}
{% macro erp_landed_columns(table, canonical) -%}
    {{ landed_columns('raw_erp', table, canonical) }}
{%- endmacro %}


{#-
    Deleted, the same rule for every ERP entity: the ERP's soft-delete flag `is_deleted` where the
    mapping has one, or `_deleted_in_source_at`, stamped by the key reconciliation when the key
    vanished from the source. Both columns are in every `erp_landed_columns` list.
-#}
{% macro erp_is_deleted() -%}
    ({{ to_flag('is_deleted') }} or _deleted_in_source_at is not null)
{%- endmacro %}
