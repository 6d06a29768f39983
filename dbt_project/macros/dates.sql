-- The explicit as-of date (var as_of, from LTC_AS_OF); nothing is relative to the wall clock.
{% macro as_of_date() -%}
    cast('{{ var("as_of") }}' as date)
{%- endmacro %}

-- The reporting currency as a SQL literal.
{% macro reporting_currency() -%}
    '{{ var("reporting_currency") }}'
{%- endmacro %}

-- A timestamp with time zone as a naive UTC timestamp (Salesforce datetimes land as timestamptz).
{% macro to_utc_timestamp(column) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'ltc')(column)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(column) -%}
    cast(({{ column }}) at time zone 'UTC' as timestamp)
{%- endmacro %}

-- Whole days from start_date to end_date (dates), as an integer.
{% macro days_between(start_date, end_date) -%}
    cast({{ dbt.datediff(start_date, end_date, 'day') }} as integer)
{%- endmacro %}

-- First day of the month of a date, as a date.
{% macro month_start(column) -%}
    cast({{ dbt.date_trunc('month', column) }} as date)
{%- endmacro %}
