{#-
    The FX rule's lookup, written once for every model that converts a dated amount: the rate range
    (int_fx_rates_unioned, filtered to the reporting currency, as the CTE `rates`) that contains the
    transaction date; the reporting currency itself converts at 1, dated the transaction date.
    `txn`: the alias of the relation with `currency`; `date_column`: its transaction date column.
-#}
{% macro fx_rate_columns(txn, date_column, rates='rate_validity') -%}
    case
            when {{ txn }}.currency = {{ reporting_currency() }} then {{ to_rate('1') }}
            else {{ rates }}.rate
        end as fx_rate,
        case
            when {{ txn }}.currency = {{ reporting_currency() }} then {{ txn }}.{{ date_column }}
            else {{ rates }}.valid_from
        end as fx_rate_date
{%- endmacro %}

{% macro fx_rate_join(txn, date_column, rates='rate_validity') -%}
    left join {{ rates }}
        on {{ txn }}.currency = {{ rates }}.currency
        and {{ txn }}.currency <> {{ reporting_currency() }}
        and {{ txn }}.{{ date_column }} >= {{ rates }}.valid_from
        and ({{ rates }}.valid_to is null or {{ txn }}.{{ date_column }} < {{ rates }}.valid_to)
{%- endmacro %}
