-- The collections worklist behind the cash-collection report: every invoice open as of the as-of
-- date (fct_ar_aging at is_latest_as_of), with the unified customer it belongs to (dim_accounts),
-- the Salesforce owner who has to act and the suggested dunning level.
-- * Customer: the unified customer (int_accounts_resolved -> dim_accounts) of the invoice's ERP
--   customer; an ERP customer no longer live falls back to the invoice's Salesforce account, else to
--   its own 'erp:<customer_id>' key, named by its ERP name.
-- * Owner: the owner of the invoice's opportunity, else of its account (the rule of
--   fct_reconciliation_exceptions). account_owner_* is the account's owner alone, for the
--   per-customer views.
-- * Dunning level: the row of the seed collection_dunning_levels (edited by finance without code)
--   whose days-overdue range holds days_past_due; null when the invoice is not overdue or falls in a
--   gap of the seed.
with

aging as (

    select * from {{ ref('fct_ar_aging') }}
    where is_latest_as_of

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

accounts as (

    select * from {{ ref('stg_salesforce__accounts') }}

),

users as (

    select * from {{ ref('stg_salesforce__users') }}

),

resolved_customers as (

    select * from {{ ref('int_accounts_resolved') }}
    where source_system = 'erp'

),

unified_customers as (

    select * from {{ ref('dim_accounts') }}

),

dunning_levels as (

    select * from {{ ref('collection_dunning_levels') }}

),

owned as (

    select
        aging.*,
        invoices.opportunity_id,
        coalesce(resolved_customers.account_key, aging.account_id, 'erp:' || aging.customer_id)
            as customer_key,
        coalesce(opportunities.owner_id, accounts.owner_id) as owner_id,
        accounts.owner_id as account_owner_id
    from aging
    left join invoices
        on aging.invoice_id = invoices.invoice_id
    left join opportunities
        on invoices.opportunity_id = opportunities.opportunity_id
    left join accounts
        on aging.account_id = accounts.account_id
    left join resolved_customers
        on aging.customer_id = resolved_customers.source_id

),

final as (

    select
        owned.invoice_id,
        owned.invoice_number,
        owned.as_of_date,
        owned.customer_key,
        -- the account's or the ERP customer's name, never dim_accounts.display_name: it falls back
        -- to the bank payer's name, which can be a person's
        coalesce(
            unified_customers.account_name, unified_customers.customer_name,
            owned.customer_name, owned.customer_id
        ) as customer_name,
        owned.customer_id,
        owned.customer_name as erp_customer_name,
        owned.account_id,
        owned.opportunity_id,
        owned.owner_id,
        owners.user_name as owner_name,
        owned.account_owner_id,
        account_owners.user_name as account_owner_name,
        owned.issue_date,
        owned.due_date,
        owned.payment_terms_days,
        owned.currency,
        owned.outstanding_amount,
        owned.reporting_currency,
        owned.total_amount_reporting,
        owned.outstanding_amount_reporting,
        owned.days_past_due,
        owned.is_overdue,
        owned.aging_bucket,
        owned.aging_bucket_order,
        owned.last_payment_date,
        dunning_levels.dunning_level,
        dunning_levels.level_name as dunning_level_name,
        dunning_levels.action as dunning_action
    from owned
    left join unified_customers
        on owned.customer_key = unified_customers.account_key
    left join users as owners
        on owned.owner_id = owners.user_id
    left join users as account_owners
        on owned.account_owner_id = account_owners.user_id
    left join dunning_levels
        on owned.is_overdue
        and owned.days_past_due >= dunning_levels.min_days_overdue
        and (dunning_levels.max_days_overdue is null or owned.days_past_due <= dunning_levels.max_days_overdue)

)

select * from final
