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

journey_dimensions as (

    -- one value per dimension per journey (NULLs named, as the labels show them)
    select
        journey_id,
        channel,
        coalesce(campaign_id, '(none)') as campaign_value,
        coalesce(campaign_name, campaign_id, 'No campaign') as campaign_label,
        coalesce(region, '(none)') as region_value,
        coalesce(region, 'No region') as region_label,
        coalesce(owner_id, '(none)') as owner_value,
        coalesce(owner_name, owner_id, 'No owner') as owner_label
    from journeys

),

slices as (

    select
        'total' as dimension,
        'all' as dimension_value,
        min('All journeys') as dimension_label
    from journey_dimensions
    having count(*) > 0

    union all

    select
        'channel' as dimension,
        channel as dimension_value,
        min(channel) as dimension_label
    from journey_dimensions
    group by channel

    union all

    select
        'campaign' as dimension,
        campaign_value as dimension_value,
        min(campaign_label) as dimension_label
    from journey_dimensions
    group by campaign_value

    union all

    select
        'region' as dimension,
        region_value as dimension_value,
        min(region_label) as dimension_label
    from journey_dimensions
    group by region_value

    union all

    select
        'owner' as dimension,
        owner_value as dimension_value,
        min(owner_label) as dimension_label
    from journey_dimensions
    group by owner_value

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

measured as (

    -- each (measure, month, stage, journey) once, as stage_events holds each (journey, stage) once
    -- (its key journey_stage_id is tested unique before this model runs) and a journey has one
    -- first-stage row: counting rows per slice below is then counting distinct journeys, so the
    -- finest slices are counted once and rolled up (GROUPING SETS) instead of joining every journey
    -- to its five slices (at 1M leads: see BENCHMARKS.md). No DISTINCT: at 1M leads it hashed
    -- 4.87M rows for 1.2 s of CPU to remove nothing. Each stage event carries its journey's slice
    -- values (those of int_lead_to_cash_journeys_attributed), so the 4.87M rows need no join back
    -- to the journeys (at 1M leads that hash join took 0.4 of the model's 1.5 CPU seconds).
    select
        measure_type,
        period_month,
        stage_code,
        channel,
        coalesce(campaign_id, '(none)') as campaign_value,
        coalesce(region, '(none)') as region_value,
        coalesce(owner_id, '(none)') as owner_value
    from (
        -- cohort: journeys whose first stage was entered in the month, at every stage they reached
        select
            'cohort' as measure_type,
            cohorts.cohort_month as period_month,
            stage_events.stage_code,
            stage_events.channel,
            stage_events.campaign_id,
            stage_events.region,
            stage_events.owner_id
        from cohorts
        inner join stage_events
            on cohorts.journey_id = stage_events.journey_id

        union all

        -- period: journeys that entered the stage in the month
        select
            'period' as measure_type,
            entered_month as period_month,
            stage_code,
            channel,
            campaign_id,
            region,
            owner_id
        from stage_events
    ) as both_measures

),

finest as (

    select
        measure_type,
        period_month,
        stage_code,
        channel,
        campaign_value,
        region_value,
        owner_value,
        count(*) as journeys
    from measured
    group by
        measure_type,
        period_month,
        stage_code,
        channel,
        campaign_value,
        region_value,
        owner_value

),

counts as (

    -- one-column grouping() only: Spark's takes one argument (its grouping_id takes several)
    select
        measure_type,
        period_month,
        stage_code,
        case
            when grouping(channel) = 0 then 'channel'
            when grouping(campaign_value) = 0 then 'campaign'
            when grouping(region_value) = 0 then 'region'
            when grouping(owner_value) = 0 then 'owner'
            else 'total'
        end as dimension,
        case
            when grouping(channel) = 0 then channel
            when grouping(campaign_value) = 0 then campaign_value
            when grouping(region_value) = 0 then region_value
            when grouping(owner_value) = 0 then owner_value
            else 'all'
        end as dimension_value,
        sum(journeys) as journeys
    from finest
    group by grouping sets (
        (measure_type, period_month, stage_code),
        (measure_type, period_month, stage_code, channel),
        (measure_type, period_month, stage_code, campaign_value),
        (measure_type, period_month, stage_code, region_value),
        (measure_type, period_month, stage_code, owner_value)
    )

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
