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

-- first-touch campaign: the lead's earliest campaign membership
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

-- duplicates: the same normalised email as an earlier non-deleted lead
duplicates as (

    select
        lead_id,
        row_number() over (
            partition by email_normalized
            order by created_at, lead_id
        ) > 1 as is_duplicate
    from leads
    where not is_deleted
        and email_normalized is not null
        and email_normalized <> ''

),

final as (

    select
        leads.lead_id,
        leads.owner_id,
        first_campaigns.campaign_id,
        leads.lead_source,
        coalesce(channel_mapping.channel, 'Other') as channel,
        users.region,
        leads.status,
        leads.created_at,
        cast(leads.created_at as date) as created_date,
        leads.is_converted,
        leads.converted_date,
        leads.converted_account_id,
        leads.converted_opportunity_id,
        coalesce(duplicates.is_duplicate, false) as is_duplicate,
        leads.is_deleted,
        leads.company,
        leads.country,
        leads.rating
    from leads
    left join users
        on leads.owner_id = users.user_id
    left join first_campaigns
        on leads.lead_id = first_campaigns.lead_id
    left join channel_mapping
        on leads.lead_source = channel_mapping.lead_source
    left join duplicates
        on leads.lead_id = duplicates.lead_id

)

select * from final
