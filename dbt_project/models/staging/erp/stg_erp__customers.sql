with

source as (

    select * from {{ source('raw_erp', 'customers') }}

),

renamed as (

    select
        -- ids
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        customer_number,
        crm_account_id as account_id,

        -- attributes
        name as customer_name,
        country,
        currency,
        tax_id,
        cast(payment_terms_days as integer) as payment_terms_days,

        -- timestamps (landed as timestamptz; kept as naive UTC)
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at

    from source

)

select * from renamed
