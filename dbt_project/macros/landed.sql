{#-
    `canonical` columns of the raw table `source_name`.`table` as they landed: a column that did not
    land reads as a typed null, and a table that never landed gives an empty, typed relation rather
    than a failed build. For raw tables that exist only in some sources: an ERP mapping that leaves
    an entity or column out, a Salesforce org without a given object (DatedConversionRate needs
    advanced currency management). `canonical`: [(column name, SQL type), ...].
-#}
{% macro landed_columns(source_name, table, canonical) -%}
    {%- set raw = source(source_name, table) -%}
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
