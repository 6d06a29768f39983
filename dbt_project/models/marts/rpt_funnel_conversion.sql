-- Cohort: journeys that entered the first stage (S1) in the month, counted at every stage they
-- reached by the as-of date. Period: journeys that entered the stage in the month.
-- Deleted journeys are excluded.
with

stage_events as (

    select * from {{ ref('fct_ltc_stage_events') }}
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

grid as (

    select
        measure_types.measure_type,
        months.period_month,
        stages.stage_code,
        stages.stage_order,
        stages.step_name
    from measure_types
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
        cohorts.cohort_month as period_month,
        stage_events.stage_code,
        count(distinct stage_events.journey_id) as journeys
    from cohorts
    inner join stage_events
        on cohorts.journey_id = stage_events.journey_id
    group by cohorts.cohort_month, stage_events.stage_code

),

period_counts as (

    select
        'period' as measure_type,
        entered_month as period_month,
        stage_code,
        count(distinct journey_id) as journeys
    from stage_events
    group by entered_month, stage_code

),

counts as (

    select * from cohort_counts
    union all
    select * from period_counts

),

filled as (

    select
        grid.measure_type,
        grid.period_month,
        grid.stage_code,
        grid.stage_order,
        grid.step_name,
        cast(coalesce(counts.journeys, 0) as bigint) as journeys
    from grid
    left join counts
        on grid.measure_type = counts.measure_type
        and grid.period_month = counts.period_month
        and grid.stage_code = counts.stage_code

),

final as (

    select
        measure_type,
        period_month,
        stage_code,
        stage_order,
        step_name,
        journeys,
        {{ safe_ratio(
            'journeys',
            'lag(journeys) over (partition by measure_type, period_month order by stage_order)'
        ) }} as conversion_from_previous,
        {{ as_of_date() }} as as_of_date
    from filled

)

select * from final
