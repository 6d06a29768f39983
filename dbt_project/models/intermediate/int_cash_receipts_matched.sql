-- v1 cash application as of the as-of date: one row per bank receipt (CRDT transaction) booked on
-- or before it (a receipt booked later has not arrived yet: no row, nothing applied).
-- The invoice number found in the remittance text is looked up among the ERP invoices that are not
-- deleted and were issued on or before the as-of date (cancellation and deletion are current state,
-- applied to every as-of date, as in the marts):
-- * exactly one live (not cancelled) invoice has the number: matched to it. Receipts on the same
--   invoice are applied in booking order, each applying least(receipt amount, what is still open
--   on the invoice) when the currencies agree; in another currency nothing is applied (unapplied).
-- * no live invoice, but a cancelled one: the cash is NOT applied (a cancelled invoice is no
--   receivable) and the receipt is unapplied with the cancelled invoice as its match, an
--   exception for finance (refund, or re-apply to the replacement invoice).
-- * two or more live invoices share the number: ambiguous, nothing applied, no match (unapplied).
--   A receipt never yields more than one row.
-- * the number belongs to an invoice issued after the as-of date only: a payment against a
--   future-dated invoice (ltc-metrics §3.1), unapplied as of the as-of date.
-- * no number in the remittance, an unknown number, or only deleted invoices with that number:
--   unidentified.
-- unapplied_reason says why (part of) a receipt is not applied; null when fully applied.
with

bank_transactions as (

    select * from {{ ref('stg_finance__bank_transactions') }}

),

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

receipts as (

    select
        bank_transaction_id as receipt_id,
        booking_date,
        value_date,
        debtor_name as payer_name,
        debtor_iban as payer_iban,
        remittance_unstructured,
        remittance_structured_reference,
        coalesce(remittance_unstructured, remittance_structured_reference) as remittance_reference,
        {{ regex_extract_first(
            "coalesce(remittance_unstructured, '') || ' ' || coalesce(remittance_structured_reference, '')",
            var('invoice_reference_pattern')
        ) }} as referenced_invoice_number,
        currency,
        amount
    from bank_transactions
    where is_credit
        and booking_date <= {{ as_of_date() }}

),

invoice_states as (

    select
        invoice_id,
        invoice_number,
        case
            when is_deleted then 'deleted'
            when issue_date is null or issue_date > {{ as_of_date() }} then 'not yet issued'
            when coalesce(status, '') = 'cancelled' then 'cancelled'
            else 'live'
        end as invoice_state
    from invoices
    where invoice_number is not null

),

-- one row per invoice number: how many invoices of each state carry it
invoice_numbers as (

    select
        invoice_number,
        sum(case when invoice_state = 'live' then 1 else 0 end) as live_count,
        min(case when invoice_state = 'live' then invoice_id end) as live_invoice_id,
        sum(case when invoice_state = 'cancelled' then 1 else 0 end) as cancelled_count,
        min(case when invoice_state = 'cancelled' then invoice_id end) as cancelled_invoice_id,
        sum(case when invoice_state = 'not yet issued' then 1 else 0 end) as not_yet_issued_count
    from invoice_states
    group by invoice_number

),

resolved as (

    select
        receipts.*,
        case
            when receipts.referenced_invoice_number is null then 'no invoice reference'
            when invoice_numbers.live_count = 1 then null
            when invoice_numbers.live_count > 1 then 'ambiguous invoice number'
            when invoice_numbers.cancelled_count > 0 then 'invoice cancelled'
            when invoice_numbers.not_yet_issued_count > 0 then 'invoice not yet issued'
            when invoice_numbers.invoice_number is not null then 'invoice deleted'
            else 'unknown invoice number'
        end as match_exception,
        case
            when invoice_numbers.live_count = 1 then invoice_numbers.live_invoice_id
            when invoice_numbers.live_count = 0 and invoice_numbers.cancelled_count = 1
                then invoice_numbers.cancelled_invoice_id
        end as matched_invoice_id
    from receipts
    left join invoice_numbers
        on receipts.referenced_invoice_number = invoice_numbers.invoice_number

),

matched as (

    select
        resolved.*,
        invoices.currency as invoice_currency,
        invoices.total_amount as invoice_total_amount,
        -- the live invoice cash may be applied to: same currency, nothing in the way
        case
            when resolved.match_exception is null and resolved.currency = invoices.currency
                then resolved.matched_invoice_id
        end as applicable_invoice_id
    from resolved
    left join invoices
        on resolved.matched_invoice_id = invoices.invoice_id

),

sequenced as (

    select
        *,
        -- receipts already applicable to this invoice, in booking order
        coalesce(sum(
            case when applicable_invoice_id is not null then amount end
        ) over (
            partition by applicable_invoice_id
            order by booking_date, receipt_id
            rows between unbounded preceding and 1 preceding
        ), 0) as previously_received_amount
    from matched

),

applied as (

    select
        *,
        case
            when applicable_invoice_id is null then {{ to_money('0') }}
            else {{ to_money(
                'least(amount, greatest(invoice_total_amount - previously_received_amount, 0))'
            ) }}
        end as applied_amount
    from sequenced

),

final as (

    select
        receipt_id,
        booking_date,
        value_date,
        payer_name,
        payer_iban,
        remittance_reference,
        referenced_invoice_number,
        currency,
        amount,
        matched_invoice_id,
        invoice_currency,
        applied_amount,
        {{ to_money('amount - applied_amount') }} as unapplied_amount,
        case
            when match_exception in ('no invoice reference', 'unknown invoice number', 'invoice deleted')
                then 'unidentified'
            when applicable_invoice_id is null then 'unapplied'
            when applied_amount = amount then 'applied'
            when applied_amount > 0 then 'partially applied'
            else 'unapplied'
        end as application_status,
        case
            when match_exception is not null then match_exception
            when applicable_invoice_id is null then 'currency mismatch'
            when applied_amount = 0 and amount <> 0 then 'invoice already settled'
            when applied_amount < amount then 'overpayment'
        end as unapplied_reason,
        {{ as_of_date() }} as as_of_date
    from applied

)

select * from final
