-- Cash application, step 1 of 2: who paid and which invoice the remittance names, per bank receipt
-- (CRDT transaction) booked on or before the as-of date (a receipt booked later has not arrived:
-- no row). int_cash_applications_allocated then applies the cash (rules 1-4).
--
-- Payer: the debtor account (IBAN) equal to the IBAN of exactly one live ERP customer
-- (stg_erp__customers.iban). Only this deterministic match lets cash be applied without a usable
-- reference; the crosswalk's other payer rules (int_accounts_resolved: receipt references, name)
-- are derived from the very references being matched, or fuzzy, so they do not move cash.
--
-- Invoice reference (rule 1): the first match of var cash_application_reference_pattern in the
-- upper-cased remittance (full-width forms folded to ASCII), compared with invoice numbers through
-- normalize_invoice_reference() (case, separators, leading zeros, full-width forms). Among the ERP invoices that are not deleted and were issued on or
-- before the as-of date (cancellation and deletion are current state, applied to every as-of date):
-- * exactly one live (not cancelled) invoice carries it: the rule-1 invoice, unless it belongs to
--   another customer than the payer ('reference conflicts with payer': the reference is not
--   trusted). The payer is compared by its IBAN customer, and by the entity-resolution crosswalk
--   (int_accounts_resolved: the bank payer's unified account vs the invoice customer's), so a
--   payer known only by name still vetoes another account's invoice. Such a receipt falls through
--   to rules 2-3 when the payer is identified by IBAN; else nothing is applied (unapplied: we know
--   who paid, not what for);
-- * no live invoice but a cancelled one: 'invoice cancelled' (cash not applied; that invoice kept as
--   the match for follow-up); two or more live ones: 'ambiguous invoice number'; issued after the
--   as-of date only: 'invoice not yet issued' (payment against a future-dated invoice);
-- * no reference, an unknown number, or only deleted invoices with it: the reference is unusable;
--   the receipt falls through to rules 2-3 when the payer is identified, else it is unidentified.
-- a table, not a view: several models read it and the cascade is not cheap to recompute
{{ config(materialized='table') }}

with

bank_transactions as (

    select * from {{ ref('stg_finance__bank_transactions') }}

),

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

customers as (

    select * from {{ ref('stg_erp__customers') }}

),

accounts_resolved as (

    select * from {{ ref('int_accounts_resolved') }}

),

receipts as (

    select
        bank_transaction_id as receipt_id,
        booking_date,
        value_date,
        debtor_name as payer_name,
        debtor_iban as payer_iban,
        {{ normalize_account_identifier('debtor_iban') }} as payer_account,
        {{ normalize_company_name('debtor_name') }} as payer_name_key,
        coalesce(remittance_unstructured, remittance_structured_reference) as remittance_reference,
        -- full-width forms folded first: ＩＮＶ－２０２５－０００１２３ is INV-2025-000123
        {{ regex_extract_first(
            "upper(" ~ ltc.fold_fullwidth("coalesce(remittance_unstructured, '') || ' ' || coalesce(remittance_structured_reference, '')") ~ ")",
            var('cash_application_reference_pattern')
        ) }} as referenced_invoice_number,
        currency,
        amount
    from bank_transactions
    where is_credit
        and booking_date <= {{ as_of_date() }}

),

receipts_keyed as (

    select
        *,
        {{ normalize_invoice_reference('referenced_invoice_number') }} as reference_key,
        -- the bank payer key of the crosswalk (int_accounts_resolved)
        case
            when payer_account is not null then payer_account
            when payer_name_key is not null then 'name:' || payer_name_key
        end as payer_id
    from receipts

),

-- bank payers the crosswalk resolved onto a unified account, and each ERP customer's account
payer_accounts as (

    select source_id as payer_id, account_key
    from accounts_resolved
    where source_system = 'bank'
        and match_method <> 'unmatched'

),

