-- One row per ERP invoice issued on or before the as-of date (an invoice issued later does not
-- exist yet as of that date: no row, so it can never count as open AR): cash applied to it as of
-- the as-of date (receipts booked on or before it, from the cash-application cascade
-- int_cash_applications_allocated, which never applies cash to a cancelled invoice), the shortfall
-- written off by its tolerance rule, what was applied by the due date, and the date it became fully
-- settled (applied + written off = total).
with

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

sales_orders as (

    select * from {{ ref('int_sales_orders_joined') }}

),

customers as (

    select * from {{ ref('stg_erp__customers') }}

),

cash_applications as (

    select * from {{ ref('int_cash_applications_allocated') }}

),

applications as (

    select
        invoice_id,
        booking_date,
        applied_amount,
        write_off_amount
    from cash_applications
    -- defence in depth: the ledger holds no receipt booked after the as-of date
    where booking_date <= {{ as_of_date() }}

),

collected as (

    select
        invoices.invoice_id,
        coalesce(sum(applications.applied_amount), 0) as applied_amount,
        coalesce(sum(applications.write_off_amount), 0) as written_off_amount,
        coalesce(sum(
            case when applications.booking_date <= invoices.due_date then applications.applied_amount end
        ), 0) as applied_on_time_amount,
        min(applications.booking_date) as first_payment_date,
        max(applications.booking_date) as last_payment_date
    from invoices
    left join applications
        on invoices.invoice_id = applications.invoice_id
    where invoices.issue_date <= {{ as_of_date() }}
    group by invoices.invoice_id

),

final as (

    select
        invoices.invoice_id,
        invoices.invoice_number,
        invoices.customer_id,
        coalesce(customers.account_id, sales_orders.account_id) as account_id,
        invoices.order_id,
        sales_orders.opportunity_id,
        sales_orders.contract_id,
        invoices.status,
        -- never null: an invoice without a status is live (the cash-application cascade's reading);
        -- a null here dropped it from open AR while it still received cash
        coalesce(invoices.status = 'cancelled', false) as is_cancelled,
        invoices.is_deleted,
        invoices.currency,
        invoices.net_amount,
        invoices.tax_amount,
        invoices.total_amount,
        invoices.issue_date,
        invoices.due_date,
        {{ to_money('collected.applied_amount') }} as applied_amount,
        {{ to_money('collected.written_off_amount') }} as written_off_amount,
        {{ to_money('collected.applied_on_time_amount') }} as applied_on_time_amount,
        collected.first_payment_date,
        case
            when collected.applied_amount > 0
                and collected.applied_amount + collected.written_off_amount >= invoices.total_amount
                then collected.last_payment_date
        end as paid_date
    from invoices
    inner join collected
        on invoices.invoice_id = collected.invoice_id
    left join sales_orders
        on invoices.order_id = sales_orders.order_id
    left join customers
        on invoices.customer_id = customers.customer_id

)

select * from final
