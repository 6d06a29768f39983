with

source as (

    select * from {{ source('raw_salesforce', 'contact') }}

),

tombstones as (

    {{ salesforce_tombstones('Contact') }}

),

renamed as (

    select
        -- ids
        id as contact_id,
        account_id,
        owner_id,

        -- attributes
        first_name,
        last_name,
        name as contact_name,
        email,
        (coalesce(is_deleted, false) or id in (select id from tombstones)) as is_deleted,

        -- timestamps
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp_at

    from source

)

select * from renamed