customer_accounts as (

    select source_id as customer_id, account_key
    from accounts_resolved
    where source_system = 'erp'

),

-- IBANs that name exactly one live ERP customer
customer_ibans as (

    select
        {{ normalize_account_identifier('iban') }} as iban,
        min(customer_id) as customer_id
    from customers
    where not is_deleted
        and {{ normalize_account_identifier('iban') }} is not null
    group by {{ normalize_account_identifier('iban') }}
    having count(distinct customer_id) = 1

),

invoice_states as (

    select
        invoice_id,
        customer_id,
        {{ normalize_invoice_reference('invoice_number') }} as reference_key,
        case
            when is_deleted then 'deleted'
            when issue_date is null or issue_date > {{ as_of_date() }} then 'not yet issued'
            when coalesce(status, '') = 'cancelled' then 'cancelled'
            else 'live'
        end as invoice_state
    from invoices
    where invoice_number is not null

),

-- one row per normalised invoice number: how many invoices of each state carry it
invoice_numbers as (

    select
        reference_key,
        sum(case when invoice_state = 'live' then 1 else 0 end) as live_count,
        min(case when invoice_state = 'live' then invoice_id end) as live_invoice_id,
        min(case when invoice_state = 'live' then customer_id end) as live_customer_id,
        sum(case when invoice_state = 'cancelled' then 1 else 0 end) as cancelled_count,
        min(case when invoice_state = 'cancelled' then invoice_id end) as cancelled_invoice_id,
        sum(case when invoice_state = 'not yet issued' then 1 else 0 end) as not_yet_issued_count
    from invoice_states
    group by reference_key

),

resolved as (

    select
        receipts_keyed.*,
        customer_ibans.customer_id as payer_customer_id,
        case
            when receipts_keyed.reference_key is null then 'no invoice reference'
            when invoice_numbers.live_count = 1
                and (
                    customer_ibans.customer_id <> invoice_numbers.live_customer_id
                    or payer_accounts.account_key <> invoice_accounts.account_key
                )
                then 'reference conflicts with payer'
            when invoice_numbers.live_count = 1 then null
            when invoice_numbers.live_count > 1 then 'ambiguous invoice number'
            when invoice_numbers.cancelled_count > 0 then 'invoice cancelled'
            when invoice_numbers.not_yet_issued_count > 0 then 'invoice not yet issued'
            when invoice_numbers.reference_key is not null then 'invoice deleted'
            else 'unknown invoice number'
        end as match_exception,
        invoice_numbers.live_invoice_id,
        invoice_numbers.live_count,
        invoice_numbers.cancelled_count,
        invoice_numbers.cancelled_invoice_id
    from receipts_keyed
    left join customer_ibans
        on receipts_keyed.payer_account = customer_ibans.iban
    left join invoice_numbers
        on receipts_keyed.reference_key = invoice_numbers.reference_key
    left join payer_accounts
        on receipts_keyed.payer_id = payer_accounts.payer_id
    left join customer_accounts as invoice_accounts
        on invoice_numbers.live_customer_id = invoice_accounts.customer_id

),

final as (

    select
        receipt_id,
        booking_date,
        value_date,
        payer_name,
        payer_iban,
        payer_customer_id,
        remittance_reference,
        referenced_invoice_number,
        currency,
        amount,
        match_exception,
        -- the invoice the remittance names: the live one (rule 1), else the one cancelled one
        case
            when match_exception is null then live_invoice_id
            when match_exception = 'invoice cancelled' and cancelled_count = 1 then cancelled_invoice_id
        end as referenced_invoice_id,
        case
            when match_exception is null then 'invoice reference'
            when payer_customer_id is not null
                and match_exception in (
                    'no invoice reference', 'unknown invoice number', 'invoice deleted',
                    'reference conflicts with payer'
                )
                then 'payer'
        end as identified_by,
        {{ as_of_date() }} as as_of_date
    from resolved

)

select * from final
