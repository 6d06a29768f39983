{#-
    One row per ERP sales order line; currency is its order's (lines carry none in the ERP).
    Columns as landed and the deleted rule: macros/erp.sql.
-#}
{%- set canonical = [
    ('order_line_id', dbt.type_string()),
    ('order_id', dbt.type_string()),
    ('line_number', dbt.type_int()),
    ('product_code', dbt.type_string()),
    ('description', dbt.type_string()),
    ('quantity', dbt.type_int()),
    ('unit_price', ltc.type_money()),
    ('net_amount', ltc.type_money()),
    ('created_at', dbt.type_timestamp()),
    ('updated_at', dbt.type_timestamp()),
    ('is_deleted', dbt.type_int()),
    ('_deleted_in_source_at', dbt.type_timestamp()),
] -%}

with

source as (

    {{ erp_landed_columns('sales_order_lines', canonical) }}

),

sales_orders as (

    select * from {{ ref('stg_erp__sales_orders') }}

),

renamed as (

    select
        -- ids
        cast(order_line_id as {{ dbt.type_string() }}) as order_line_id,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(line_number as integer) as line_number,

        -- attributes
        product_code,
        description as line_description,
        cast(quantity as integer) as quantity,
        {{ erp_is_deleted() }} as is_deleted,

        -- amounts (in the order's currency)
        {{ to_money('unit_price') }} as unit_price,
        {{ to_money('net_amount') }} as net_amount,

        -- timestamps (landed as timestamptz; kept as naive UTC)
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at

    from source

),

final as (

    select
        renamed.order_line_id,
        renamed.order_id,
        renamed.line_number,
        renamed.product_code,
        renamed.line_description,
        renamed.quantity,
        renamed.is_deleted,
        sales_orders.currency,
        renamed.unit_price,
        renamed.net_amount,
        renamed.created_at,
        renamed.updated_at
    from renamed
    left join sales_orders
        on renamed.order_id = sales_orders.order_id

)

select * from final
