with

source as (

    select * from {{ source('raw_salesforce', 'campaign_member') }}

),

tombstones as (

    {{ salesforce_tombstones('CampaignMember') }}

),

renamed as (

    select
        -- ids
        id as campaign_member_id,
        campaign_id,
        lead_id,
        contact_id,

        -- attributes
        status,
        coalesce(has_responded, false) as has_responded,
        (coalesce(is_deleted, false) or id in (select id from tombstones)) as is_deleted,

        -- dates and timestamps
        cast(first_responded_date as date) as first_responded_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp_at,

        -- when the row landed (incremental facts find what changed since their last build)
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at

    from source

)

select * from renamed
