-- A receipt never applies more than its amount (nor a negative amount), applied + unapplied equals
-- the receipt amount, and no invoice receives more than its total.
{{ config(meta={'dagster': {'ref': {'name': 'fct_cash_receipts'}}}) }}

with

receipts as (

    select * from {{ ref('fct_cash_receipts') }}

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

receipt_violations as (

    select
        receipt_id as record_id,
        'receipt over-applied or unbalanced' as violation
    from receipts
    where applied_amount > amount
        or applied_amount < 0
        or applied_amount + unapplied_amount <> amount

),

invoice_totals as (

    select
        matched_invoice_id as invoice_id,
        sum(applied_amount) as applied_amount
    from receipts
    where matched_invoice_id is not null
    group by matched_invoice_id

),

invoice_violations as (

    select
        invoice_totals.invoice_id as record_id,
        'invoice over-applied' as violation
    from invoice_totals
    inner join invoices
        on invoice_totals.invoice_id = invoices.invoice_id
    where invoice_totals.applied_amount > invoices.total_amount

)

select * from receipt_violations
union all
select * from invoice_violations
