with

source as (

    select * from {{ source('raw_erp', 'sales_orders') }}

),

renamed as (

    select
        -- ids
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        order_number,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        crm_opportunity_id as opportunity_id,
        contract_number,

        -- attributes
        status,

        -- amounts
        currency,
        {{ to_money('net_amount') }} as net_amount,

        -- dates and timestamps (timestamps landed as timestamptz; kept as naive UTC)
        cast(order_date as date) as order_date,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at

    from source

)

select * from renamed
