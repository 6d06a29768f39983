with

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

journeys as (

    select * from {{ ref('int_lead_to_cash_journeys_joined') }}

),

fx as (

    select * from {{ ref('int_fx_conversions') }}
    where transaction_type = 'opportunity'

),

final as (

    select
        opportunities.opportunity_id,
        opportunities.account_id,
        journeys.lead_id,
        opportunities.campaign_id,
        opportunities.owner_id,
        opportunities.stage_name,
        opportunities.forecast_category,
        opportunities.is_closed,
        opportunities.is_won,
        cast(opportunities.created_at as date) as created_date,
        opportunities.close_date,
        opportunities.amount,
        opportunities.currency,
        fx.amount_reporting,
        fx.reporting_currency,
        fx.fx_rate,
        fx.fx_rate_date,
        opportunities.is_deleted,
        opportunities.opportunity_name,
        opportunities.opportunity_type,
        opportunities.lead_source,
        opportunities.probability_pct,
        -- Probability is 0-100: weighted amount divides by 100
        {{ to_money('fx.amount_reporting * opportunities.probability_pct / 100') }} as weighted_amount_reporting,
        opportunities.is_closed and not opportunities.is_won as is_lost
    from opportunities
    left join journeys
        on opportunities.opportunity_id = journeys.opportunity_id
        and journeys.lead_id is not null
    left join fx
        on opportunities.opportunity_id = fx.transaction_id

)

select * from final
