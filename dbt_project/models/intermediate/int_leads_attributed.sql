-- One row per lead with the attributes the funnel is sliced by: lead source and its channel (the
-- channel_mapping seed; a source the seed does not list is 'Other'), the first-touch campaign (the
-- earliest campaign membership), the lead owner and the owner's region. Written once here so
-- fct_leads and the journey slices in rpt_funnel_conversion cannot disagree.
with

leads as (

    select * from {{ ref('stg_salesforce__leads') }}

),

users as (

    select * from {{ ref('stg_salesforce__users') }}

),

campaign_members as (

    select * from {{ ref('stg_salesforce__campaign_members') }}

),

channel_mapping as (

    select * from {{ ref('channel_mapping') }}

),

first_campaigns as (

    select
        lead_id,
        campaign_id
    from (
        select
            lead_id,
            campaign_id,
            row_number() over (
                partition by lead_id
                order by created_at, campaign_member_id
            ) as membership_rank
        from campaign_members
        where lead_id is not null
            and not is_deleted
    ) as ranked
    where membership_rank = 1

),

final as (

    select
        leads.lead_id,
        leads.owner_id,
        first_campaigns.campaign_id,
        leads.lead_source,
        coalesce(channel_mapping.channel, 'Other') as channel,
        users.region
    from leads
    left join users
        on leads.owner_id = users.user_id
    left join first_campaigns
        on leads.lead_id = first_campaigns.lead_id
    left join channel_mapping
        on leads.lead_source = channel_mapping.lead_source

)

select * from final
