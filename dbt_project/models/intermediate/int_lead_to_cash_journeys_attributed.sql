-- One row per lead-to-cash journey with the slices the funnel is broken down by: channel, campaign,
-- owner and region. A lead journey keeps its lead's attributes (lead source, first-touch campaign,
-- lead owner and the owner's region) at every stage, so a cohort stays one cohort when the deal
-- passes to an account executive; an opportunity that came without a lead takes the opportunity's
-- lead source, primary campaign and owner.
with

journeys as (

    select * from {{ ref('int_lead_to_cash_journeys_joined') }}

),

lead_attributes as (

    select * from {{ ref('int_leads_attributed') }}

),

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

users as (

    select * from {{ ref('stg_salesforce__users') }}

),

campaigns as (

    select * from {{ ref('stg_salesforce__campaigns') }}

),

channel_mapping as (

    select * from {{ ref('channel_mapping') }}

),

opportunity_attributes as (

    select
        opportunities.opportunity_id,
        opportunities.owner_id,
        opportunities.campaign_id,
        opportunities.lead_source,
        coalesce(channel_mapping.channel, 'Other') as channel,
        users.region
    from opportunities
    left join users
        on opportunities.owner_id = users.user_id
    left join channel_mapping
        on opportunities.lead_source = channel_mapping.lead_source

),

-- each journey once, with its journey columns carried through (joining the 1M journeys back to
-- this cost a second hash join of the same rows)
attributed as (

    select
        journeys.journey_id,
        journeys.journey_type,
        journeys.lead_id,
        journeys.opportunity_id,
        journeys.is_deleted,
        lead_attributes.lead_source,
        lead_attributes.channel,
        lead_attributes.campaign_id,
        lead_attributes.owner_id,
        lead_attributes.region
    from journeys
    inner join lead_attributes
        on journeys.lead_id = lead_attributes.lead_id

    union all

    select
        journeys.journey_id,
        journeys.journey_type,
        journeys.lead_id,
        journeys.opportunity_id,
        journeys.is_deleted,
        opportunity_attributes.lead_source,
        opportunity_attributes.channel,
        opportunity_attributes.campaign_id,
        opportunity_attributes.owner_id,
        opportunity_attributes.region
    from journeys
    inner join opportunity_attributes
        on journeys.opportunity_id = opportunity_attributes.opportunity_id
    where journeys.lead_id is null

),

final as (

    select
        attributed.journey_id,
        attributed.journey_type,
        attributed.lead_id,
        attributed.opportunity_id,
        attributed.lead_source,
        attributed.channel,
        attributed.campaign_id,
        campaigns.campaign_name,
        attributed.owner_id,
        users.user_name as owner_name,
        attributed.region,
        attributed.is_deleted
    from attributed
    left join campaigns
        on attributed.campaign_id = campaigns.campaign_id
    left join users
        on attributed.owner_id = users.user_id

)

select * from final
