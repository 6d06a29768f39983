{#-
    One row per ERP invoice line; currency is its invoice's (lines carry none in the ERP).
    Columns as landed and the deleted rule: macros/erp.sql.
-#}
{%- set canonical = [
    ('invoice_line_id', dbt.type_string()),
    ('invoice_id', dbt.type_string()),
    ('line_number', dbt.type_int()),
    ('order_line_id', dbt.type_string()),
    ('description', dbt.type_string()),
    ('net_amount', ltc.type_money()),
    ('tax_amount', ltc.type_money()),
    ('total_amount', ltc.type_money()),
    ('created_at', dbt.type_timestamp()),
    ('updated_at', dbt.type_timestamp()),
    ('is_deleted', dbt.type_int()),
    ('_deleted_in_source_at', dbt.type_timestamp()),
] -%}

with

source as (

    {{ erp_landed_columns('invoice_lines', canonical) }}

),

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

renamed as (

    select
        -- ids
        cast(invoice_line_id as {{ dbt.type_string() }}) as invoice_line_id,
        cast(invoice_id as {{ dbt.type_string() }}) as invoice_id,
        cast(line_number as integer) as line_number,
        cast(order_line_id as {{ dbt.type_string() }}) as order_line_id,

        -- attributes
        description as line_description,
        {{ erp_is_deleted() }} as is_deleted,

        -- amounts (in the invoice's currency)
        {{ to_money('net_amount') }} as net_amount,
        {{ to_money('tax_amount') }} as tax_amount,
        {{ to_money('total_amount') }} as total_amount,

        -- timestamps (landed as timestamptz; kept as naive UTC)
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at

    from source

),

final as (

    select
        renamed.invoice_line_id,
        renamed.invoice_id,
        renamed.line_number,
        renamed.order_line_id,
        renamed.line_description,
        renamed.is_deleted,
        invoices.currency,
        renamed.net_amount,
        renamed.tax_amount,
        renamed.total_amount,
        renamed.created_at,
        renamed.updated_at
    from renamed
    left join invoices
        on renamed.invoice_id = invoices.invoice_id

)

select * from final
