-- The FX rule (docs/contracts.md), applied once for every dated money transaction:
-- rate = latest rate_date <= transaction date for (currency -> reporting currency);
-- the reporting currency itself has rate 1 and rate date = transaction date; the rates are the
-- finance rates, with Salesforce's dated conversion rates where finance has none yet
-- (int_fx_rates_unioned; fx_rate_source says which);
-- amount_reporting = round(amount * rate, 2) per row.
with

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

sales_orders as (

    select * from {{ ref('stg_erp__sales_orders') }}

),

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

bank_transactions as (

    select * from {{ ref('stg_finance__bank_transactions') }}

),

rate_validity as (

    -- finance rates, Salesforce dated rates where finance has none yet (int_fx_rates_unioned)
    select * from {{ ref('int_fx_rates_unioned') }}
    where reporting_currency = {{ reporting_currency() }}

),

transactions as (

    select
        'opportunity' as transaction_type,
        opportunity_id as transaction_id,
        currency,
        close_date as transaction_date,
        amount
    from opportunities

    union all

    select
        'sales_order' as transaction_type,
        order_id as transaction_id,
        currency,
        order_date as transaction_date,
        net_amount as amount
    from sales_orders

    union all

    select
        'invoice' as transaction_type,
        invoice_id as transaction_id,
        currency,
        issue_date as transaction_date,
        total_amount as amount
    from invoices

    union all

    select
        'bank_receipt' as transaction_type,
        bank_transaction_id as transaction_id,
        currency,
        booking_date as transaction_date,
        amount
    from bank_transactions
    where is_credit

),

converted as (

    select
        transactions.transaction_type,
        transactions.transaction_id,
        transactions.currency,
        transactions.transaction_date,
        transactions.amount,
        {{ reporting_currency() }} as reporting_currency,
        {{ fx_rate_columns('transactions', 'transaction_date') }},
        case when transactions.currency = {{ reporting_currency() }} then 'identity' else rate_validity.rate_source end
            as fx_rate_source
    from transactions
    {{ fx_rate_join('transactions', 'transaction_date') }}

),

final as (

    select
        transaction_type,
        transaction_id,
        currency,
        transaction_date,
        amount,
        reporting_currency,
        fx_rate,
        fx_rate_date,
        fx_rate_source,
        {{ to_reporting('amount', 'fx_rate') }} as amount_reporting
    from converted

)

select * from final
