-- Forecast accuracy by forecast category (ltc-metrics §2.7): a snapshot measure as of t0. The forecast
-- is frozen at t0 = the latest fct_pipeline_snapshots day on or before (period start - 1 day + var
-- forecast_t0_offset_days), default the state at the start of the period; it cannot be rebuilt from
-- current CRM state.
-- * forecast (F) for category c and period p = Σ reporting amount at t0 of the opportunities in
--   category c at t0 (Pipeline, Best Case, Commit: open; Closed: already won) with a close date in p.
-- * actual (A) = Σ reporting amount, at the end snapshot of p (period end or the as-of date), of those
--   same opportunities that are won with a close date in p (category accuracy: closed-won from deals
--   that were in c at t0). actual_won_total_amount is every deal won with a close date in p,
--   forecast or not (the A of a roll-up against all bookings).
-- * error = F - A; WAPE = Σ|A - F| / ΣA; bias = Σ(F - A) / ΣA: positive = over-forecasting,
--   negative = sandbagging (Oracle documents the opposite sign). The row's wape / bias sum over the
--   single period; wape_to_date / bias_to_date sum over the complete periods of the same period type
--   and category up to and including the row's. point_accuracy = max(0, 1 - |A - F| / A). All are
--   null when A = 0.
-- Deleted opportunities are left out. Amounts in the reporting currency.
with

