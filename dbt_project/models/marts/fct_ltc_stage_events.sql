-- Stages are cumulative: a journey that entered stage k has entered every stage between its first
-- stage and k; each stage's entry date is the earliest event of that stage or any later one. Each
-- row carries its journey's funnel slices (channel, campaign, owner, region), fixed for the journey.
with

events as (

    select * from {{ ref('int_ltc_stage_events_unioned') }}

),

journeys as (

    select * from {{ ref('int_lead_to_cash_journeys_attributed') }}

),

stage_mapping as (

    select * from {{ ref('ltc_stage_mapping') }}

),

stages as (

    select
        stage_code,
        stage_order,
        min(step_name) as step_name
    from stage_mapping
    group by stage_code, stage_order

),

stage_firsts as (

    -- only a journey's first date per stage order can be an entry date: reduce the events to that
    -- before the cumulative join (at 1M leads: 3.76M events, 2.47M journey stages)
    select
        journey_id,
        stage_order,
        min(event_date) as first_date
    from events
    group by journey_id, stage_order

),

journey_bounds as (

    select
        journey_id,
        min(stage_order) as first_stage_order,
        max(stage_order) as last_stage_order
    from stage_firsts
    group by journey_id

),

journey_stages as (

    select
        journey_bounds.journey_id,
        stages.stage_code,
        stages.stage_order,
        stages.step_name
    from journey_bounds
    inner join stages
        on stages.stage_order between journey_bounds.first_stage_order and journey_bounds.last_stage_order

),

-- each stage of the journey with its own first date, null for a stage it skipped
stage_dates as (

    select
        journey_stages.journey_id,
        journey_stages.stage_code,
        journey_stages.stage_order,
        journey_stages.step_name,
        stage_firsts.first_date
    from journey_stages
    left join stage_firsts
        on journey_stages.journey_id = stage_firsts.journey_id
        and journey_stages.stage_order = stage_firsts.stage_order

),

-- entered = the earliest first date of the stage or any later one: a running minimum from the
-- last stage down (one sort per journey instead of joining every stage to every later one: at 1M
-- leads 1.14 s against 1.36 s for the two steps, same 2.47M rows). The next stage's entry date is
-- the same minimum over the later stages only: one window frame more on the same sort, where a
-- lead() after the join re-sorted 2.47M wide rows (at 1M leads the model's query 2.5 s -> 1.8 s).
entered as (

    select
        journey_id,
        stage_code,
        stage_order,
        step_name,
        min(first_date) over (
            partition by journey_id
            order by stage_order desc
            rows between unbounded preceding and current row
        ) as entered_date,
        min(first_date) over (
            partition by journey_id
            order by stage_order desc
            rows between unbounded preceding and 1 preceding
        ) as next_stage_entered_date
    from stage_dates

),

final as (

    select
        {{ dbt.concat(["entered.journey_id", "'-'", "entered.stage_code"]) }} as journey_stage_id,
        entered.journey_id,
        journeys.lead_id,
        journeys.opportunity_id,
        journeys.channel,
        journeys.campaign_id,
        journeys.owner_id,
        journeys.region,
        entered.stage_code,
        entered.stage_order,
        entered.step_name,
        entered.entered_date,
        {{ month_start('entered.entered_date') }} as entered_month,
        entered.next_stage_entered_date,
        {{ as_of_date() }} as as_of_date,
        journeys.is_deleted
    from entered
    inner join journeys
        on entered.journey_id = journeys.journey_id

)

select * from final
