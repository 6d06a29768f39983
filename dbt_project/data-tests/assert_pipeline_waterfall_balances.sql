-- The pipeline waterfall balances for every period, to the cent (ltc-metrics §2.5):
-- start + created + pulled_in + amount_change - pushed_out - lost - won = end.
-- The counts balance the same way, except that amount changes move no deal.
{{ config(meta={'dagster': {'ref': {'name': 'rpt_pipeline_waterfall'}}}) }}

with

waterfall as (

    select * from {{ ref('rpt_pipeline_waterfall') }}

)

select
    period_type,
    period_start,
    start_amount + created_amount + pulled_in_amount + amount_change
        - pushed_out_amount - lost_amount - won_amount - end_amount as amount_gap,
    start_count + created_count + pulled_in_count
        - pushed_out_count - lost_count - won_count - end_count as count_gap
from waterfall
where start_amount + created_amount + pulled_in_amount + amount_change
        - pushed_out_amount - lost_amount - won_amount <> end_amount
    or start_count + created_count + pulled_in_count
        - pushed_out_count - lost_count - won_count <> end_count
