{#-
    One row per ERP customer; deleted ones flagged. Columns as landed and the deleted rule:
    macros/erp.sql.
-#}
{%- set canonical = [
    ('customer_id', dbt.type_string()),
    ('customer_number', dbt.type_string()),
    ('name', dbt.type_string()),
    ('country', dbt.type_string()),
    ('currency', dbt.type_string()),
    ('crm_account_id', dbt.type_string()),
    ('tax_id', dbt.type_string()),
    ('iban', dbt.type_string()),
    ('payment_terms_days', dbt.type_int()),
    ('created_at', dbt.type_timestamp()),
    ('updated_at', dbt.type_timestamp()),
    ('is_deleted', dbt.type_int()),
    ('_deleted_in_source_at', dbt.type_timestamp()),
] -%}

with

source as (

    {{ erp_landed_columns('customers', canonical) }}

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
        iban,
        cast(payment_terms_days as integer) as payment_terms_days,
        {{ erp_is_deleted() }} as is_deleted,

        -- timestamps (landed as timestamptz; kept as naive UTC)
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at

    from source

)

select * from renamed
