with

source as (

    select * from {{ source('raw_salesforce', 'contract') }}

),

tombstones as (

    {{ salesforce_tombstones('Contract') }}

),

renamed as (

    select
        -- ids
        id as contract_id,
        account_id,
        opportunity_c as opportunity_id,
        contract_number,

        -- attributes
        status,
        cast(contract_term as integer) as contract_term_months,
        (coalesce(is_deleted, false) or id in (select id from tombstones)) as is_deleted,

        -- amounts
        currency_iso_code as currency,
        {{ to_money('contract_value_c') }} as contract_value,

        -- dates and timestamps
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(customer_signed_date as date) as customer_signed_date,
        {{ to_utc_timestamp('activated_date') }} as activated_at,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp_at

    from source

)

select * from renamed
