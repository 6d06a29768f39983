{#-
    The lead-to-cash stage events of `journeys` (a relation or a parenthesised select with the
    columns of int_lead_to_cash_journeys_joined): one row per journey per source event on or before
    the as-of date, mapped to its LTC stage through the ltc_stage_mapping seed (see
    int_ltc_stage_events_unioned, which is this over every journey). A macro so that an incremental
    run of fct_ltc_stage_events computes the events of the journeys it replaces alone: a filter on
    the view's output is not pushed into its joins (at 1M leads, the events of 67k journeys through
    the view 0.8-1.3 s, about what all 1M cost).
-#}
{% macro ltc_stage_events(journeys) -%}
with

journeys as (

    select * from {{ journeys }}

),

leads as (

    select * from {{ ref('stg_salesforce__leads') }}

),

users as (

    select * from {{ ref('stg_salesforce__users') }}

),

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

opportunity_history as (

    select * from {{ ref('stg_salesforce__opportunity_history') }}

),

contracts as (

    select * from {{ ref('stg_salesforce__contracts') }}

),

sales_orders as (

    select * from {{ ref('int_sales_orders_joined') }}

),

invoices as (

    select * from {{ ref('int_invoices_collected') }}

),

applications as (

    select * from {{ ref('int_cash_applications_allocated') }}

),

stage_mapping as (

    select * from {{ ref('ltc_stage_mapping') }}

),

journey_leads as (

    select
        journeys.journey_id,
        leads.*
    from journeys
    inner join leads
        on journeys.lead_id = leads.lead_id

),

journey_opportunities as (

    select
        journeys.journey_id,
        opportunities.*
    from journeys
    inner join opportunities
        on journeys.opportunity_id = opportunities.opportunity_id
    where not opportunities.is_deleted

),

journey_invoices as (

    select
        journey_opportunities.journey_id,
        invoices.*
    from journey_opportunities
    inner join invoices
        on journey_opportunities.opportunity_id = invoices.opportunity_id
    where not invoices.is_deleted

),

events as (

    -- S1: lead created
    select
        journey_id,
        'salesforce' as source_system,
        'Lead' as source_object,
        'created' as source_value,
        cast(created_at as date) as event_date
    from journey_leads

    union all

    -- S2: lead owned by a user (assignment rules fire at creation)
    select
        journey_leads.journey_id,
        'salesforce' as source_system,
        'Lead' as source_object,
        'owner assigned' as source_value,
        cast(journey_leads.created_at as date) as event_date
    from journey_leads
    inner join users
        on journey_leads.owner_id = users.user_id

    union all

    -- current lead status (no lead history is landed: converted date, else last modified)
    select
        journey_id,
        'salesforce' as source_system,
        'Lead.Status' as source_object,
        status as source_value,
        coalesce(converted_date, cast(last_modified_at as date)) as event_date
    from journey_leads

    union all

    select
        journey_id,
        'salesforce' as source_system,
        'Lead' as source_object,
        'converted' as source_value,
        converted_date as event_date
    from journey_leads
    where is_converted and converted_date is not null

    union all

    select
        journey_id,
        'salesforce' as source_system,
        'Opportunity' as source_object,
        'created' as source_value,
        cast(created_at as date) as event_date
    from journey_opportunities

    union all

    -- every stage the opportunity history recorded
    select
        journey_opportunities.journey_id,
        'salesforce' as source_system,
        'Opportunity.StageName' as source_object,
        opportunity_history.stage_name as source_value,
        cast(opportunity_history.created_at as date) as event_date
    from journey_opportunities
    inner join opportunity_history
        on journey_opportunities.opportunity_id = opportunity_history.opportunity_id
    where not opportunity_history.is_deleted

    union all

    -- the closing stage on the close date (also covers missing history)
    select
        journey_id,
        'salesforce' as source_system,
        'Opportunity.StageName' as source_object,
        stage_name as source_value,
        close_date as event_date
    from journey_opportunities
    where is_closed

    union all

    select
        journey_opportunities.journey_id,
        'salesforce' as source_system,
        'Contract' as source_object,
        'customer signed' as source_value,
        contracts.customer_signed_date as event_date
    from journey_opportunities
    inner join contracts
        on journey_opportunities.opportunity_id = contracts.opportunity_id
    where not contracts.is_deleted
        and contracts.customer_signed_date is not null

    union all

    select
        journey_opportunities.journey_id,
        'erp' as source_system,
        'sales_orders' as source_object,
        'order booked' as source_value,
        sales_orders.order_date as event_date
    from journey_opportunities
    inner join sales_orders
        on journey_opportunities.opportunity_id = sales_orders.opportunity_id
    where not sales_orders.is_deleted

    union all

    select
        journey_id,
        'erp' as source_system,
        'invoices' as source_object,
        'invoice issued' as source_value,
        issue_date as event_date
    from journey_invoices
    where not is_cancelled

    union all

    select
        journey_invoices.journey_id,
        'finance' as source_system,
        'bank_transactions' as source_object,
        'receipt applied' as source_value,
        applications.booking_date as event_date
    from journey_invoices
    inner join applications
        on journey_invoices.invoice_id = applications.invoice_id
    where applications.applied_amount > 0

),

mapped as (

    select
        events.journey_id,
        events.source_system,
        events.source_object,
        events.source_value,
        events.event_date,
        stage_mapping.stage_code,
        stage_mapping.stage_order,
        stage_mapping.step_name
    from events
    inner join stage_mapping
        on events.source_system = stage_mapping.source_system
        and events.source_object = stage_mapping.source_object
        and events.source_value = stage_mapping.source_value
    where events.event_date is not null
        and events.event_date <= {{ as_of_date() }}

)

select * from mapped
{%- endmacro %}
