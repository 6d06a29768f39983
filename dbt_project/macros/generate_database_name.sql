-- The marts' `+database` (dbt_project.yml) names the marts file that the DuckDB targets attach
-- beside the warehouse (profiles.yml, connectors/marts_file.py); every other target keeps one
-- database, its own, and `marts` stays a schema there.
{% macro generate_database_name(custom_database_name=none, node=none) -%}
    {%- if custom_database_name is none or target.type != 'duckdb' -%}
        {{ target.database }}
    {%- else -%}
        {{ custom_database_name | trim }}
    {%- endif -%}
{%- endmacro %}
