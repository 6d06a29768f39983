-- One row per lead-to-cash journey: every lead, plus every opportunity that no lead converted
-- into. A converted opportunity belongs to one lead (the earliest non-deleted lead that converted
-- into it), so downstream amounts are never counted twice.
with

leads as (

    select * from {{ ref('stg_salesforce__leads') }}

),

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

lead_opportunity_candidates as (

    select
        converted_opportunity_id as opportunity_id,
        lead_id,
        row_number() over (
            partition by converted_opportunity_id
            order by case when is_deleted then 1 else 0 end, created_at, lead_id
        ) as lead_rank
    from leads
    where converted_opportunity_id is not null

),

opportunity_leads as (

    select
        lead_opportunity_candidates.opportunity_id,
        lead_opportunity_candidates.lead_id
    from lead_opportunity_candidates
    inner join opportunities
        on lead_opportunity_candidates.opportunity_id = opportunities.opportunity_id
    where lead_opportunity_candidates.lead_rank = 1

),

lead_journeys as (

    select
        leads.lead_id as journey_id,
        'lead' as journey_type,
        leads.lead_id,
        opportunity_leads.opportunity_id,
        coalesce(opportunities.account_id, leads.converted_account_id) as account_id,
        leads.is_deleted
    from leads
    left join opportunity_leads
        on leads.lead_id = opportunity_leads.lead_id
    left join opportunities
        on opportunity_leads.opportunity_id = opportunities.opportunity_id

),

opportunity_journeys as (

    select
        opportunities.opportunity_id as journey_id,
        'opportunity' as journey_type,
        cast(null as {{ dbt.type_string() }}) as lead_id,
        opportunities.opportunity_id,
        opportunities.account_id,
        opportunities.is_deleted
    from opportunities
    left join opportunity_leads
        on opportunities.opportunity_id = opportunity_leads.opportunity_id
    where opportunity_leads.opportunity_id is null

),

final as (

    select * from lead_journeys
    union all
    select * from opportunity_journeys

)

select * from final
