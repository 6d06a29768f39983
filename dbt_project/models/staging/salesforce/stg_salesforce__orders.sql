with

source as (

    select * from {{ source('raw_salesforce', 'order') }}

),

tombstones as (

    {{ salesforce_tombstones('Order') }}

),

renamed as (

    select
        -- ids
        id as order_id,
        account_id,
        contract_id,
        opportunity_id,
        order_number,

        -- attributes
        status,
        (coalesce(is_deleted, false) or id in (select id from tombstones)) as is_deleted,

        -- amounts
        currency_iso_code as currency,
        {{ to_money('total_amount') }} as total_amount,

        -- dates and timestamps
        cast(effective_date as date) as effective_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp_at

    from source

)

select * from renamed
