-- One row per lead with the attributes the funnel is sliced by: lead source and its channel (the
-- channel_mapping seed; a source the seed does not list is 'Other'), the first-touch campaign (the
-- earliest campaign membership), the lead owner and the owner's region. Written once here so
-- fct_leads and the journey slices in rpt_funnel_conversion cannot disagree.
-- Incremental, key-scoped like fct_leads (macros/incremental.sql): a run rebuilds only the leads
-- whose inputs changed since its last build (ltc.changed_leads_ctes); a change of code, seed or var
-- rebuilds it whole. Spark's Parquet tables take no delete: a table there.
{{ config(**ltc.key_scoped_config('lead_id', 'channel')) }}
-- what the incremental run reads (ltc.changed_leads_ctes, ltc.journey_inputs_watermark):
-- depends_on: {{ ref('stg_salesforce__deleted_records') }}
-- depends_on: {{ ref('stg_salesforce__opportunities') }}
-- depends_on: {{ ref('stg_salesforce__opportunity_history') }}
{%- set state = ltc.incremental_state() if is_incremental() else none %}
{%- set scoped = ltc.incremental_scoped(state, ltc.incremental_fingerprint()) %}

with

{% if scoped -%}
{{ ltc.changed_leads_ctes(state) }},

replaced as (

    select lead_id from changed_leads

),

{% elif is_incremental() -%}
-- every lead there is or was: the model is rebuilt whole (no state, or another code, seed or var)
replaced as (

    {{ ltc.every_key('lead_id', ref('stg_salesforce__leads')) }}

),

{% endif -%}

leads as (

    select * from {{ ref('stg_salesforce__leads') }}
    {%- if scoped %}
    where lead_id in (select lead_id from replaced)
    {%- endif %}

),

users as (

    select * from {{ ref('stg_salesforce__users') }}

),

campaign_members as (

    select * from {{ ref('stg_salesforce__campaign_members') }}

),

channel_mapping as (

    select * from {{ ref('channel_mapping') }}

),

first_campaigns as (

    select
        lead_id,
        campaign_id
    from (
        select
            lead_id,
            campaign_id,
            row_number() over (
                partition by lead_id
                order by created_at, campaign_member_id
            ) as membership_rank
        from campaign_members
        where lead_id is not null
            and not is_deleted
            {%- if scoped %}
            and lead_id in (select lead_id from replaced)
            {%- endif %}
    ) as ranked
    where membership_rank = 1

),

lead_rows as (

    select
        leads.lead_id,
        leads.owner_id,
        first_campaigns.campaign_id,
        leads.lead_source,
        coalesce(channel_mapping.channel, 'Other') as channel,
        users.region
    from leads
    left join users
        on leads.owner_id = users.user_id
    left join first_campaigns
        on leads.lead_id = first_campaigns.lead_id
    left join channel_mapping
        on leads.lead_source = channel_mapping.lead_source

),

{{ ltc.key_scoped_final('lead_rows', 'lead_id') }}

select * from final
