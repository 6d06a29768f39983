-- The calendar periods the pipeline reports are cut by: every month and every quarter from the first
-- opportunity to the as-of date, one definition for rpt_pipeline_waterfall, rpt_forecast_accuracy and
-- rpt_pipeline_performance. The close-date window of a period is the whole calendar period; the
-- measured span ends at the as-of date (period_end_capped) for the period that contains it.
with

versions as (

    -- the current pipeline: deleted opportunities are left out of every period
    select * from {{ ref('int_opportunity_versions_reconstructed') }}
    where not is_opportunity_deleted

),

months as (

    select * from (
        {{ month_spine('(select min(opportunity_created_date) from versions)') }}
    ) as spine

),

month_periods as (

    select
        'month' as period_type,
        period_month as period_start,
        month_end as period_end
    from months

),

quarter_periods as (

    select
        'quarter' as period_type,
        period_month as period_start,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 3, 'period_month')) }} as date) as period_end
    from months
    -- the spine starts at the first month, which need not start a quarter: add that quarter's start
    where period_month = cast({{ dbt.date_trunc('quarter', 'period_month') }} as date)

    union

    select
        'quarter' as period_type,
        cast({{ dbt.date_trunc('quarter', 'min(period_month)') }} as date) as period_start,
        cast({{ dbt.dateadd(
            'day', -1, dbt.dateadd('month', 3, dbt.date_trunc('quarter', 'min(period_month)'))
        ) }} as date) as period_end
    from months
    having count(*) > 0

),

periods as (

    select * from month_periods
    union all
    select * from quarter_periods

),

final as (

    select
        period_type,
        period_start,
        period_end,
        case when period_end > {{ as_of_date() }} then {{ as_of_date() }} else period_end end as period_end_capped,
        cast({{ dbt.dateadd('day', -1, 'period_start') }} as date) as day_before_period_start,
        period_end <= {{ as_of_date() }} as is_period_complete,
        {{ as_of_date() }} as as_of_date
    from periods

)

select * from final
