-- The unified lead-to-cash fact: one row per journey (a lead, or an opportunity that came without
-- one), every milestone from lead created to fully collected, the booked -> contracted -> ordered ->
-- invoiced -> collected amounts in the reporting currency, and the days between milestones, all as
-- of the as-of date. Deleted opportunities, contracts, orders and invoices count for nothing here
-- (the journey row stays, flagged when its own lead/opportunity is deleted).
-- Incremental, key-scoped like fct_ltc_stage_events (macros/incremental.sql): a run rebuilds only
-- the journeys whose inputs changed (macros/changed_journeys.sql); every journey that reached the
-- contract stage (S5) is among them, as the ERP and bank side is recomputed whole.
{{ config(**ltc.key_scoped_config(
    'journey_id', 'journey_type', as_of_column='as_of_date', fingerprint_vars=['reporting_currency']
)) }}
-- what the incremental run reads (ltc.changed_journeys, ltc.journey_inputs_watermark):
-- depends_on: {{ ref('stg_salesforce__deleted_records') }}
-- depends_on: {{ ref('stg_salesforce__users') }}
-- depends_on: {{ ref('stg_salesforce__campaign_members') }}
-- depends_on: {{ ref('stg_salesforce__opportunities') }}
-- depends_on: {{ ref('stg_salesforce__opportunity_history') }}
-- depends_on: {{ ref('stg_salesforce__contracts') }}
-- depends_on: {{ ref('int_sales_orders_joined') }}
-- depends_on: {{ ref('int_invoices_collected') }}
{%- set state = ltc.incremental_state() if is_incremental() else none %}
{%- set scoped = ltc.incremental_scoped(state, ltc.incremental_fingerprint()) %}

with

{% if is_incremental() -%}
-- the journeys this run replaces: those that changed, or every journey when the state cannot be
-- trusted (no state, or another code, seed or var)
replaced as (

    {{ ltc.replaced_journeys(state, scoped, "ltc_stage in ('S5', 'S6')") }}

),

{% endif -%}
journeys as (

    select * from {{ ref('int_lead_to_cash_journeys_joined') }}
    {%- if scoped %}
    where journey_id in (select journey_id from replaced)
    {%- endif %}

),

slices as (

    select * from {{ ref('int_lead_to_cash_journeys_attributed') }}
    {%- if scoped %}
    where journey_id in (select journey_id from replaced)
    {%- endif %}

),

stage_events as (

    select * from {{ ref('fct_ltc_stage_events') }}
    {%- if scoped %}
    where journey_id in (select journey_id from replaced)
    {%- endif %}

),

