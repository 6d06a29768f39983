-- One row per bank receipt (CRDT transaction) booked on or before the as-of date, with its cash
-- application as of that date: the receipt-level roll-up of the rule cascade
-- (int_cash_receipts_identified: payer and reference; int_cash_applications_allocated: one row per
-- receipt x invoice, rules 1-4). A receipt booked later has not arrived yet: no row.
-- application_status:
-- * unidentified: we do not know who paid - no identified payer and no usable invoice reference
--   (none, an unknown number, or only deleted invoices with it); nothing applied;
-- * unapplied: we know the payer or the invoice, but nothing is applied (invoice cancelled, not yet
--   issued, ambiguous number, currency mismatch, invoice already settled, no open invoice);
-- * partially applied: part applied, the remainder on account (an overpayment);
-- * applied: all of it applied (a shortfall written off by the tolerance rule is on the invoice).
-- matched_invoice_id: the one invoice the cash went to; else the one invoice the remittance names
-- when nothing was applied (cancelled, already settled, other currency: kept for follow-up); null
-- when the cash went to several invoices (fct_cash_applications has them) or to none identifiable.
-- unapplied_reason says why (part of) a receipt is not applied; null when fully applied.
with

receipts as (

    select * from {{ ref('int_cash_receipts_identified') }}

),

applications as (

    select * from {{ ref('int_cash_applications_allocated') }}

),

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

applied_per_receipt as (

    select
        receipt_id,
        sum(applied_amount) as applied_amount,
        sum(write_off_amount) as write_off_amount,
        count(*) as applied_invoice_count,
        min(invoice_id) as first_invoice_id,
        -- the cascade rule that found the invoice(s): one per receipt
        min(match_rule) as match_rule,
        max(case when application_method = 'tolerance' then 1 else 0 end) as used_tolerance
    from applications
    group by receipt_id

),

joined as (

    select
        receipts.*,
        coalesce(applied_per_receipt.applied_amount, 0) as applied_total,
        coalesce(applied_per_receipt.write_off_amount, 0) as write_off_total,
        coalesce(applied_per_receipt.applied_invoice_count, 0) as applied_invoice_count,
        applied_per_receipt.first_invoice_id,
        applied_per_receipt.match_rule,
        applied_per_receipt.used_tolerance
    from receipts
    left join applied_per_receipt
        on receipts.receipt_id = applied_per_receipt.receipt_id

),

final as (

    select
        joined.receipt_id,
        joined.booking_date,
        joined.value_date,
        joined.payer_name,
        joined.payer_iban,
        joined.payer_customer_id,
        joined.remittance_reference,
        joined.referenced_invoice_number,
        joined.currency,
        joined.amount,
        case
            when joined.applied_invoice_count = 1 then joined.first_invoice_id
            when joined.applied_invoice_count = 0 then joined.referenced_invoice_id
        end as matched_invoice_id,
        invoices.currency as invoice_currency,
        {{ to_money('joined.applied_total') }} as applied_amount,
        {{ to_money('joined.amount - joined.applied_total') }} as unapplied_amount,
        {{ to_money('joined.write_off_total') }} as write_off_amount,
        cast(joined.applied_invoice_count as integer) as applied_invoice_count,
        case
            when joined.used_tolerance = 1 then 'tolerance'
            else joined.match_rule
        end as application_method,
        case
            when joined.applied_total = joined.amount and joined.applied_total > 0 then 'applied'
            when joined.applied_total > 0 then 'partially applied'
            when joined.identified_by is null
                and joined.payer_customer_id is null
                and joined.match_exception in ('no invoice reference', 'unknown invoice number', 'invoice deleted')
                then 'unidentified'
            else 'unapplied'
        end as application_status,
        case
            when joined.applied_total = joined.amount and joined.applied_total > 0 then null
            when joined.applied_total > 0 then 'on account'
            when joined.identified_by = 'payer' then 'no open invoice'
            when joined.match_exception is not null then joined.match_exception
            when joined.currency <> invoices.currency then 'currency mismatch'
            else 'invoice already settled'
        end as unapplied_reason,
        joined.as_of_date
    from joined
    left join invoices
        on case
            when joined.applied_invoice_count = 1 then joined.first_invoice_id
            when joined.applied_invoice_count = 0 then joined.referenced_invoice_id
        end = invoices.invoice_id

)

select * from final
