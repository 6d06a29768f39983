-- The first substring matching a POSIX regex, or null when nothing matches.
{% macro regex_extract_first(column, pattern) -%}
    {{ return(adapter.dispatch('regex_extract_first', 'ltc')(column, pattern)) }}
{%- endmacro %}

{% macro default__regex_extract_first(column, pattern) -%}
    substring({{ column }} from '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__regex_extract_first(column, pattern) -%}
    nullif(regexp_extract({{ column }}, '{{ pattern }}', 0), '')
{%- endmacro %}

-- An integer-like 0/1 flag (or boolean) as a boolean, null treated as false.
{% macro to_flag(column) -%}
    (coalesce(cast({{ column }} as integer), 0) = 1)
{%- endmacro %}
