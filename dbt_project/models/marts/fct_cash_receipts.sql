-- One row per bank receipt (CRDT transaction) booked on or before the as-of date (var as_of), with
-- its cash application as of that date (the rule cascade, rolled up per receipt by
-- int_cash_receipts_matched; fct_cash_applications has one row per receipt x invoice). A receipt
-- booked later has not arrived as of the date: no row, nothing applied.
with

receipts as (

    select * from {{ ref('int_cash_receipts_matched') }}

),

fx as (

    select * from {{ ref('int_fx_conversions') }}
    where transaction_type = 'bank_receipt'

),

final as (

    select
        receipts.receipt_id,
        receipts.booking_date,
        receipts.value_date,
        receipts.payer_name,
        receipts.remittance_reference,
        receipts.amount,
        receipts.currency,
        fx.amount_reporting,
        fx.reporting_currency,
        fx.fx_rate,
        fx.fx_rate_date,
        receipts.matched_invoice_id,
        receipts.applied_amount,
        receipts.unapplied_amount,
        receipts.application_status,
        receipts.referenced_invoice_number,
        receipts.payer_iban,
        {{ to_reporting('receipts.applied_amount', 'fx.fx_rate') }} as applied_amount_reporting,
        {{ to_reporting('receipts.unapplied_amount', 'fx.fx_rate') }} as unapplied_amount_reporting,
        receipts.unapplied_reason,
        receipts.as_of_date,
        receipts.application_method,
        receipts.applied_invoice_count,
        receipts.write_off_amount,
        receipts.payer_customer_id
    from receipts
    left join fx
        on receipts.receipt_id = fx.transaction_id

)

select * from final
