{#-
    One row per ERP sales order; deleted ones flagged. Columns as landed and the deleted rule:
    macros/erp.sql.
-#}
{%- set canonical = [
    ('order_id', dbt.type_string()),
    ('order_number', dbt.type_string()),
    ('customer_id', dbt.type_string()),
    ('crm_opportunity_id', dbt.type_string()),
    ('contract_number', dbt.type_string()),
    ('order_date', 'date'),
    ('currency', dbt.type_string()),
    ('net_amount', ltc.type_money()),
    ('status', dbt.type_string()),
    ('created_at', dbt.type_timestamp()),
    ('updated_at', dbt.type_timestamp()),
    ('is_deleted', dbt.type_int()),
    ('_deleted_in_source_at', dbt.type_timestamp()),
] -%}

with

source as (

    {{ erp_landed_columns('sales_orders', canonical) }}

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
        {{ erp_is_deleted() }} as is_deleted,

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
