-- Pipeline created, coverage, win rate (count and value) and sales-cycle length per period
-- (ltc-metrics §2.3-2.5), the sales tiles rpt_funnel_conversion does not carry. Period measures, as of
-- the as-of date, read from the same frozen snapshots and the same bucket definitions as
-- rpt_pipeline_waterfall, so the numbers tie to it.
-- * pipeline created (p) = opportunities created in p, with their reporting amount at the end snapshot
--   of p (period end or the as-of date); created_and_won = those of them won with a close date in p.
-- * win rate, for deals closed in p (the waterfall's won and lost: closed won / lost with a close date
--   in p during p; open deals excluded, no "no decision" stage exists): by count = won / (won + lost),
--   by value = Σ won / (Σ won + Σ lost).
-- * coverage: there is no quota source yet, so the target is the won amount of the same period one
--   year earlier (ltc-metrics defines open pipeline closing in p / (quota - closed-won to date); at the
--   start of p closed-won to date is 0). coverage = open pipeline at the start of p closing in p (the
--   waterfall's start) / won one year earlier; required coverage = 1 / win rate by value over the
--   twelve months before p (monthly waterfall rows), null when nothing closed then.
-- * sales cycle (won only, Fivetran's convention): days from created date to close date of the deals
--   won in p, average and median.
-- Deleted opportunities are left out.
with

waterfall as (

    select * from {{ ref('rpt_pipeline_waterfall') }}

),

snapshots as (

    select * from {{ ref('fct_pipeline_snapshots') }}
    where snapshot_date <= {{ as_of_date() }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

live_snapshots as (

    select snapshots.*
    from snapshots
    inner join opportunities
        on snapshots.opportunity_id = opportunities.opportunity_id
    where not opportunities.is_deleted

),

end_states as (

    select
        waterfall.period_type,
        waterfall.period_start,
        live_snapshots.opportunity_id,
        live_snapshots.opportunity_created_date,
        live_snapshots.close_date,
        live_snapshots.amount_reporting,
        live_snapshots.is_won,
        coalesce(
            live_snapshots.opportunity_created_date between waterfall.period_start and waterfall.period_end, false
        ) as is_created_in_period,
        coalesce(
            live_snapshots.is_won and live_snapshots.close_date between waterfall.period_start and waterfall.period_end,
            false
        ) as is_won_in_window
    from waterfall
    inner join live_snapshots
        on live_snapshots.snapshot_date = waterfall.end_snapshot_date

),

start_won as (

    select
        waterfall.period_type,
        waterfall.period_start,
        live_snapshots.opportunity_id
    from waterfall
    inner join live_snapshots
        on live_snapshots.snapshot_date = waterfall.start_snapshot_date
    where live_snapshots.is_won

),

created as (

    select
        period_type,
        period_start,
        count(*) as created_count,
        sum(coalesce(amount_reporting, 0)) as created_amount,
        sum(case when is_won_in_window then 1 else 0 end) as created_and_won_count,
        sum(case when is_won_in_window then coalesce(amount_reporting, 0) else 0 end) as created_and_won_amount
    from end_states
    where is_created_in_period
    group by period_type, period_start

),

cycles as (

    -- the waterfall's won deals: won in the window at the end, not won at the start
    select
        end_states.period_type,
        end_states.period_start,
        avg(cast(
            {{ days_between('end_states.opportunity_created_date', 'end_states.close_date') }} as numeric(18, 6)
        )) as avg_days,
        percentile_cont(0.5) within group (
            order by {{ days_between('end_states.opportunity_created_date', 'end_states.close_date') }}
        ) as median_days
    from end_states
    left join start_won
        on end_states.period_type = start_won.period_type
        and end_states.period_start = start_won.period_start
        and end_states.opportunity_id = start_won.opportunity_id
    where end_states.is_won_in_window
        and start_won.opportunity_id is null
    group by end_states.period_type, end_states.period_start

),

trailing_year as (

    select
        waterfall.period_type,
        waterfall.period_start,
        sum(months.won_amount) as trailing_won_amount,
        sum(months.won_amount + months.lost_amount) as trailing_closed_amount
    from waterfall
    inner join waterfall as months
        on months.period_type = 'month'
        and months.period_start >= cast({{ dbt.dateadd('month', -12, 'waterfall.period_start') }} as date)
        and months.period_start < waterfall.period_start
    group by waterfall.period_type, waterfall.period_start

),

final as (

    select
        waterfall.period_type,
        waterfall.period_start,
        waterfall.period_end,
        waterfall.is_period_complete,
        waterfall.start_snapshot_date,
        waterfall.end_snapshot_date,
        waterfall.reporting_currency,
        cast(coalesce(created.created_count, 0) as integer) as pipeline_created_count,
        cast(coalesce(created.created_amount, 0) as {{ type_money() }}) as pipeline_created_amount,
        cast(coalesce(created.created_and_won_count, 0) as integer) as created_and_won_count,
        cast(coalesce(created.created_and_won_amount, 0) as {{ type_money() }}) as created_and_won_amount,
        waterfall.start_amount as open_pipeline_start_amount,
        waterfall.won_count,
        waterfall.lost_count,
        waterfall.won_amount,
        waterfall.lost_amount,
        {{ safe_ratio('waterfall.won_count', 'waterfall.won_count + waterfall.lost_count') }} as win_rate_by_count,
        {{ safe_ratio('waterfall.won_amount', 'waterfall.won_amount + waterfall.lost_amount') }} as win_rate_by_value,
        prior_year.won_amount as won_prior_year_amount,
        {{ safe_ratio('waterfall.start_amount', 'prior_year.won_amount') }} as coverage_vs_prior_year_won,
        {{ safe_ratio(
            'trailing_year.trailing_closed_amount', 'trailing_year.trailing_won_amount'
        ) }} as required_coverage,
        cast(cycles.avg_days as {{ type_rate() }}) as sales_cycle_avg_days,
        cast(cycles.median_days as {{ type_rate() }}) as sales_cycle_median_days,
        waterfall.as_of_date
    from waterfall
    left join created
        on waterfall.period_type = created.period_type
        and waterfall.period_start = created.period_start
    left join cycles
        on waterfall.period_type = cycles.period_type
        and waterfall.period_start = cycles.period_start
    left join trailing_year
        on waterfall.period_type = trailing_year.period_type
        and waterfall.period_start = trailing_year.period_start
    left join waterfall as prior_year
        on waterfall.period_type = prior_year.period_type
        and prior_year.period_start = cast({{ dbt.dateadd('year', -1, 'waterfall.period_start') }} as date)

)

select * from final
