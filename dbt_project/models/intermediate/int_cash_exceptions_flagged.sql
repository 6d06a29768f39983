-- One row per cash-application exception as of the as-of date, for the finance exception queue
-- (fct_reconciliation_exceptions reads it). exception_id = type:receipt_id[:invoice_id], stable
-- across runs. Types:
-- * unapplied receipt: a receipt, or its remainder, not applied for any reason other than an
--   overpayment (unidentified payer, invoice cancelled / not yet issued / ambiguous, currency
--   mismatch, no open invoice, invoice already settled when it is not a duplicate payment);
--   amount = the unapplied amount, at the receipt's rate.
-- * overpayment: a receipt applied in part, the remainder on account; amount = the remainder.
-- * duplicate payment: a receipt whose reference names an invoice already settled (nothing
--   applied) by an EARLIER receipt (booking date, then receipt id) of the SAME amount applied to that
--   invoice; amount = the receipt amount (a refund or re-application candidate).
-- * short payment: an invoice settled by the tolerance rule (amount = the shortfall written off), or
--   an invoice still open as of the as-of date after a receipt that referenced it was applied in
--   full (amount = the invoice's open balance; one row, on the latest such receipt); at the
--   invoice's rate.
-- * fx difference: a cash application in a currency other than the reporting currency whose
--   reporting value at the receipt's rate differs from its value at the invoice's rate (both rounded
--   per the FX rule) by more than 0.01: the realised FX gain (+) or loss (-), amount = that
--   difference, so currency = reporting currency and fx_rate = 1.
-- Severity: a tolerance write-off is low; otherwise |amount_reporting| >= 10,000 is high; >= 1,000,
-- a duplicate payment, or an unidentified receipt is medium; the rest low.
-- owner_id: the Salesforce owner of the invoice's opportunity, else of the account.
with

receipts as (

    select * from {{ ref('int_cash_receipts_matched') }}

),

applications as (

    select * from {{ ref('int_cash_applications_allocated') }}

),

invoices as (

    select * from {{ ref('int_invoices_collected') }}

),

customers as (

    select * from {{ ref('stg_erp__customers') }}

),

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

accounts as (

    select * from {{ ref('stg_salesforce__accounts') }}

),

fx as (

    select * from {{ ref('int_fx_conversions') }}

),

receipt_fx as (

    select transaction_id as receipt_id, fx_rate, fx_rate_date, reporting_currency
    from fx
    where transaction_type = 'bank_receipt'

),

invoice_fx as (

    select transaction_id as invoice_id, fx_rate, fx_rate_date, reporting_currency
    from fx
    where transaction_type = 'invoice'

),

-- duplicate payments ---------------------------------------------------------------------------

duplicates as (

    select distinct
        receipts.receipt_id
    from receipts
    inner join applications as earlier
        on receipts.matched_invoice_id = earlier.invoice_id
    inner join receipts as earlier_receipts
        on earlier.receipt_id = earlier_receipts.receipt_id
    where receipts.unapplied_reason = 'invoice already settled'
        and earlier_receipts.amount = receipts.amount
        and (
            earlier_receipts.booking_date < receipts.booking_date
            or (earlier_receipts.booking_date = receipts.booking_date
                and earlier_receipts.receipt_id < receipts.receipt_id)
        )

),

-- receipt-level exceptions: what is not applied --------------------------------------------------

receipt_exceptions as (

    select
        case
            when receipts.unapplied_reason = 'on account' then 'overpayment'
            when duplicates.receipt_id is not null then 'duplicate payment'
            else 'unapplied receipt'
        end as exception_type,
        receipts.receipt_id,
        receipts.matched_invoice_id as invoice_id,
        receipts.payer_customer_id,
        receipts.booking_date as detected_date,
        receipts.currency,
        case
            when duplicates.receipt_id is not null then receipts.amount
            else receipts.unapplied_amount
        end as amount,
        receipt_fx.fx_rate,
        receipt_fx.fx_rate_date,
        0 as is_write_off,
        receipts.application_status,
        'receipt ' || receipts.receipt_id || ' of ' || cast(receipts.amount as {{ dbt.type_string() }})
            || ' ' || receipts.currency || ': ' || receipts.application_status
            || ', ' || cast(receipts.unapplied_amount as {{ dbt.type_string() }}) || ' not applied ('
            || receipts.unapplied_reason || ')' as description
    from receipts
    left join duplicates
        on receipts.receipt_id = duplicates.receipt_id
    left join receipt_fx
        on receipts.receipt_id = receipt_fx.receipt_id
    where receipts.unapplied_amount > 0

),

-- short payments ---------------------------------------------------------------------------------

write_offs as (

    select
        'short payment' as exception_type,
        applications.receipt_id,
        applications.invoice_id,
        cast(null as {{ dbt.type_string() }}) as payer_customer_id,
        applications.booking_date as detected_date,
        applications.currency,
        applications.write_off_amount as amount,
        invoice_fx.fx_rate,
        invoice_fx.fx_rate_date,
        1 as is_write_off,
        cast(null as {{ dbt.type_string() }}) as application_status,
        'invoice ' || applications.invoice_id || ' settled within tolerance by receipt '
            || applications.receipt_id || ': shortfall of '
            || cast(applications.write_off_amount as {{ dbt.type_string() }}) || ' '
            || applications.currency || ' written off' as description
    from applications
    left join invoice_fx
        on applications.invoice_id = invoice_fx.invoice_id
    where applications.write_off_amount > 0

),

referenced_short as (

    select
        applications.*,
        invoices.total_amount - invoices.applied_amount - invoices.written_off_amount as open_amount,
        row_number() over (
            partition by applications.invoice_id
            order by applications.booking_date desc, applications.receipt_id desc
        ) as latest_rank
    from applications
    inner join receipts
        on applications.receipt_id = receipts.receipt_id
    inner join invoices
        on applications.invoice_id = invoices.invoice_id
    where applications.match_rule = 'invoice reference'
        and applications.applied_amount = receipts.amount
        and not invoices.is_cancelled

),

open_short_payments as (

    select
        'short payment' as exception_type,
        referenced_short.receipt_id,
        referenced_short.invoice_id,
        cast(null as {{ dbt.type_string() }}) as payer_customer_id,
        referenced_short.booking_date as detected_date,
        referenced_short.currency,
        referenced_short.open_amount as amount,
        invoice_fx.fx_rate,
        invoice_fx.fx_rate_date,
        0 as is_write_off,
        cast(null as {{ dbt.type_string() }}) as application_status,
        'invoice ' || referenced_short.invoice_id || ' left open by receipt ' || referenced_short.receipt_id
            || ' that references it: ' || cast(referenced_short.open_amount as {{ dbt.type_string() }})
            || ' ' || referenced_short.currency || ' still open' as description
    from referenced_short
    left join invoice_fx
        on referenced_short.invoice_id = invoice_fx.invoice_id
    where referenced_short.latest_rank = 1
        and referenced_short.open_amount > 0

),

-- realised FX differences --------------------------------------------------------------------------

fx_differences as (

    select
        applications.receipt_id,
        applications.invoice_id,
        applications.booking_date,
        applications.currency,
        applications.applied_amount,
        {{ to_reporting('applications.applied_amount', 'receipt_fx.fx_rate') }}
            - {{ to_reporting('applications.applied_amount', 'invoice_fx.fx_rate') }} as difference
    from applications
    inner join receipt_fx
        on applications.receipt_id = receipt_fx.receipt_id
    inner join invoice_fx
        on applications.invoice_id = invoice_fx.invoice_id
    where applications.currency <> receipt_fx.reporting_currency
        and applications.applied_amount > 0

),

fx_exceptions as (

    select
        'fx difference' as exception_type,
        receipt_id,
        invoice_id,
        cast(null as {{ dbt.type_string() }}) as payer_customer_id,
        booking_date as detected_date,
        {{ reporting_currency() }} as currency,
        difference as amount,
        {{ to_rate('1') }} as fx_rate,
        booking_date as fx_rate_date,
        0 as is_write_off,
        cast(null as {{ dbt.type_string() }}) as application_status,
        'realised FX ' || case when difference > 0 then 'gain' else 'loss' end || ' of '
            || cast(difference as {{ dbt.type_string() }}) || ' ' || {{ reporting_currency() }}
            || ' on ' || cast(applied_amount as {{ dbt.type_string() }}) || ' ' || currency
            || ' applied to invoice ' || invoice_id as description
    from fx_differences
    where difference > 0.01 or difference < -0.01

),

unioned as (

    select * from receipt_exceptions
    union all
    select * from write_offs
    union all
    select * from open_short_payments
    union all
    select * from fx_exceptions

),

enriched as (

    select
        unioned.*,
        coalesce(invoices.customer_id, unioned.payer_customer_id) as customer_id,
        coalesce(invoices.account_id, customers.account_id) as account_id,
        invoices.order_id,
        invoices.contract_id,
        invoices.opportunity_id,
        {{ to_reporting('unioned.amount', 'unioned.fx_rate') }} as amount_reporting
    from unioned
    left join invoices
        on unioned.invoice_id = invoices.invoice_id
    left join customers
        on coalesce(invoices.customer_id, unioned.payer_customer_id) = customers.customer_id

),

final as (

    select
        enriched.exception_type || ':' || enriched.receipt_id
            || coalesce(':' || case when enriched.exception_type in ('short payment', 'fx difference')
                then enriched.invoice_id end, '') as exception_id,
        enriched.exception_type,
        case
            when enriched.is_write_off = 1 then 'low'
            when abs(enriched.amount_reporting) >= 10000 then 'high'
            when abs(enriched.amount_reporting) >= 1000
                or enriched.exception_type = 'duplicate payment'
                or enriched.application_status = 'unidentified'
                then 'medium'
            else 'low'
        end as severity,
        enriched.detected_date,
        enriched.currency,
        {{ to_money('enriched.amount') }} as amount,
        enriched.amount_reporting,
        {{ reporting_currency() }} as reporting_currency,
        enriched.fx_rate,
        enriched.fx_rate_date,
        enriched.receipt_id,
        enriched.invoice_id,
        enriched.order_id,
        enriched.contract_id,
        enriched.opportunity_id,
        enriched.account_id,
        enriched.customer_id,
        coalesce(opportunities.owner_id, accounts.owner_id) as owner_id,
        enriched.description,
        {{ as_of_date() }} as as_of_date
    from enriched
    left join opportunities
        on enriched.opportunity_id = opportunities.opportunity_id
    left join accounts
        on enriched.account_id = accounts.account_id

)

select * from final
