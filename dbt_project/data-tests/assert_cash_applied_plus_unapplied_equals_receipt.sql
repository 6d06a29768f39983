-- The cash-application invariant, to the cent, for every receipt: what fct_cash_applications applies
-- plus what fct_cash_receipts leaves unapplied equals the receipt amount; a receipt never applies
-- more than its amount; no invoice gets more cash + write-off than its total; and only receipts
-- booked on or before the as-of date apply anything.
{{ config(meta={'dagster': {'ref': {'name': 'fct_cash_applications'}}}) }}

with

receipts as (

    select * from {{ ref('fct_cash_receipts') }}

),

applications as (

    select * from {{ ref('fct_cash_applications') }}

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

applied_per_receipt as (

    select receipt_id, sum(applied_amount) as applied_amount
    from applications
    group by receipt_id

),

receipt_violations as (

    select
        receipts.receipt_id as record_id,
        'applied + unapplied <> receipt amount' as violation
    from receipts
    left join applied_per_receipt
        on receipts.receipt_id = applied_per_receipt.receipt_id
    where coalesce(applied_per_receipt.applied_amount, 0) + receipts.unapplied_amount <> receipts.amount
        or coalesce(applied_per_receipt.applied_amount, 0) <> receipts.applied_amount
        or receipts.unapplied_amount < 0
        or receipts.unapplied_amount > receipts.amount

),

orphan_violations as (

    select
        applications.application_id as record_id,
        'application without a receipt as of the date' as violation
    from applications
    left join receipts
        on applications.receipt_id = receipts.receipt_id
    where receipts.receipt_id is null
        or applications.booking_date > {{ as_of_date() }}

),

invoice_violations as (

    select
        applications.invoice_id as record_id,
        'invoice over-applied' as violation
    from applications
    inner join invoices
        on applications.invoice_id = invoices.invoice_id
    group by applications.invoice_id, invoices.total_amount
    having sum(applications.applied_amount + applications.write_off_amount) > invoices.total_amount

)

select * from receipt_violations
union all
select * from orphan_violations
union all
select * from invoice_violations
