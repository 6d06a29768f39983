with

source as (

    select * from {{ source('raw_salesforce', 'lead') }}

),

tombstones as (

    {{ salesforce_tombstones('Lead') }}

),

renamed as (

    select
        -- ids
        id as lead_id,
        owner_id,
        converted_account_id,
        converted_contact_id,
        converted_opportunity_id,

        -- attributes
        first_name,
        last_name,
        name as lead_name,
        company,
        email,
        lower(trim(email)) as email_normalized,
        country,
        lead_source,
        status,
        rating,
        coalesce(is_converted, false) as is_converted,
        (coalesce(is_deleted, false) or id in (select id from tombstones)) as is_deleted,

        -- dates and timestamps
        cast(converted_date as date) as converted_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp_at,

        -- when the row landed (incremental facts find what changed since their last build)
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at

    from source

)

select * from renamed
