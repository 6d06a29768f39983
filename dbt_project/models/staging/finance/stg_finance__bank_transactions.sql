with

source as (

    select * from {{ source('raw_finance', 'bank_transactions') }}

),

renamed as (

    select
        -- ids
        transaction_id as bank_transaction_id,
        entry_reference,
        end_to_end_id,
        statement_id,

        -- attributes
        file_name,
        file_sha256,
        account_iban,
        account_currency,
        credit_debit,
        credit_debit = 'CRDT' as is_credit,
        debtor_name,
        debtor_iban,
        remittance_unstructured,
        remittance_structured_reference,

        -- amounts (always positive; credit_debit gives the direction)
        currency,
        {{ to_money('amount') }} as amount,

        -- dates
        cast(booking_date as date) as booking_date,
        cast(value_date as date) as value_date

    from source

)

select * from renamed
