with

source as (

    select * from {{ source('raw_salesforce', 'account') }}

),

tombstones as (

    {{ salesforce_tombstones('Account') }}

),

renamed as (

    select
        -- ids
        id as account_id,
        owner_id,
        account_number as erp_customer_number,

        -- attributes
        name as account_name,
        type as account_type,
        industry,
        billing_city,
        billing_country,
        currency_iso_code as currency,
        (coalesce(is_deleted, false) or id in (select id from tombstones)) as is_deleted,

        -- timestamps
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp_at

    from source

)

select * from renamed
