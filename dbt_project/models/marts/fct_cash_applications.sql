-- One row per receipt x invoice cash application as of the as-of date (var as_of): the rule
-- cascade of int_cash_applications_allocated (invoice reference, exact amount, oldest first,
-- tolerance), with the customer and account of the invoice and the applied amount in the
-- transaction and reporting currency. Only receipts booked on or before the as-of date apply cash;
-- per invoice, sum(applied_amount) + sum(write_off_amount) never exceeds the invoice total, so AR
-- (rpt_cash_collection) may read cash collected from here.
-- FX: the applied amount is converted at the receipt's rate (its booking date, the FX rule); the
-- difference to the invoice's own rate is a realised FX difference (int_cash_exceptions_flagged).
with

applications as (

    select * from {{ ref('int_cash_applications_allocated') }}

),

invoices as (

    select * from {{ ref('int_invoices_collected') }}

),

fx as (

    select * from {{ ref('int_fx_conversions') }}
    where transaction_type = 'bank_receipt'

),

final as (

    select
        applications.application_id,
        applications.receipt_id,
        applications.invoice_id,
        invoices.customer_id,
        invoices.account_id,
        applications.booking_date,
        applications.applied_amount,
        applications.write_off_amount,
        applications.currency,
        {{ to_reporting('applications.applied_amount', 'fx.fx_rate') }} as applied_amount_reporting,
        {{ to_reporting('applications.write_off_amount', 'fx.fx_rate') }} as write_off_amount_reporting,
        fx.reporting_currency,
        fx.fx_rate,
        fx.fx_rate_date,
        applications.application_method,
        applications.match_rule,
        applications.match_confidence,
        applications.as_of_date
    from applications
    left join invoices
        on applications.invoice_id = invoices.invoice_id
    left join fx
        on applications.receipt_id = fx.transaction_id
    where applications.booking_date <= {{ as_of_date() }}

)

select * from final
