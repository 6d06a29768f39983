-- The LTC health panel (issue 10, after FanRuan's case: ltc-metrics §7): one row per month up to
-- the as-of month with the four numbers the ARCHITECTURE's contract names (forecast accuracy,
-- on-time collection, overdue receivables, work without a signed contract) and each one's change
-- from the month before, from the same month a year earlier and from the first month on record.
-- Nothing is computed here that is defined elsewhere: forecast accuracy is rpt_forecast_accuracy's
-- (Commit, monthly, frozen at t0: its point_accuracy, WAPE and bias), the collection figures are
-- rpt_cash_collection's, and work without a signed contract counts fct_reconciliation_exceptions'
-- 'order without signed contract' rows by the month they were detected. Each measure keeps its
-- own clock: forecast accuracy is a snapshot measure as of the period's t0, overdue receivables
-- is as of the month end, the others are period measures, all as of the as-of date.
with

forecast_accuracy as (

    select * from {{ ref('rpt_forecast_accuracy') }}
    where period_type = 'month'
        and forecast_category = 'Commit'

),

cash_collection as (

    select * from {{ ref('rpt_cash_collection') }}

),

exceptions as (

    select * from {{ ref('fct_reconciliation_exceptions') }}
    where exception_type = 'order without signed contract'

),

months as (

    select * from (
        {{ month_spine(
            "(select min(first_month) from (select min(period_start) as first_month from forecast_accuracy"
            ~ " union all select min(period_month) from cash_collection) as firsts)"
        ) }}
    ) as spine

),

work_without_contract as (

    select
        {{ month_start('detected_date') }} as period_month,
        count(*) as exception_count,
        sum(amount_reporting) as exception_amount
    from exceptions
    where detected_date <= {{ as_of_date() }}
    group by {{ month_start('detected_date') }}

),

monthly as (

    select
        months.period_month,
        forecast_accuracy.point_accuracy as forecast_accuracy,
        forecast_accuracy.wape as forecast_wape,
        forecast_accuracy.bias as forecast_bias,
        cash_collection.on_time_collection_rate,
        cash_collection.ending_ar,
        cash_collection.overdue_ar,
        cash_collection.dso_days,
        cash_collection.collection_effectiveness_index_pct,
        coalesce(work_without_contract.exception_count, 0) as work_without_signed_contract_count,
        {{ to_money('coalesce(work_without_contract.exception_amount, 0)') }} as work_without_signed_contract_amount
    from months
    left join forecast_accuracy
        on months.period_month = forecast_accuracy.period_start
    left join cash_collection
        on months.period_month = cash_collection.period_month
    left join work_without_contract
        on months.period_month = work_without_contract.period_month

),

{#- each measure and its exact type: a difference widens DECIMAL(18, s) to (19, s) -#}
{%- set measures = [
    ('forecast_accuracy', 'numeric(18,6)'),
    ('forecast_wape', 'numeric(18,6)'),
    ('forecast_bias', 'numeric(18,6)'),
    ('on_time_collection_rate', 'numeric(18,6)'),
    ('overdue_ar', 'numeric(18,2)'),
    ('dso_days', 'numeric(18,2)'),
    ('collection_effectiveness_index_pct', 'numeric(18,2)'),
    ('work_without_signed_contract_count', dbt.type_bigint()),
    ('work_without_signed_contract_amount', 'numeric(18,2)'),
] %}
{#- the panel's four measures (FanRuan's case), which also carry their change against the same month
    a year earlier and against the first month on record -#}
{%- set panel = ['forecast_accuracy', 'on_time_collection_rate', 'overdue_ar',
                 'work_without_signed_contract_count', 'work_without_signed_contract_amount'] %}

first_months as (

    -- the first month on record of each panel measure: its first month with a value (forecast
    -- accuracy and on-time collection have none before something is won or falls due)
    select
        {%- for name in panel %}
        min(case when {{ name }} is not null then period_month end) as {{ name }}_first_month
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from monthly

),

first_values as (

    select
        {%- for name in panel %}
        max(case when monthly.period_month = first_months.{{ name }}_first_month then monthly.{{ name }} end)
            as {{ name }}_first
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from monthly
    cross join first_months

),

final as (

    select
        monthly.period_month,
        {{ reporting_currency() }} as reporting_currency,
        monthly.ending_ar,
        {%- for name, type in measures %}
        monthly.{{ name }},
        cast(monthly.{{ name }} - lag(monthly.{{ name }}) over (order by monthly.period_month) as {{ type }})
            as {{ name }}_change,
        {%- if name in panel %}
        -- the month spine has every month, so the row twelve back is the same month a year earlier
        cast(monthly.{{ name }} - lag(monthly.{{ name }}, 12) over (order by monthly.period_month) as {{ type }})
            as {{ name }}_change_yoy,
        cast(monthly.{{ name }} - first_values.{{ name }}_first as {{ type }}) as {{ name }}_change_since_first,
        {%- endif %}
        {%- endfor %}
        {{ as_of_date() }} as as_of_date
    from monthly
    cross join first_values

)

select * from final
