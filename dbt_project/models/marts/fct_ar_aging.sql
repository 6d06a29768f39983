-- One row per open invoice per as-of date: its open balance after cash applied on or before that
-- date, aged by DUE date (docs: ltc-metrics §3.4).
-- As-of dates: every month end from the month of the first invoice up to the as-of month, the last
-- one capped at the as-of date itself (var as_of), so the var's date is always one of them. Set var
-- ar_aging_history_months = N to keep only the last N of them (1 = the as-of date alone).
-- * Invoices: not deleted, not cancelled, issued on or before the as-of date (deletion and
--   cancellation are current state: they are applied to past dates too, as rpt_cash_collection does).
-- * Cash: the cash-application ledger (int_cash_applications_allocated: one row per receipt x
--   invoice, with the short-payment write-off that settled the rest), receipts booked on or before
--   the as-of date; a receipt booked later does not reduce the balance yet. The same ledger as
--   fct_invoices and rpt_cash_collection, so their open AR agree.
-- * Open AR is carried at the invoice's rate (FX rule at issue_date, no revaluation in v1), as in
--   fct_invoices and rpt_cash_collection.
-- * Buckets on days past due = as_of_date - due_date: current (not yet due: due on or after the
--   as-of date), 1-30, 31-60, 61-90, 90+ (91 days and more).
{%- set history_months = var('ar_aging_history_months', none) %}

with

invoices as (

    select * from {{ ref('fct_invoices') }}
    where not is_deleted
        and not is_cancelled

),

applications_allocated as (

    select * from {{ ref('int_cash_applications_allocated') }}

),

customers as (

    select * from {{ ref('stg_erp__customers') }}

),

as_of_dates as (

    select period_end as as_of_date
    from (
        {%- if history_months is none %}
        {{ month_spine('(select min(issue_date) from invoices)') }}
        {%- else %}
        {{ month_spine(dbt.dateadd('month', 1 - (history_months | int), as_of_date())) }}
        {%- endif %}
    ) as spine

),

-- the cash-application ledger: cash applied and the short-payment write-offs that settled the
-- rest (rule 4 of the cascade), per invoice and receipt booking date
applications as (

    select
        invoice_id,
        booking_date,
        applied_amount,
        write_off_amount
    from applications_allocated
    where booking_date <= {{ as_of_date() }}

),

invoice_dates as (

    -- paid_date (fct_invoices) is when cumulative cash first covered the total, within the
    -- as-of date; an invoice cannot be open at a date on or after it. This only prunes the join:
    -- the balance below is recomputed from the ledger at each date.
    select
        as_of_dates.as_of_date,
        invoices.invoice_id
    from invoices
    inner join as_of_dates
        on invoices.issue_date <= as_of_dates.as_of_date
        and (invoices.paid_date is null or invoices.paid_date > as_of_dates.as_of_date)

),

applied as (

    select
        invoice_dates.as_of_date,
        invoice_dates.invoice_id,
        coalesce(sum(applications.applied_amount), 0) as applied_amount,
        coalesce(sum(applications.write_off_amount), 0) as write_off_amount,
        max(case when applications.applied_amount > 0 then applications.booking_date end) as last_payment_date
    from invoice_dates
    left join applications
        on invoice_dates.invoice_id = applications.invoice_id
        and applications.booking_date <= invoice_dates.as_of_date
    group by invoice_dates.as_of_date, invoice_dates.invoice_id

),

balances as (

    select
        applied.as_of_date,
        applied.last_payment_date,
        invoices.invoice_id,
        invoices.invoice_number,
        invoices.customer_id,
        invoices.account_id,
        invoices.order_id,
        invoices.issue_date,
        invoices.due_date,
        invoices.currency,
        invoices.total_amount,
        invoices.reporting_currency,
        invoices.fx_rate,
        invoices.fx_rate_date,
        invoices.total_amount_reporting,
        {{ to_money('applied.applied_amount') }} as applied_amount,
        {{ to_money('invoices.total_amount - applied.applied_amount - applied.write_off_amount') }} as outstanding_amount,
        case
            when invoices.due_date < applied.as_of_date
                then {{ days_between('invoices.due_date', 'applied.as_of_date') }}
            when invoices.due_date is not null then 0
        end as days_past_due
    from applied
    inner join invoices
        on applied.invoice_id = invoices.invoice_id

),

final as (

    select
        balances.invoice_id,
        balances.as_of_date,
        balances.as_of_date = {{ as_of_date() }} as is_latest_as_of,
        balances.invoice_number,
        balances.customer_id,
        customers.customer_name,
        balances.account_id,
        balances.order_id,
        balances.issue_date,
        balances.due_date,
        {{ days_between('balances.issue_date', 'balances.due_date') }} as payment_terms_days,
        balances.currency,
        balances.total_amount,
        balances.applied_amount,
        balances.outstanding_amount,
        balances.reporting_currency,
        balances.fx_rate,
        balances.fx_rate_date,
        balances.total_amount_reporting,
        {{ to_reporting('balances.outstanding_amount', 'balances.fx_rate') }} as outstanding_amount_reporting,
        balances.days_past_due,
        balances.days_past_due > 0 as is_overdue,
        case
            when balances.days_past_due = 0 then 'current'
            when balances.days_past_due <= 30 then '1-30'
            when balances.days_past_due <= 60 then '31-60'
            when balances.days_past_due <= 90 then '61-90'
            when balances.days_past_due > 90 then '90+'
        end as aging_bucket,
        case
            when balances.days_past_due = 0 then 0
            when balances.days_past_due <= 30 then 1
            when balances.days_past_due <= 60 then 2
            when balances.days_past_due <= 90 then 3
            when balances.days_past_due > 90 then 4
        end as aging_bucket_order,
        balances.last_payment_date
    from balances
    left join customers
        on balances.customer_id = customers.customer_id
    where balances.outstanding_amount > 0

)

select * from final