snapshots as (

    select * from {{ ref('fct_pipeline_snapshots') }}
    where snapshot_date <= {{ as_of_date() }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

periods as (

    select * from {{ ref('int_pipeline_periods_spined') }}

),

categories as (

    select 'Pipeline' as forecast_category, 1 as category_order
    union all select 'Best Case', 2
    union all select 'Commit', 3
    union all select 'Closed', 4

),

snapshot_dates as (

    select distinct snapshot_date from snapshots

),

period_snapshots as (

    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.is_period_complete,
        max(case when snapshot_dates.snapshot_date <= cast({{ dbt.dateadd(
                'day', var('forecast_t0_offset_days') | int, 'periods.day_before_period_start') }} as date)
            then snapshot_dates.snapshot_date end) as t0_snapshot_date,
        max(case when snapshot_dates.snapshot_date <= periods.period_end_capped
            then snapshot_dates.snapshot_date end) as end_snapshot_date
    from periods
    left join snapshot_dates
        on snapshot_dates.snapshot_date <= periods.period_end_capped
    group by
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.is_period_complete

),

-- only the snapshots a period's t0 or end falls on, kept before the join to fct_opportunities (as in
-- rpt_pipeline_waterfall)
live_snapshots as (

    select snapshots.*
    from snapshots
    inner join opportunities
        on snapshots.opportunity_id = opportunities.opportunity_id
    where not opportunities.is_deleted
        and snapshots.snapshot_date in (
            select t0_snapshot_date from period_snapshots
            union
            select end_snapshot_date from period_snapshots
        )

),

forecast_deals as (

    select
        period_snapshots.period_type,
        period_snapshots.period_start,
        live_snapshots.opportunity_id,
        live_snapshots.forecast_category,
        live_snapshots.amount_reporting as forecast_amount
    from period_snapshots
    inner join live_snapshots
        on live_snapshots.snapshot_date = period_snapshots.t0_snapshot_date
    where live_snapshots.close_date between period_snapshots.period_start and period_snapshots.period_end
        and (
            (live_snapshots.is_open and live_snapshots.forecast_category in ('Pipeline', 'Best Case', 'Commit'))
            or (live_snapshots.is_won and live_snapshots.forecast_category = 'Closed')
        )

),

won_deals as (

    select
        period_snapshots.period_type,
        period_snapshots.period_start,
        live_snapshots.opportunity_id,
        live_snapshots.amount_reporting as won_amount
    from period_snapshots
    inner join live_snapshots
        on live_snapshots.snapshot_date = period_snapshots.end_snapshot_date
    where live_snapshots.is_won
        and live_snapshots.close_date between period_snapshots.period_start and period_snapshots.period_end

),

category_totals as (

    select
        forecast_deals.period_type,
        forecast_deals.period_start,
        forecast_deals.forecast_category,
        count(*) as forecast_count,
        sum(coalesce(forecast_deals.forecast_amount, 0)) as forecast_amount,
        sum(case when won_deals.opportunity_id is not null then 1 else 0 end) as won_count,
        sum(coalesce(won_deals.won_amount, 0)) as actual_amount
    from forecast_deals
    left join won_deals
        on forecast_deals.period_type = won_deals.period_type
        and forecast_deals.period_start = won_deals.period_start
        and forecast_deals.opportunity_id = won_deals.opportunity_id
    group by forecast_deals.period_type, forecast_deals.period_start, forecast_deals.forecast_category

),

won_totals as (

    select
        period_type,
        period_start,
        sum(coalesce(won_amount, 0)) as won_total_amount
    from won_deals
    group by period_type, period_start

),

grid as (

    select
        period_snapshots.*,
        categories.forecast_category,
        categories.category_order
    from period_snapshots
    cross join categories

),

filled as (

    select
        grid.period_type,
        grid.period_start,
        grid.period_end,
        grid.is_period_complete,
        grid.t0_snapshot_date,
        grid.end_snapshot_date,
        grid.forecast_category,
        grid.category_order,
        coalesce(category_totals.forecast_count, 0) as forecast_count,
        coalesce(category_totals.won_count, 0) as won_count,
        cast(coalesce(category_totals.forecast_amount, 0) as {{ type_money() }}) as forecast_amount,
        cast(coalesce(category_totals.actual_amount, 0) as {{ type_money() }}) as actual_amount,
        cast(coalesce(won_totals.won_total_amount, 0) as {{ type_money() }}) as actual_won_total_amount
    from grid
    left join category_totals
        on grid.period_type = category_totals.period_type
        and grid.period_start = category_totals.period_start
        and grid.forecast_category = category_totals.forecast_category
    left join won_totals
        on grid.period_type = won_totals.period_type
        and grid.period_start = won_totals.period_start

),

errors as (

    select
        *,
        cast(forecast_amount - actual_amount as {{ type_money() }}) as forecast_error,
        cast(abs(actual_amount - forecast_amount) as {{ type_money() }}) as absolute_error
    from filled

),

running as (

    -- running sums over the complete periods of the same type and category (the to-date roll-up)
    select
        *,
        sum(case when is_period_complete then abs(actual_amount - forecast_amount) else 0 end) over (
            partition by period_type, forecast_category
            order by period_start
            rows between unbounded preceding and current row
        ) as absolute_error_to_date,
        sum(case when is_period_complete then forecast_amount - actual_amount else 0 end) over (
            partition by period_type, forecast_category
            order by period_start
            rows between unbounded preceding and current row
        ) as forecast_error_to_date,
        sum(case when is_period_complete then actual_amount else 0 end) over (
            partition by period_type, forecast_category
            order by period_start
            rows between unbounded preceding and current row
        ) as actual_amount_to_date
    from errors

),

final as (

    select
        period_type,
        period_start,
        period_end,
        is_period_complete,
        forecast_category,
        cast(category_order as integer) as category_order,
        t0_snapshot_date,
        end_snapshot_date,
        {{ reporting_currency() }} as reporting_currency,
        cast(forecast_count as integer) as forecast_count,
        cast(won_count as integer) as won_count,
        forecast_amount,
        actual_amount,
        actual_won_total_amount,
        forecast_error,
        absolute_error,
        {{ safe_ratio('absolute_error', 'actual_amount') }} as wape,
        {{ safe_ratio('forecast_error', 'actual_amount') }} as bias,
        cast(case
            when actual_amount = 0 then null
            when {{ safe_ratio('absolute_error', 'actual_amount') }} > 1 then 0
            else 1 - {{ safe_ratio('absolute_error', 'actual_amount') }}
        end as {{ type_rate() }}) as point_accuracy,
        {{ safe_ratio('absolute_error_to_date', 'actual_amount_to_date') }} as wape_to_date,
        {{ safe_ratio('forecast_error_to_date', 'actual_amount_to_date') }} as bias_to_date,
        {{ as_of_date() }} as as_of_date
    from running

)

select * from final
