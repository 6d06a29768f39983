{#-
    One row per ERP credit note, each against one invoice.
    Columns as landed and the deleted rule: macros/erp.sql.
-#}
{%- set canonical = [
    ('credit_note_id', dbt.type_string()),
    ('credit_note_number', dbt.type_string()),
    ('invoice_id', dbt.type_string()),
    ('customer_id', dbt.type_string()),
    ('issue_date', 'date'),
    ('currency', dbt.type_string()),
    ('net_amount', ltc.type_money()),
    ('tax_amount', ltc.type_money()),
    ('total_amount', ltc.type_money()),
    ('reason', dbt.type_string()),
    ('created_at', dbt.type_timestamp()),
    ('updated_at', dbt.type_timestamp()),
    ('is_deleted', dbt.type_int()),
    ('_deleted_in_source_at', dbt.type_timestamp()),
] -%}

with

source as (

    {{ erp_landed_columns('credit_notes', canonical) }}

),

renamed as (

    select
        -- ids
        cast(credit_note_id as {{ dbt.type_string() }}) as credit_note_id,
        credit_note_number,
        cast(invoice_id as {{ dbt.type_string() }}) as invoice_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,

        -- attributes
        reason,
        {{ erp_is_deleted() }} as is_deleted,

        -- amounts
        currency,
        {{ to_money('net_amount') }} as net_amount,
        {{ to_money('tax_amount') }} as tax_amount,
        {{ to_money('total_amount') }} as total_amount,

        -- dates and timestamps (timestamps landed as timestamptz; kept as naive UTC)
        cast(issue_date as date) as issue_date,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at

    from source

)

select * from renamed
