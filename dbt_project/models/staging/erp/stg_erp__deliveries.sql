{#-
    One row per ERP delivery (shipment) of a sales order; delivered_date is null while in transit.
    Columns as landed and the deleted rule: macros/erp.sql.
-#}
{%- set canonical = [
    ('delivery_id', dbt.type_string()),
    ('delivery_number', dbt.type_string()),
    ('order_id', dbt.type_string()),
    ('shipped_date', 'date'),
    ('delivered_date', 'date'),
    ('status', dbt.type_string()),
    ('created_at', dbt.type_timestamp()),
    ('updated_at', dbt.type_timestamp()),
    ('is_deleted', dbt.type_int()),
    ('_deleted_in_source_at', dbt.type_timestamp()),
] -%}

with

source as (

    {{ erp_landed_columns('deliveries', canonical) }}

),

renamed as (

    select
        -- ids
        cast(delivery_id as {{ dbt.type_string() }}) as delivery_id,
        delivery_number,
        cast(order_id as {{ dbt.type_string() }}) as order_id,

        -- attributes
        status,
        {{ erp_is_deleted() }} as is_deleted,

        -- dates and timestamps (timestamps landed as timestamptz; kept as naive UTC)
        cast(shipped_date as date) as shipped_date,
        cast(delivered_date as date) as delivered_date,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at

    from source

)

select * from renamed
