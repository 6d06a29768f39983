-- Months from the month of first_month (a date expression) to the month of the as-of date, one row
-- each (period_month = first day, period_end = last day capped at the as-of date), up to 50 years.
{% macro month_spine(first_month) -%}
    with digits as (
        {% for d in range(10) -%}
        select {{ d }} as d {% if not loop.last %}union all {% endif %}
        {%- endfor %}
    ),

    month_numbers as (
        select tens.d * 100 + units.d * 10 + ones.d as n
        from digits as tens
        cross join digits as units
        cross join digits as ones
        where tens.d < 6
    ),

    bounds as (
        select
            {{ ltc.month_start(first_month) }} as first_month,
            {{ ltc.month_start(ltc.as_of_date()) }} as last_month
    ),

    months as (
        select
            cast({{ dbt.dateadd('month', 'month_numbers.n', 'bounds.first_month') }} as date) as period_month
        from month_numbers
        cross join bounds
        where cast({{ dbt.dateadd('month', 'month_numbers.n', 'bounds.first_month') }} as date) <= bounds.last_month
    )

    select
        period_month,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'period_month')) }} as date) as month_end,
        case
            when cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'period_month')) }} as date) > {{ ltc.as_of_date() }}
                then {{ ltc.as_of_date() }}
            else cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'period_month')) }} as date)
        end as period_end,
        {{ ltc.days_between('period_month', dbt.dateadd('month', 1, 'period_month')) }} as days_in_month
    from months
{%- endmacro %}
