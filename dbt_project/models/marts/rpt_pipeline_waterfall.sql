-- The pipeline waterfall (ltc-metrics §2.5): how the open pipeline closing in a period moved from the
-- start of the period to its end. A movement measure, read from two frozen snapshots of
-- fct_pipeline_snapshots per period (start = end of the day before the period starts, end = end of
-- the period or the as-of date; each the latest snapshot on or before that day), for the
-- opportunities whose close date falls in the period's close-date window (the calendar period):
--   start + created + pulled_in + amount_change - pushed_out - lost - won = end   (to the cent)
-- * open pipeline = status Pipeline: open, forecast category Pipeline, Best Case or Commit.
-- * start / end: open pipeline in the window at the start / end snapshot.
-- * won / lost: not in the window's open pipeline at the end, closed won / lost with a close date in
--   the window, and not already won / lost at the start; valued at the end snapshot.
-- * pushed_out: in the window's open pipeline at the start and out of it at the end other than by
--   winning or losing in the window (close date moved out, or the deal left the forecastable
--   pipeline: category Omitted while open); valued at the end snapshot.
-- * created: not in the window's open pipeline at the start, not existing at the start snapshot, and
--   in the window at the end (open, won or lost); valued at the end snapshot (its own changes within
--   the period are part of its created amount).
-- * pulled_in: the same for a deal that existed at the start (close date moved into the window,
--   category back from Omitted, reopened); valued at the start snapshot.
-- * amount_change: for every deal in play, the end (or exit) value minus the start (or entry) value;
--   it includes FX revaluation of open deals (snapshots convert at the snapshot day's rate).
-- A deal may appear in several buckets (pulled in, changed and won). Deleted opportunities are left
-- out. Amounts in the reporting currency.
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

snapshot_dates as (

    select distinct snapshot_date from snapshots

),

period_snapshots as (

    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.period_end_capped,
        periods.is_period_complete,
        max(case when snapshot_dates.snapshot_date <= periods.day_before_period_start
            then snapshot_dates.snapshot_date end) as start_snapshot_date,
        max(case when snapshot_dates.snapshot_date <= periods.period_end_capped
            then snapshot_dates.snapshot_date end) as end_snapshot_date
    from periods
    left join snapshot_dates
        on snapshot_dates.snapshot_date <= periods.period_end_capped
    group by
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.period_end_capped,
        periods.is_period_complete

),

-- only the snapshots a period starts or ends on (at 1M leads 13 of 62 snapshot days: 1.2M of 5.0M rows),
-- kept before the join to fct_opportunities (the model 0.9 -> 0.7 s, standalone, side by side)
live_snapshots as (

    select snapshots.*
    from snapshots
    inner join opportunities
        on snapshots.opportunity_id = opportunities.opportunity_id
    where not opportunities.is_deleted
        and snapshots.snapshot_date in (
            select start_snapshot_date from period_snapshots
            union
            select end_snapshot_date from period_snapshots
        )

),

start_states as (

    select
        period_snapshots.period_type,
        period_snapshots.period_start,
        live_snapshots.opportunity_id,
        live_snapshots.amount_reporting,
        live_snapshots.is_won,
        live_snapshots.is_lost,
        (
            live_snapshots.pipeline_status = 'Pipeline'
            and live_snapshots.close_date between period_snapshots.period_start and period_snapshots.period_end
        ) as is_in_window
    from period_snapshots
    inner join live_snapshots
        on live_snapshots.snapshot_date = period_snapshots.start_snapshot_date

),

end_states as (

    select
        period_snapshots.period_type,
        period_snapshots.period_start,
        live_snapshots.opportunity_id,
        live_snapshots.amount_reporting,
        live_snapshots.is_won,
        live_snapshots.is_lost,
        (
            live_snapshots.pipeline_status = 'Pipeline'
            and live_snapshots.close_date between period_snapshots.period_start and period_snapshots.period_end
        ) as is_in_window,
        coalesce(
            live_snapshots.close_date between period_snapshots.period_start and period_snapshots.period_end, false
        ) as is_close_in_window
    from period_snapshots
    inner join live_snapshots
        on live_snapshots.snapshot_date = period_snapshots.end_snapshot_date

),

-- every deal of a period, in its start snapshot, its end snapshot or both: one full outer join (at
-- 1M leads the distinct union of the keys and two left joins back to the states took 1.2 of the
-- model's 2.4 CPU seconds)
deals as (

    select
        coalesce(start_states.period_type, end_states.period_type) as period_type,
        coalesce(start_states.period_start, end_states.period_start) as period_start,
        coalesce(start_states.opportunity_id, end_states.opportunity_id) as opportunity_id,
        start_states.opportunity_id is not null as existed_at_start,
        coalesce(start_states.is_in_window, false) as in_start,
        coalesce(end_states.is_in_window, false) as in_end,
        coalesce(start_states.amount_reporting, 0) as start_amount,
        -- a deal in the start snapshot is in the end snapshot too (snapshots never lose a live deal)
        coalesce(end_states.amount_reporting, start_states.amount_reporting, 0) as end_amount,
        (
            not coalesce(end_states.is_in_window, false)
            and coalesce(end_states.is_won, false)
            and coalesce(end_states.is_close_in_window, false)
            and not coalesce(start_states.is_won, false)
        ) as is_won_exit,
        (
            not coalesce(end_states.is_in_window, false)
            and coalesce(end_states.is_lost, false)
            and coalesce(end_states.is_close_in_window, false)
            and not coalesce(start_states.is_lost, false)
        ) as is_lost_exit
    from start_states
    full outer join end_states
        on start_states.period_type = end_states.period_type
        and start_states.period_start = end_states.period_start
        and start_states.opportunity_id = end_states.opportunity_id

),

deals_classified as (

    select
        *,
        (not in_start and (in_end or is_won_exit or is_lost_exit)) as is_entered,
        (in_start and not in_end and not is_won_exit and not is_lost_exit) as is_pushed_out
    from deals

),

movements as (

    select
        period_type,
        period_start,
        opportunity_id,
        in_start,
        in_end,
        is_won_exit,
        is_lost_exit,
        is_pushed_out,
        is_entered and not existed_at_start as is_created,
        is_entered and existed_at_start as is_pulled_in,
        case when in_start then start_amount else 0 end as start_value,
        case when in_end then end_amount else 0 end as end_value,
        case when is_entered and not existed_at_start then end_amount else 0 end as created_value,
        case when is_entered and existed_at_start then start_amount else 0 end as pulled_in_value,
        case
            when in_start or (is_entered and existed_at_start) then end_amount - start_amount
            else 0
        end as amount_change_value,
        case when is_pushed_out then end_amount else 0 end as pushed_out_value,
        case when is_lost_exit then end_amount else 0 end as lost_value,
        case when is_won_exit then end_amount else 0 end as won_value
    from deals_classified

),

totals as (

    select
        period_type,
        period_start,
        sum(start_value) as start_amount,
        sum(created_value) as created_amount,
        sum(pulled_in_value) as pulled_in_amount,
        sum(amount_change_value) as amount_change,
        sum(case when amount_change_value > 0 then amount_change_value else 0 end) as amount_increase,
        sum(case when amount_change_value < 0 then amount_change_value else 0 end) as amount_decrease,
        sum(pushed_out_value) as pushed_out_amount,
        sum(lost_value) as lost_amount,
        sum(won_value) as won_amount,
        sum(end_value) as end_amount,
        sum(case when in_start then 1 else 0 end) as start_count,
        sum(case when is_created then 1 else 0 end) as created_count,
        sum(case when is_pulled_in then 1 else 0 end) as pulled_in_count,
        sum(case when is_pushed_out then 1 else 0 end) as pushed_out_count,
        sum(case when is_lost_exit then 1 else 0 end) as lost_count,
        sum(case when is_won_exit then 1 else 0 end) as won_count,
        sum(case when in_end then 1 else 0 end) as end_count
    from movements
    group by period_type, period_start

),

final as (

    select
        period_snapshots.period_type,
        period_snapshots.period_start,
        period_snapshots.period_end,
        period_snapshots.period_end_capped,
        period_snapshots.is_period_complete,
        period_snapshots.start_snapshot_date,
        period_snapshots.end_snapshot_date,
        {{ reporting_currency() }} as reporting_currency,
        cast(coalesce(totals.start_amount, 0) as {{ type_money() }}) as start_amount,
        cast(coalesce(totals.created_amount, 0) as {{ type_money() }}) as created_amount,
        cast(coalesce(totals.pulled_in_amount, 0) as {{ type_money() }}) as pulled_in_amount,
        cast(coalesce(totals.amount_change, 0) as {{ type_money() }}) as amount_change,
        cast(coalesce(totals.amount_increase, 0) as {{ type_money() }}) as amount_increase,
        cast(coalesce(totals.amount_decrease, 0) as {{ type_money() }}) as amount_decrease,
        cast(coalesce(totals.pushed_out_amount, 0) as {{ type_money() }}) as pushed_out_amount,
        cast(coalesce(totals.lost_amount, 0) as {{ type_money() }}) as lost_amount,
        cast(coalesce(totals.won_amount, 0) as {{ type_money() }}) as won_amount,
        cast(coalesce(totals.end_amount, 0) as {{ type_money() }}) as end_amount,
        cast(coalesce(totals.start_count, 0) as integer) as start_count,
        cast(coalesce(totals.created_count, 0) as integer) as created_count,
        cast(coalesce(totals.pulled_in_count, 0) as integer) as pulled_in_count,
        cast(coalesce(totals.pushed_out_count, 0) as integer) as pushed_out_count,
        cast(coalesce(totals.lost_count, 0) as integer) as lost_count,
        cast(coalesce(totals.won_count, 0) as integer) as won_count,
        cast(coalesce(totals.end_count, 0) as integer) as end_count,
        {{ as_of_date() }} as as_of_date
    from period_snapshots
    left join totals
        on period_snapshots.period_type = totals.period_type
        and period_snapshots.period_start = totals.period_start

)

select * from final
