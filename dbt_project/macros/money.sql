-- Money and rate types: exact decimals everywhere, never float (docs/contracts.md).
{% macro type_money() -%}
    {{ return(adapter.dispatch('type_money', 'ltc')()) }}
{%- endmacro %}

{% macro default__type_money() -%}
    numeric(18, 2)
{%- endmacro %}

{% macro type_rate() -%}
    {{ return(adapter.dispatch('type_rate', 'ltc')()) }}
{%- endmacro %}

{% macro default__type_rate() -%}
    numeric(18, 6)
{%- endmacro %}

-- Cast a raw amount to money: round half away from zero to 2 decimals, then DECIMAL(18,2).
{% macro to_money(expression) -%}
    cast(round(cast({{ expression }} as numeric(38, 8)), 2) as {{ ltc.type_money() }})
{%- endmacro %}

-- Cast a raw FX rate to DECIMAL(18,6).
{% macro to_rate(expression) -%}
    cast({{ expression }} as {{ ltc.type_rate() }})
{%- endmacro %}

-- The FX rule, per row: round(amount * rate, 2), half away from zero, as DECIMAL(18,2).
{% macro to_reporting(amount, rate) -%}
    cast(round(cast({{ amount }} as numeric(38, 8)) * cast({{ rate }} as numeric(18, 6)), 2) as {{ ltc.type_money() }})
{%- endmacro %}

-- A ratio as DECIMAL(18,6); null when the denominator is 0 or null.
{% macro safe_ratio(numerator, denominator) -%}
    {#- exact on every adapter: DuckDB divides DECIMALs in DOUBLE, decimal_divide does not (macros/ar_metrics.sql) -#}
    cast({{ ltc.decimal_divide(numerator, denominator, 6) }} as {{ ltc.type_rate() }})
{%- endmacro %}
