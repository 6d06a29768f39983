{#-
    The canonical columns of one raw ERP table as they landed, for its staging model.

    An ERP mapping (connectors/erp/mappings/*.yml) may leave an entity out, or any of its canonical
    columns but the key and the cursor, and nothing lands for what it leaves out. So the landed
    columns are read from the warehouse: a canonical column that did not land reads as a typed
    null, and a table that never landed gives an empty, typed relation rather than a failed build.
    `canonical`: [(column name, SQL type), ...].
-#}
{% macro erp_landed_columns(table, canonical) -%}
    {%- set raw = source('raw_erp', table) -%}
    {%- set landed = [] -%}
    {%- if raw.is_cte -%}
        {#- a unit test's fixture: the columns it does not give are null already -#}
        {%- for name, type in canonical -%}{%- do landed.append(name) -%}{%- endfor -%}
    {%- elif execute -%}
        {%- set relation = adapter.get_relation(database=raw.database, schema=raw.schema, identifier=raw.identifier) -%}
        {%- if relation is not none -%}
            {%- for column in adapter.get_columns_in_relation(relation) -%}
                {%- do landed.append(column.name | lower) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif %}
    select
    {%- for name, type in canonical %}
        {{ name if name in landed else 'cast(null as ' ~ type ~ ')' }} as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
    {%- if landed %}
    from {{ raw }}
    {%- else %}
    where 1 = 0
    {%- endif %}
{%- endmacro %}


{#-
    Deleted, the same rule for every ERP entity: the ERP's soft-delete flag `is_deleted` where the
    mapping has one, or `_deleted_in_source_at`, stamped by the key reconciliation when the key
    vanished from the source. Both columns are in every `erp_landed_columns` list.
-#}
{% macro erp_is_deleted() -%}
    ({{ to_flag('is_deleted') }} or _deleted_in_source_at is not null)
{%- endmacro %}
