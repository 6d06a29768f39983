-- Every journey has exactly one value per dimension, so for every measure type, month and stage
-- the slices of each dimension (channel, campaign, region, owner) add up to the total row.
{{ config(meta={'dagster': {'ref': {'name': 'rpt_funnel_conversion'}}}) }}

with

funnel as (

    select * from {{ ref('rpt_funnel_conversion') }}

),

totals as (

    select measure_type, period_month, stage_code, journeys
    from funnel
    where dimension = 'total'

),

slice_sums as (

    select
        measure_type,
        dimension,
        period_month,
        stage_code,
        sum(journeys) as journeys
    from funnel
    where dimension <> 'total'
    group by measure_type, dimension, period_month, stage_code

),

final as (

    select
        slice_sums.measure_type,
        slice_sums.dimension,
        slice_sums.period_month,
        slice_sums.stage_code,
        slice_sums.journeys as slice_journeys,
        totals.journeys as total_journeys
    from slice_sums
    left join totals
        on slice_sums.measure_type = totals.measure_type
        and slice_sums.period_month = totals.period_month
        and slice_sums.stage_code = totals.stage_code
    where totals.journeys is null
        or slice_sums.journeys <> totals.journeys

)

select * from final
