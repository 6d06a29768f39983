-- One row per non-cash contract-to-cash exception open as of the as-of date (var as_of): the
-- revenue-leakage checks of ltc-metrics.md §5 that fct_reconciliation_exceptions unions with the
-- cash-application exceptions (int_cash_exceptions_flagged, same columns). It reads the marts
-- because they already hold every figure as of the as-of date (invoices issued by then, deliveries
-- by then, FX at each document's rate) - re-deriving them here would be a second definition.
--
-- Rules (deleted records never count; cancelled invoices are not invoices):
-- 1. 'invoice without contract': a live invoice whose order has no live Salesforce contract (no
--    reference, or one Salesforce does not know), or that has no order. Amount: the invoice's net.
-- 2. 'order without signed contract': a live order booked by the as-of date with no contract, with
--    a contract not signed (customer signed date, else activated date) by the as-of date, or booked
--    or first shipped before the contract was signed (work started first: back-signing).
--    Amount: the order's net. Detected: the earlier of booked and first shipped date.
-- 3. 'contract won not invoiced': a won opportunity whose close date is var uninvoiced_after_days
--    (default 30) or more days before the as-of date and which has no live invoice (through its
--    orders) issued by the as-of date. Amount: the opportunity amount. Detected: close + N days.
-- 4. 'invoice over contract value': a live contract whose live invoices (same currency, net of
--    tax) exceed its value by more than var contract_amount_tolerance (default 0.01). Amount: the
--    excess, at the contract's rate. Detected: issue date of the invoice that crossed the value
--    (running total by issue date, invoice id), which is the invoice_id carried.
-- Severity: 'high' = money billed or work done with no (signed) contract at all - invoice without
-- contract, invoice over contract value, order with no contract or unsigned at the as-of date;
-- 'medium' = order booked/shipped before a contract that has been signed since (back-signed), and
-- won-not-invoiced open for more than 2 x N days; 'low' = won-not-invoiced open N to 2 x N days.
with

contracts as (

    select * from {{ ref('fct_contracts') }}
    where not is_deleted

),

orders as (

    select * from {{ ref('fct_orders') }}
    where not is_deleted
        and booked_date <= {{ as_of_date() }}

),

invoices as (

    select * from {{ ref('fct_invoices') }}
    where not is_deleted
        and not is_cancelled
        and issue_date <= {{ as_of_date() }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}
    where not is_deleted

),

accounts as (

    select * from {{ ref('stg_salesforce__accounts') }}

),

signed_contracts as (

    select
        contracts.*,
        coalesce(contracts.customer_signed_date, contracts.activated_date) as signed_date
    from contracts

),

invoice_without_contract as (

    select
        'invoice without contract' as exception_type,
        'high' as severity,
        invoices.issue_date as detected_date,
        invoices.currency,
        invoices.net_amount as amount,
        {{ to_reporting('invoices.net_amount', 'invoices.fx_rate') }} as amount_reporting,
        invoices.reporting_currency,
        invoices.fx_rate,
        invoices.fx_rate_date,
        invoices.invoice_id,
        invoices.order_id,
        cast(null as {{ dbt.type_string() }}) as contract_id,
        invoices.opportunity_id,
        invoices.account_id,
        invoices.customer_id,
        'Invoice ' || coalesce(invoices.invoice_number, invoices.invoice_id)
            || case
                when invoices.order_id is null then ' has no sales order and no contract'
                else ' bills order ' || invoices.order_id || ', which has no Salesforce contract'
            end as description,
        invoices.invoice_id as exception_key
    from invoices
    where invoices.contract_id is null

),

order_without_signed_contract as (

    select
        'order without signed contract' as exception_type,
        case
            when orders.contract_id is null then 'high'
            when signed_contracts.signed_date is null or signed_contracts.signed_date > {{ as_of_date() }} then 'high'
            else 'medium'
        end as severity,
        case
            when orders.first_shipped_date < orders.booked_date then orders.first_shipped_date
            else orders.booked_date
        end as detected_date,
        orders.currency,
        orders.net_amount as amount,
        orders.net_amount_reporting as amount_reporting,
        orders.reporting_currency,
        orders.fx_rate,
        orders.fx_rate_date,
        cast(null as {{ dbt.type_string() }}) as invoice_id,
        orders.order_id,
        orders.contract_id,
        orders.opportunity_id,
        orders.account_id,
        orders.customer_id,
        'Order ' || coalesce(orders.order_number, orders.order_id) || ' booked '
            || cast(orders.booked_date as {{ dbt.type_string() }})
            || case
                when orders.contract_id is null and orders.contract_number is not null
                    then ' references contract ' || orders.contract_number || ', unknown to Salesforce'
                when orders.contract_id is null then ' with no contract'
                when signed_contracts.signed_date is null or signed_contracts.signed_date > {{ as_of_date() }}
                    then ' under contract ' || coalesce(signed_contracts.contract_number, orders.contract_number, '?')
                        || ', not signed at the as-of date'
                when orders.booked_date < signed_contracts.signed_date
                    then ' before contract ' || signed_contracts.contract_number || ' was signed on '
                        || cast(signed_contracts.signed_date as {{ dbt.type_string() }})
                else ', shipped ' || cast(orders.first_shipped_date as {{ dbt.type_string() }})
                    || ' before contract ' || signed_contracts.contract_number || ' was signed on '
                    || cast(signed_contracts.signed_date as {{ dbt.type_string() }})
            end as description,
        orders.order_id as exception_key
    from orders
    left join signed_contracts
        on orders.contract_id = signed_contracts.contract_id
    where orders.contract_id is null
        or signed_contracts.contract_id is null
        or signed_contracts.signed_date is null
        or signed_contracts.signed_date > {{ as_of_date() }}
        or orders.booked_date < signed_contracts.signed_date
        or orders.first_shipped_date < signed_contracts.signed_date

),

invoiced_opportunities as (

    select distinct opportunity_id
    from invoices
    where opportunity_id is not null

),

opportunity_orders as (

    -- the opportunity's first order and contract, to point at them (there is usually one of each)
    select
        opportunities.opportunity_id,
        min(orders.order_id) as order_id,
        min(orders.customer_id) as customer_id,
        min(signed_contracts.contract_id) as contract_id
    from opportunities
    left join orders
        on opportunities.opportunity_id = orders.opportunity_id
    left join signed_contracts
        on opportunities.opportunity_id = signed_contracts.opportunity_id
    where opportunities.is_won
    group by opportunities.opportunity_id

),

won_not_invoiced as (

    select
        'contract won not invoiced' as exception_type,
        case
            when {{ days_between('opportunities.close_date', as_of_date()) }} > 2 * {{ var('uninvoiced_after_days') }}
                then 'medium'
            else 'low'
        end as severity,
        cast({{ dbt.dateadd('day', var('uninvoiced_after_days'), 'opportunities.close_date') }} as date)
            as detected_date,
        opportunities.currency,
        opportunities.amount,
        opportunities.amount_reporting,
        opportunities.reporting_currency,
        opportunities.fx_rate,
        opportunities.fx_rate_date,
        cast(null as {{ dbt.type_string() }}) as invoice_id,
        opportunity_orders.order_id,
        opportunity_orders.contract_id,
        opportunities.opportunity_id,
        opportunities.account_id,
        opportunity_orders.customer_id,
        'Opportunity ' || coalesce(opportunities.opportunity_name, opportunities.opportunity_id) || ' won on '
            || cast(opportunities.close_date as {{ dbt.type_string() }}) || ', not invoiced after '
            || cast({{ days_between('opportunities.close_date', as_of_date()) }} as {{ dbt.type_string() }})
            || ' days' as description,
        opportunities.opportunity_id as exception_key
    from opportunities
    inner join opportunity_orders
        on opportunities.opportunity_id = opportunity_orders.opportunity_id
    left join invoiced_opportunities
        on opportunities.opportunity_id = invoiced_opportunities.opportunity_id
    where opportunities.is_won
        and opportunities.close_date <= {{ as_of_date() }}
        and {{ days_between('opportunities.close_date', as_of_date()) }} >= {{ var('uninvoiced_after_days') }}
        and invoiced_opportunities.opportunity_id is null

),

contract_invoices as (

    select
        signed_contracts.contract_id,
        signed_contracts.contract_value,
        invoices.invoice_id,
        invoices.order_id,
        invoices.customer_id,
        invoices.issue_date,
        sum(invoices.net_amount) over (
            partition by signed_contracts.contract_id
            order by invoices.issue_date, invoices.invoice_id
            rows between unbounded preceding and current row
        ) as running_invoiced,
        sum(invoices.net_amount) over (partition by signed_contracts.contract_id) as invoiced_amount
    from signed_contracts
    inner join invoices
        on signed_contracts.contract_id = invoices.contract_id
        and signed_contracts.currency = invoices.currency
    where signed_contracts.contract_value is not null

),

crossing_invoices as (

    -- the invoice that took the running total over the value, and the contract's total excess
    select
        contract_id,
        invoice_id,
        order_id,
        customer_id,
        issue_date,
        invoiced_amount,
        invoiced_amount - contract_value as excess_amount,
        row_number() over (partition by contract_id order by issue_date, invoice_id) as crossing_rank
    from contract_invoices
    where invoiced_amount - contract_value > {{ var('contract_amount_tolerance') }}
        and running_invoiced - contract_value > {{ var('contract_amount_tolerance') }}

),

invoice_over_contract_value as (

    select
        'invoice over contract value' as exception_type,
        'high' as severity,
        crossing_invoices.issue_date as detected_date,
        signed_contracts.currency,
        {{ to_money('crossing_invoices.excess_amount') }} as amount,
        {{ to_reporting('crossing_invoices.excess_amount', 'signed_contracts.fx_rate') }} as amount_reporting,
        signed_contracts.reporting_currency,
        signed_contracts.fx_rate,
        signed_contracts.fx_rate_date,
        crossing_invoices.invoice_id,
        crossing_invoices.order_id,
        signed_contracts.contract_id,
        signed_contracts.opportunity_id,
        signed_contracts.account_id,
        crossing_invoices.customer_id,
        'Contract ' || signed_contracts.contract_number || ' is worth '
            || cast(signed_contracts.contract_value as {{ dbt.type_string() }}) || ' ' || signed_contracts.currency
            || ', invoiced ' || cast(crossing_invoices.invoiced_amount as {{ dbt.type_string() }})
            || ' net by the as-of date' as description,
        signed_contracts.contract_id as exception_key
    from crossing_invoices
    inner join signed_contracts
        on crossing_invoices.contract_id = signed_contracts.contract_id
    where crossing_invoices.crossing_rank = 1

),

unioned as (

    {% set rules = ['invoice_without_contract', 'order_without_signed_contract', 'won_not_invoiced',
                    'invoice_over_contract_value'] %}
    {% for rule in rules %}
    select
        exception_type, severity, detected_date, currency, amount, amount_reporting, reporting_currency,
        fx_rate, fx_rate_date, invoice_id, order_id, contract_id, opportunity_id, account_id, customer_id,
        description, exception_key
    from {{ rule }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        -- deterministic: one exception per type and document, the type's slug and the document id
        replace(unioned.exception_type, ' ', '_') || ':' || unioned.exception_key as exception_id,
        unioned.exception_type,
        unioned.severity,
        cast(unioned.detected_date as date) as detected_date,
        unioned.currency,
        {{ to_money('unioned.amount') }} as amount,
        {{ to_money('unioned.amount_reporting') }} as amount_reporting,
        coalesce(unioned.reporting_currency, {{ reporting_currency() }}) as reporting_currency,
        {{ to_rate('unioned.fx_rate') }} as fx_rate,
        cast(unioned.fx_rate_date as date) as fx_rate_date,
        cast(null as {{ dbt.type_string() }}) as receipt_id,
        unioned.invoice_id,
        unioned.order_id,
        unioned.contract_id,
        unioned.opportunity_id,
        unioned.account_id,
        unioned.customer_id,
        -- the Salesforce owner who has to act: the opportunity's, else the account's
        coalesce(opportunities.owner_id, accounts.owner_id) as owner_id,
        unioned.description,
        {{ as_of_date() }} as as_of_date
    from unioned
    left join opportunities
        on unioned.opportunity_id = opportunities.opportunity_id
    left join accounts
        on unioned.account_id = accounts.account_id

)

select * from final
