with

source as (

    select * from {{ source('raw_salesforce', 'campaign') }}

),

tombstones as (

    {{ salesforce_tombstones('Campaign') }}

),

renamed as (

    select
        -- ids
        id as campaign_id,
        owner_id,

        -- attributes
        name as campaign_name,
        type as campaign_type,
        status,
        coalesce(is_active, false) as is_active,
        (coalesce(is_deleted, false) or id in (select id from tombstones)) as is_deleted,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,

        -- amounts
        currency_iso_code as currency,
        {{ to_money('budgeted_cost') }} as budgeted_cost,
        {{ to_money('actual_cost') }} as actual_cost,

        -- timestamps
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp_at

    from source

)

select * from renamed
