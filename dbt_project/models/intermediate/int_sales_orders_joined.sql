-- One row per ERP sales order, with its CRM links resolved: opportunity (crm_opportunity_id, else
-- through the contract number), contract (nullable: orders without a contract exist) and account.
with

sales_orders as (

    select * from {{ ref('stg_erp__sales_orders') }}

),

customers as (

    select * from {{ ref('stg_erp__customers') }}

),

contracts as (

    select * from {{ ref('stg_salesforce__contracts') }}

),

contracts_by_number as (

    select
        contract_number,
        min(contract_id) as contract_id,
        min(opportunity_id) as opportunity_id
    from contracts
    where not is_deleted
    group by contract_number

),

joined as (

    select
        sales_orders.order_id,
        sales_orders.order_number,
        sales_orders.customer_id,
        customers.account_id,
        coalesce(sales_orders.opportunity_id, contracts_by_number.opportunity_id) as opportunity_id,
        contracts_by_number.contract_id,
        sales_orders.contract_number,
        sales_orders.status,
        sales_orders.currency,
        sales_orders.net_amount,
        sales_orders.order_date,
        sales_orders.is_deleted
    from sales_orders
    left join customers
        on sales_orders.customer_id = customers.customer_id
    left join contracts_by_number
        on sales_orders.contract_number = contracts_by_number.contract_number

)

select * from joined
