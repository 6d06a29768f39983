-- v1 cash application, one row per bank receipt (CRDT transaction):
-- a receipt whose remittance text contains the invoice_number of a non-deleted invoice is matched
-- to it; receipts on the same invoice are applied in booking order, each applying
-- least(receipt amount, what is still open on the invoice) when the currencies agree.
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

),

open_invoices as (

    select
        invoice_id,
        invoice_number,
        currency as invoice_currency,
        total_amount as invoice_total_amount
    from invoices
    where not is_deleted

),

matched as (

    select
        receipts.*,
        open_invoices.invoice_id as matched_invoice_id,
        open_invoices.invoice_currency,
        open_invoices.invoice_total_amount,
        -- receipts in the invoice currency already used on this invoice, in booking order
        coalesce(sum(
            case when receipts.currency = open_invoices.invoice_currency then receipts.amount end
        ) over (
            partition by open_invoices.invoice_id
            order by receipts.booking_date, receipts.receipt_id
            rows between unbounded preceding and 1 preceding
        ), 0) as previously_received_amount
    from receipts
    left join open_invoices
        on receipts.referenced_invoice_number = open_invoices.invoice_number

),

applied as (

    select
        *,
        case
            when matched_invoice_id is null then {{ to_money('0') }}
            when currency <> invoice_currency then {{ to_money('0') }}
            else {{ to_money(
                'least(amount, greatest(invoice_total_amount - previously_received_amount, 0))'
            ) }}
        end as applied_amount
    from matched

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
            when matched_invoice_id is null then 'unidentified'
            when applied_amount = amount then 'applied'
            when applied_amount > 0 then 'partially applied'
            else 'unapplied'
        end as application_status
    from applied

)

select * from final
