-- Cohort: journeys that entered the first stage (S1) in the month, counted at every stage they
-- reached by the as-of date. Period: journeys that entered the stage in the month. Both are given
-- for all journeys (dimension 'total') and broken down by channel, campaign, region and owner: a
-- journey has one value per dimension (int_lead_to_cash_journeys_attributed), so within a
-- dimension the slices add up to the total. Every slice gets every month of the spine and every
-- stage, zeros included. Deleted journeys are excluded.
with

stage_events as (

    select * from {{ ref('fct_ltc_stage_events') }}
    where not is_deleted

),

journeys as (

    select * from {{ ref('int_lead_to_cash_journeys_attributed') }}
    where not is_deleted

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

first_stage as (

    select min(stage_order) as stage_order from stages

),

months as (

    select * from (
        {{ month_spine('(select min(entered_date) from stage_events)') }}
    ) as spine

),

measure_types as (

    select 'cohort' as measure_type
    union all
    select 'period' as measure_type

),

journey_slices as (

    select
        journey_id,
        'total' as dimension,
        'all' as dimension_value,
        'All journeys' as dimension_label
    from journeys

    union all

    select
        journey_id,
        'channel' as dimension,
        channel as dimension_value,
        channel as dimension_label
    from journeys

    union all

    select
        journey_id,
        'campaign' as dimension,
        coalesce(campaign_id, '(none)') as dimension_value,
        coalesce(campaign_name, campaign_id, 'No campaign') as dimension_label
    from journeys

    union all

    select
        journey_id,
        'region' as dimension,
        coalesce(region, '(none)') as dimension_value,
        coalesce(region, 'No region') as dimension_label
    from journeys

    union all

    select
        journey_id,
        'owner' as dimension,
        coalesce(owner_id, '(none)') as dimension_value,
        coalesce(owner_name, owner_id, 'No owner') as dimension_label
    from journeys

),

slices as (

    select
        dimension,
        dimension_value,
        min(dimension_label) as dimension_label
    from journey_slices
    group by dimension, dimension_value

),

grid as (

    select
        measure_types.measure_type,
        slices.dimension,
        slices.dimension_value,
        slices.dimension_label,
        months.period_month,
        stages.stage_code,
        stages.stage_order,
        stages.step_name
    from measure_types
    cross join slices
    cross join months
    cross join stages

),

cohorts as (

    select
        stage_events.journey_id,
        stage_events.entered_month as cohort_month
    from stage_events
    inner join first_stage
        on stage_events.stage_order = first_stage.stage_order

),

cohort_counts as (

    select
        'cohort' as measure_type,
        journey_slices.dimension,
        journey_slices.dimension_value,
        cohorts.cohort_month as period_month,
        stage_events.stage_code,
        count(distinct stage_events.journey_id) as journeys
    from cohorts
    inner join stage_events
        on cohorts.journey_id = stage_events.journey_id
    inner join journey_slices
        on cohorts.journey_id = journey_slices.journey_id
    group by
        journey_slices.dimension,
        journey_slices.dimension_value,
        cohorts.cohort_month,
        stage_events.stage_code

),

period_counts as (

    select
        'period' as measure_type,
        journey_slices.dimension,
        journey_slices.dimension_value,
        stage_events.entered_month as period_month,
        stage_events.stage_code,
        count(distinct stage_events.journey_id) as journeys
    from stage_events
    inner join journey_slices
        on stage_events.journey_id = journey_slices.journey_id
    group by
        journey_slices.dimension,
        journey_slices.dimension_value,
        stage_events.entered_month,
        stage_events.stage_code

),

counts as (

    select * from cohort_counts
    union all
    select * from period_counts

),

filled as (

    select
        grid.measure_type,
        grid.dimension,
        grid.dimension_value,
        grid.dimension_label,
        grid.period_month,
        grid.stage_code,
        grid.stage_order,
        grid.step_name,
        cast(coalesce(counts.journeys, 0) as bigint) as journeys
    from grid
    left join counts
        on grid.measure_type = counts.measure_type
        and grid.dimension = counts.dimension
        and grid.dimension_value = counts.dimension_value
        and grid.period_month = counts.period_month
        and grid.stage_code = counts.stage_code

),

final as (

    select
        measure_type,
        dimension,
        dimension_value,
        dimension_label,
        period_month,
        stage_code,
        stage_order,
        step_name,
        journeys,
        {{ safe_ratio(
            'journeys',
            'lag(journeys) over (partition by measure_type, dimension, dimension_value, period_month order by stage_order)'
        ) }} as conversion_from_previous,
        {{ as_of_date() }} as as_of_date
    from filled

)

select * from final
