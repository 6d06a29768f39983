-- Sales velocity by month (ltc-metrics §2.3): (# open qualified opportunities x win rate x average
-- deal size) / average sales cycle in days, the revenue per day the open pipeline is expected to
-- generate. Read from the marts that already define each component, so the numbers tie to them:
-- * open qualified opportunities = opportunities (not deleted) with pipeline_status 'Pipeline' (open,
--   forecast category Pipeline, Best Case or Commit; Omitted left out) at the month's end snapshot
--   (rpt_pipeline_waterfall.end_snapshot_date: the month end, or the as-of date), any close date;
-- * win rate (by count), average deal size (won amount / won deals) and the won-only sales cycle
--   (created date to close date, rpt_pipeline_performance) over the trailing twelve months: the
--   month and the eleven before it, from the monthly rows of rpt_pipeline_waterfall /
--   rpt_pipeline_performance (the cycle is the won-count-weighted mean of the monthly averages);
-- * velocity is computed from the rounded components shown (win rate 6 decimals, deal size in
--   cents, cycle 2 decimals); null when nothing was won or the cycle is 0.
-- Reporting currency; as of the as-of date.
with

waterfall as (

    select * from {{ ref('rpt_pipeline_waterfall') }}
    where period_type = 'month'

),

performance as (

    select * from {{ ref('rpt_pipeline_performance') }}
    where period_type = 'month'

),

snapshots as (

    select * from {{ ref('fct_pipeline_snapshots') }}
    where snapshot_date <= {{ as_of_date() }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

open_pipeline as (

    select
        waterfall.period_start,
        count(*) as open_count,
        sum(coalesce(snapshots.amount_reporting, 0)) as open_amount
    from waterfall
    inner join snapshots
        on snapshots.snapshot_date = waterfall.end_snapshot_date
    inner join opportunities
        on snapshots.opportunity_id = opportunities.opportunity_id
    where snapshots.pipeline_status = 'Pipeline'
        and not opportunities.is_deleted
    group by waterfall.period_start

),

trailing_window as (

    select
        waterfall.period_start,
        min(months.period_start) as trailing_start,
        sum(months.won_count) as won_count,
        sum(months.lost_count) as lost_count,
        sum(months.won_amount) as won_amount,
        sum(case when performance.sales_cycle_avg_days is not null
            then performance.sales_cycle_avg_days * months.won_count else 0 end) as cycle_days_sum,
        sum(case when performance.sales_cycle_avg_days is not null
            then months.won_count else 0 end) as cycle_deals
    from waterfall
    inner join waterfall as months
        on months.period_start > cast({{ dbt.dateadd('month', -12, 'waterfall.period_start') }} as date)
        and months.period_start <= waterfall.period_start
    left join performance
        on months.period_start = performance.period_start
    group by waterfall.period_start

),

components as (

    select
        waterfall.period_start as period_month,
        waterfall.period_end_capped as period_end,
        waterfall.end_snapshot_date,
        trailing_window.trailing_start,
        cast(coalesce(open_pipeline.open_count, 0) as integer) as open_opportunity_count,
        cast(coalesce(open_pipeline.open_amount, 0) as {{ type_money() }}) as open_pipeline_amount,
        cast(trailing_window.won_count as integer) as won_count,
        cast(trailing_window.lost_count as integer) as lost_count,
        cast(trailing_window.won_amount as {{ type_money() }}) as won_amount,
        {{ safe_ratio('trailing_window.won_count', 'trailing_window.won_count + trailing_window.lost_count') }} as win_rate_by_count,
        cast({{ decimal_divide('trailing_window.won_amount', 'trailing_window.won_count', 2) }} as {{ type_money() }})
            as avg_deal_size,
        cast({{ decimal_divide('trailing_window.cycle_days_sum', 'trailing_window.cycle_deals', 2) }} as numeric(18, 2))
            as sales_cycle_avg_days
    from waterfall
    inner join trailing_window
        on waterfall.period_start = trailing_window.period_start
    left join open_pipeline
        on waterfall.period_start = open_pipeline.period_start

),

final as (

    select
        period_month,
        period_end,
        end_snapshot_date,
        trailing_start,
        {{ reporting_currency() }} as reporting_currency,
        open_opportunity_count,
        open_pipeline_amount,
        won_count,
        lost_count,
        won_amount,
        win_rate_by_count,
        avg_deal_size,
        sales_cycle_avg_days,
        cast({{ decimal_divide(
            'open_opportunity_count * win_rate_by_count * avg_deal_size', 'sales_cycle_avg_days', 2
        ) }} as {{ type_money() }}) as sales_velocity_per_day,
        {{ as_of_date() }} as as_of_date
    from components

)

select * from final
