with

source as (

    select * from {{ source('raw_erp', 'invoices') }}

),

renamed as (

    select
        -- ids
        cast(invoice_id as {{ dbt.type_string() }}) as invoice_id,
        invoice_number,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(order_id as {{ dbt.type_string() }}) as order_id,

        -- attributes
        status,
        {{ to_flag('is_deleted') }} as is_deleted,

        -- amounts
        currency,
        {{ to_money('net_amount') }} as net_amount,
        {{ to_money('tax_amount') }} as tax_amount,
        {{ to_money('total_amount') }} as total_amount,

        -- dates and timestamps (timestamps landed as timestamptz; kept as naive UTC)
        cast(issue_date as date) as issue_date,
        cast(due_date as date) as due_date,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at

    from source

)

select * from renamed
