{#- A DuckDB warehouse built before the marts had a file of their own (connectors/marts_file.py)
    holds a `marts` schema of its own: stale from the first build on, and a second `marts` beside the
    attached one for whoever reads the warehouse. The build drops it (on-run-start). -#}
{% macro drop_warehouse_marts_schema() -%}
    {%- if target.type == 'duckdb' -%}
    drop schema if exists {{ adapter.quote(target.database) }}.marts cascade
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
