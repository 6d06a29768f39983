-- One row per ERP invoice issued on or before the as-of date (var as_of), with every figure as of
-- that date: cash applied from receipts booked on or before it (the cash-application cascade), a
-- short payment's shortfall written off by its tolerance rule, the open balance (total - applied -
-- written off; 0 for a cancelled invoice), days past due and the on-time flag. Invoices issued after the as-of date have
-- no row (int_invoices_collected), so sum(outstanding_amount) is open AR as of the date.
with

invoices as (

    select * from {{ ref('int_invoices_collected') }}

),

fx as (

    select * from {{ ref('int_fx_conversions') }}
    where transaction_type = 'invoice'

),

balances as (

    select
        invoices.*,
        fx.amount_reporting as total_amount_reporting,
        fx.reporting_currency,
        fx.fx_rate,
        fx.fx_rate_date,
        case
            when invoices.is_cancelled then {{ to_money('0') }}
            else {{ to_money('invoices.total_amount - invoices.applied_amount - invoices.written_off_amount') }}
        end as outstanding_amount
    from invoices
    left join fx
        on invoices.invoice_id = fx.transaction_id

),

final as (

    select
        invoice_id,
        invoice_number,
        customer_id,
        account_id,
        order_id,
        issue_date,
        due_date,
        currency,
        total_amount,
        total_amount_reporting,
        reporting_currency,
        fx_rate,
        fx_rate_date,
        applied_amount,
        outstanding_amount,
        -- open AR is carried at the invoice's rate (no revaluation in v1)
        {{ to_reporting('outstanding_amount', 'fx_rate') }} as outstanding_amount_reporting,
        {{ as_of_date() }} as as_of_date,
        case
            when outstanding_amount > 0 and due_date < {{ as_of_date() }}
                then {{ days_between('due_date', as_of_date()) }}
            else 0
        end as days_past_due,
        paid_date,
        paid_date is not null as is_fully_paid,
        case
            -- not applicable: a cancelled invoice is no receivable, nothing is due on it
            when is_cancelled then null
            when paid_date is not null then paid_date <= due_date
            when due_date < {{ as_of_date() }} then false
        end as is_paid_on_time,
        is_deleted,
        opportunity_id,
        contract_id,
        status,
        is_cancelled,
        net_amount,
        tax_amount,
        applied_on_time_amount,
        first_payment_date,
        written_off_amount
    from balances

)

select * from final
