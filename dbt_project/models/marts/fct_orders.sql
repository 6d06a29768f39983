-- One row per ERP sales order: its contract link (nullable), account, booked date, net amount in the
-- transaction and reporting currency (FX rule at the order date, from int_fx_conversions), and what
-- was delivered and invoiced against it as of the as-of date. Deleted orders are kept and flagged.
--
-- Delivered: ERP deliveries are per order (no lines, no quantities), so an order counts as delivered,
-- for its whole net amount, once it has live deliveries shipped by the as-of date and every one of them
-- was delivered by then; partly delivered or in-transit orders count 0.
-- Invoiced: net (excl. tax) of the lines of live invoices (not deleted, not cancelled) issued by the
-- as-of date, attributed to an order through the invoice line's order line where that link exists,
-- else through the invoice's order_id; an invoice with no lines at all counts with its header net.
-- In the reporting currency each invoice line converts at its invoice's rate (per row, then summed).
with

sales_orders as (

    select * from {{ ref('int_sales_orders_joined') }}

),

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

order_fx as (

    select * from {{ ref('int_fx_conversions') }}
    where transaction_type = 'sales_order'

),

invoice_fx as (

    select * from {{ ref('int_fx_conversions') }}
    where transaction_type = 'invoice'

),

order_lines as (

    select * from {{ ref('stg_erp__sales_order_lines') }}

),

deliveries as (

    select * from {{ ref('stg_erp__deliveries') }}

),

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

invoice_lines as (

    select * from {{ ref('stg_erp__invoice_lines') }}

),

delivery_rollup as (

    select
        order_id,
        count(*) as delivery_count,
        sum(
            case when delivered_date is not null and delivered_date <= {{ as_of_date() }} then 1 else 0 end
        ) as delivered_count,
        min(coalesce(shipped_date, delivered_date)) as first_shipped_date,
        max(delivered_date) as last_delivered_date
    from deliveries
    where not is_deleted
        and coalesce(shipped_date, delivered_date) <= {{ as_of_date() }}
    group by order_id

),

live_invoices as (

    select
        invoices.invoice_id,
        invoices.order_id,
        invoices.issue_date,
        invoices.net_amount,
        invoice_fx.fx_rate
    from invoices
    left join invoice_fx
        on invoices.invoice_id = invoice_fx.transaction_id
    where not invoices.is_deleted
        and coalesce(invoices.status, '') <> 'cancelled'
        and invoices.issue_date <= {{ as_of_date() }}

),

invoiced_lines as (

    select
        coalesce(order_lines.order_id, live_invoices.order_id) as order_id,
        live_invoices.issue_date,
        invoice_lines.net_amount,
        {{ to_reporting('invoice_lines.net_amount', 'live_invoices.fx_rate') }} as net_amount_reporting
    from invoice_lines
    inner join live_invoices
        on invoice_lines.invoice_id = live_invoices.invoice_id
    left join order_lines
        on invoice_lines.order_line_id = order_lines.order_line_id
    where not invoice_lines.is_deleted

),

invoiced_headers as (

    -- invoices the ERP landed no lines for (deleted lines still count as lines)
    select
        live_invoices.order_id,
        live_invoices.issue_date,
        live_invoices.net_amount,
        {{ to_reporting('live_invoices.net_amount', 'live_invoices.fx_rate') }} as net_amount_reporting
    from live_invoices
    where not exists (
        select 1
        from invoice_lines
        where invoice_lines.invoice_id = live_invoices.invoice_id
    )

),

invoice_rollup as (

    select
        order_id,
        sum(net_amount) as invoiced_amount,
        -- null, not understated, when an invoice has no rate
        case when count(net_amount_reporting) = count(*) then sum(net_amount_reporting) end
            as invoiced_amount_reporting,
        min(issue_date) as first_invoice_date
    from (
        select order_id, issue_date, net_amount, net_amount_reporting from invoiced_lines
        union all
        select order_id, issue_date, net_amount, net_amount_reporting from invoiced_headers
    ) as invoiced
    group by order_id

),

joined as (

    select
        sales_orders.order_id,
        sales_orders.order_number,
        sales_orders.customer_id,
        coalesce(sales_orders.account_id, opportunities.account_id) as account_id,
        sales_orders.opportunity_id,
        sales_orders.contract_number,
        sales_orders.contract_id,
        sales_orders.status,
        sales_orders.order_date as booked_date,
        sales_orders.currency,
        sales_orders.net_amount,
        order_fx.amount_reporting as net_amount_reporting,
        order_fx.reporting_currency,
        order_fx.fx_rate,
        order_fx.fx_rate_date,
        case
            when delivery_rollup.order_id is null then 'not shipped'
            when delivery_rollup.delivered_count = delivery_rollup.delivery_count then 'delivered'
            when delivery_rollup.delivered_count > 0 then 'partially delivered'
            else 'in transit'
        end as delivery_status,
        delivery_rollup.first_shipped_date,
        case
            when delivery_rollup.delivered_count = delivery_rollup.delivery_count
                then delivery_rollup.last_delivered_date
        end as delivered_date,
        invoice_rollup.order_id is not null as has_invoices,
        invoice_rollup.invoiced_amount,
        invoice_rollup.invoiced_amount_reporting,
        invoice_rollup.first_invoice_date,
        sales_orders.is_deleted
    from sales_orders
    left join opportunities
        on sales_orders.opportunity_id = opportunities.opportunity_id
    left join order_fx
        on sales_orders.order_id = order_fx.transaction_id
    left join delivery_rollup
        on sales_orders.order_id = delivery_rollup.order_id
    left join invoice_rollup
        on sales_orders.order_id = invoice_rollup.order_id

),

final as (

    select
        order_id,
        order_number,
        customer_id,
        account_id,
        opportunity_id,
        contract_number,
        contract_id,
        status,
        booked_date,
        currency,
        net_amount,
        net_amount_reporting,
        coalesce(reporting_currency, {{ reporting_currency() }}) as reporting_currency,
        fx_rate,
        fx_rate_date,
        delivery_status,
        first_shipped_date,
        delivered_date,
        case
            when delivery_status = 'delivered' then net_amount
            else {{ to_money('0') }}
        end as delivered_amount,
        case
            when delivery_status = 'delivered' then net_amount_reporting
            else {{ to_money('0') }}
        end as delivered_amount_reporting,
        case
            when has_invoices then {{ to_money('invoiced_amount') }}
            else {{ to_money('0') }}
        end as invoiced_amount,
        case
            when has_invoices then {{ to_money('invoiced_amount_reporting') }}
            else {{ to_money('0') }}
        end as invoiced_amount_reporting,
        first_invoice_date,
        {{ as_of_date() }} as as_of_date,
        is_deleted
    from joined

)

select * from final