leads as (

    select * from {{ ref('stg_salesforce__leads') }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

contracts as (

    select * from {{ ref('fct_contracts') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

cash_applications as (

    select * from {{ ref('fct_cash_applications') }}

),

-- the stage each journey has reached (one row per journey: fct_ltc_stage_events.is_current)
current_stage_codes as (

    select
        journey_id,
        stage_code
    from stage_events
    where is_current

),

live_opportunities as (

    select * from opportunities
    where not is_deleted

),

-- contracts signed by the as-of date (an unsigned draft is no contracted amount yet)
opportunity_contracts as (

    select
        opportunity_id,
        min(customer_signed_date) as contract_signed_date,
        sum(contract_value_reporting) as contracted_amount_reporting
    from contracts
    where not is_deleted
        and customer_signed_date <= {{ as_of_date() }}
    group by opportunity_id

),

-- orders booked by the as-of date; deleted orders never happened for the journey
opportunity_orders as (

    select
        opportunity_id,
        min(booked_date) as first_order_date,
        min(case when first_shipped_date <= {{ as_of_date() }} then first_shipped_date end) as first_delivery_date,
        sum(net_amount_reporting) as ordered_amount_reporting
    from orders
    where not is_deleted
        and booked_date <= {{ as_of_date() }}
    group by opportunity_id

),

live_invoices as (

    select * from invoices
    where not is_deleted
        and not is_cancelled
        and issue_date <= {{ as_of_date() }}

),

invoice_collections as (

    select
        live_invoices.invoice_id,
        sum(cash_applications.applied_amount_reporting) as collected_amount_reporting
    from live_invoices
    inner join cash_applications
        on live_invoices.invoice_id = cash_applications.invoice_id
    where cash_applications.booking_date <= {{ as_of_date() }}
    group by live_invoices.invoice_id

),

opportunity_invoices as (

    select
        live_invoices.opportunity_id,
        min(live_invoices.issue_date) as first_invoice_date,
        min(live_invoices.first_payment_date) as first_payment_date,
        count(*) as invoice_count,
        sum(case when live_invoices.is_fully_paid then 1 else 0 end) as fully_paid_invoice_count,
        max(live_invoices.paid_date) as last_paid_date,
        sum(live_invoices.total_amount_reporting) as invoiced_amount_reporting,
        sum(coalesce(invoice_collections.collected_amount_reporting, 0)) as collected_amount_reporting,
        sum(live_invoices.outstanding_amount_reporting) as outstanding_amount_reporting,
        sum(
            case when live_invoices.due_date < {{ as_of_date() }} then live_invoices.outstanding_amount_reporting else 0 end
        ) as overdue_amount_reporting
    from live_invoices
    left join invoice_collections
        on live_invoices.invoice_id = invoice_collections.invoice_id
    where live_invoices.opportunity_id is not null
    group by live_invoices.opportunity_id

),

milestones as (

    select
        journeys.journey_id,
        journeys.lead_id,
        journeys.opportunity_id,
        journeys.account_id,
        current_stage_codes.stage_code as ltc_stage,
        cast(leads.created_at as date) as lead_created_date,
        leads.converted_date,
        live_opportunities.created_date as opportunity_created_date,
        case when live_opportunities.is_won then live_opportunities.close_date end as won_date,
        opportunity_contracts.contract_signed_date,
        opportunity_orders.first_order_date,
        opportunity_orders.first_delivery_date,
        opportunity_invoices.first_invoice_date,
        opportunity_invoices.first_payment_date,
        case
            when opportunity_invoices.invoice_count > 0
                and opportunity_invoices.invoice_count = opportunity_invoices.fully_paid_invoice_count
                then opportunity_invoices.last_paid_date
        end as fully_collected_date,
        {{ to_money(
            "case when live_opportunities.is_won and live_opportunities.close_date <= " ~ as_of_date()
            ~ " then live_opportunities.amount_reporting else 0 end"
        ) }} as booked_amount_reporting,
        {{ to_money('coalesce(opportunity_contracts.contracted_amount_reporting, 0)') }} as contracted_amount_reporting,
        {{ to_money('coalesce(opportunity_orders.ordered_amount_reporting, 0)') }} as ordered_amount_reporting,
        {{ to_money('coalesce(opportunity_invoices.invoiced_amount_reporting, 0)') }} as invoiced_amount_reporting,
        {{ to_money('coalesce(opportunity_invoices.collected_amount_reporting, 0)') }} as collected_amount_reporting,
        {{ to_money('coalesce(opportunity_invoices.outstanding_amount_reporting, 0)') }} as outstanding_amount_reporting,
        {{ to_money('coalesce(opportunity_invoices.overdue_amount_reporting, 0)') }} as overdue_amount_reporting,
        {{ reporting_currency() }} as reporting_currency,
        {{ as_of_date() }} as as_of_date,
        journeys.journey_type,
        journeys.is_deleted,
        {{ days_between('cast(leads.created_at as date)', 'live_opportunities.created_date') }} as days_lead_to_opportunity,
        case when live_opportunities.is_closed then {{ days_between('live_opportunities.created_date', 'live_opportunities.close_date') }} end as days_opportunity_to_close,
        slices.channel,
        slices.campaign_id,
        slices.owner_id,
        slices.region
    from journeys
    inner join slices
        on journeys.journey_id = slices.journey_id
    left join current_stage_codes
        on journeys.journey_id = current_stage_codes.journey_id
    left join leads
        on journeys.lead_id = leads.lead_id
    left join live_opportunities
        on journeys.opportunity_id = live_opportunities.opportunity_id
    left join opportunity_contracts
        on journeys.opportunity_id = opportunity_contracts.opportunity_id
    left join opportunity_orders
        on journeys.opportunity_id = opportunity_orders.opportunity_id
    left join opportunity_invoices
        on live_opportunities.opportunity_id = opportunity_invoices.opportunity_id

),

-- days between consecutive milestones, null until both are reached; signed on purpose: an order
-- booked before the contract was signed (work without a signed contract) shows as a negative
-- days_contract_to_order
journey_rows as (

    select
        *,
        {{ days_between('won_date', 'contract_signed_date') }} as days_won_to_contract,
        {{ days_between('contract_signed_date', 'first_order_date') }} as days_contract_to_order,
        {{ days_between('first_order_date', 'first_invoice_date') }} as days_order_to_invoice,
        {{ days_between('first_invoice_date', 'fully_collected_date') }} as days_invoice_to_collected,
        {{ days_between('coalesce(lead_created_date, opportunity_created_date)', 'fully_collected_date') }} as days_lead_to_cash
    from milestones

),

{{ ltc.key_scoped_final('journey_rows', 'journey_id') }}

select * from final
