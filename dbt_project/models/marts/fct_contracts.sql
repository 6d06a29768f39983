-- One row per Salesforce contract: value in the transaction and reporting currency, signed and
-- activated dates, term, status, opportunity and account. Deleted contracts are kept and flagged.
--
-- FX: docs/contracts.md's FX rule names no transaction date for a contract; the contract is valued
-- at its valuation_date = the customer signed date, else the start date (unsigned drafts), else the
-- created date. The rule itself is int_fx_conversions' (which has no contract rows): the latest rate
-- with rate_date <= valuation_date; the reporting currency has rate 1 and rate date = valuation_date;
-- value_reporting = round(value * rate, 2).
with

contracts as (

    select * from {{ ref('stg_salesforce__contracts') }}

),

valued as (

    select
        contracts.*,
        coalesce(
            contracts.customer_signed_date,
            contracts.start_date,
            cast(contracts.created_at as date)
        ) as valuation_date
    from contracts

),

rate_validity as (

    -- the FX rule's rate ranges: finance rates, Salesforce dated rates where finance has none yet
    select * from {{ ref('int_fx_rates_unioned') }}
    where reporting_currency = {{ reporting_currency() }}

),

converted as (

    select
        valued.*,
        {{ fx_rate_columns('valued', 'valuation_date') }}
    from valued
    {{ fx_rate_join('valued', 'valuation_date') }}

),

final as (

    select
        contract_id,
        contract_number,
        account_id,
        opportunity_id,
        status,
        coalesce(status = 'Activated', false) as is_activated,
        customer_signed_date,
        activated_at,
        cast(activated_at as date) as activated_date,
        start_date,
        end_date,
        contract_term_months,
        currency,
        contract_value,
        {{ to_reporting('contract_value', 'fx_rate') }} as contract_value_reporting,
        {{ reporting_currency() }} as reporting_currency,
        fx_rate,
        fx_rate_date,
        valuation_date,
        is_deleted
    from converted

)

select * from final
