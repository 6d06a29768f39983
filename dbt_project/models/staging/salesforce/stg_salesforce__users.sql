with

source as (

    select * from {{ source('raw_salesforce', 'user') }}

),

tombstones as (

    {{ salesforce_tombstones('User') }}

),

renamed as (

    select
        -- ids
        id as user_id,

        -- attributes
        username,
        name as user_name,
        email,
        department as region,
        coalesce(is_active, false) as is_active,
        (coalesce(is_deleted, false) or id in (select id from tombstones)) as is_deleted,

        -- timestamps
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp_at,

        -- when the row landed (incremental facts find what changed since their last build)
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at

    from source

)

select * from renamed
