{#-
    The journeys whose journey-grain rows (fct_ltc_stage_events, fct_lead_to_cash) may differ from
    what the model's last build wrote (`state`: ltc.incremental_state()), as one select of
    `journey_id`: a superset, never a subset, of the journeys that changed.

    * A lead changed: it or its campaign memberships landed again (an edit or a deletion), its
      owner's region changed, or one of its dates lies between the last build's as-of date and
      this one's.
    * An opportunity changed: it or its history landed again, its owner's region changed, a
      changed lead converted into it, or one of its dates lies between the two as-of dates.
    * Every opportunity with a contract, an order or an invoice, whatever changed: the ERP and bank
      side (cascading cash application, orders linked through contract numbers) is small, about 5 %
      of the journeys at 1M leads, and recomputing it whole is what keeps it exact.
    * The journeys of those leads and opportunities, both as they are now and as the model's table
      (`this`, which must hold journey_id, lead_id, opportunity_id, owner_id and region) holds them
      (so a journey absorbed into another one is deleted), plus every journey of `this` that
      `footprint` (a predicate on `this`) says reached the contract stage or beyond.
-#}
{#- The journeys an incremental run of a journey fact replaces: the changed ones when `scoped`
    (ltc.incremental_scoped), else every journey there is or was (the model is rebuilt whole). -#}
{% macro replaced_journeys(state, scoped, footprint) -%}
    {%- if scoped -%}
    {{ ltc.changed_journeys(state, footprint) }}
    {%- else -%}
    {{ ltc.every_key('journey_id', ref('int_lead_to_cash_journeys_joined')) }}
    {%- endif %}
{%- endmacro %}


{% macro changed_journeys(state, footprint) -%}
    {%- set watermark = ltc.state_watermark(state) -%}
    with

    {{ ltc.changed_leads_ctes(state, [
        'cast(created_at as date)', 'converted_date', 'cast(last_modified_at as date)'
    ]) }},

    changed_opportunities as (

        select opportunity_id
        from {{ ref('stg_salesforce__opportunities') }}
        where loaded_at > {{ watermark }}
            or owner_id in (select user_id from changed_users)
            or {{ ltc.between_as_of_dates(state, 'cast(created_at as date)') }}
            or {{ ltc.between_as_of_dates(state, 'close_date') }}
        union
        select record_id from tombstones where sobject = 'Opportunity'
        union
        select opportunity_id
        from {{ ref('stg_salesforce__opportunity_history') }}
        where loaded_at > {{ watermark }}
            or {{ ltc.between_as_of_dates(state, 'cast(created_at as date)') }}
        union
        select converted_opportunity_id
        from {{ ref('stg_salesforce__leads') }}
        where converted_opportunity_id is not null
            and lead_id in (select lead_id from changed_leads)
        union
        select opportunity_id from {{ ref('stg_salesforce__contracts') }} where opportunity_id is not null
        union
        select opportunity_id from {{ ref('int_sales_orders_joined') }} where opportunity_id is not null
        union
        select opportunity_id from {{ ref('int_invoices_collected') }} where opportunity_id is not null

    ),

    changed as (

        select journey_id
        from {{ ref('int_lead_to_cash_journeys_joined') }}
        where lead_id in (select lead_id from changed_leads)
            or opportunity_id in (select opportunity_id from changed_opportunities)
        union
        select journey_id
        from {{ this }}
        where lead_id in (select lead_id from changed_leads)
            or opportunity_id in (select opportunity_id from changed_opportunities)
            or {{ footprint }}

    )

    select journey_id from changed
{%- endmacro %}


{#- The landing watermark of a key-scoped model's inputs: the latest `_loaded_at` they hold.
    `models`: its staging inputs, by default the journey and lead models' (every Salesforce object
    they read); the opportunity-history models name theirs. -#}
{% macro journey_inputs_watermark(models=none) -%}
    select max(loaded_at) from (
        {%- for model in models or ['stg_salesforce__leads', 'stg_salesforce__opportunities',
                                    'stg_salesforce__opportunity_history', 'stg_salesforce__campaign_members',
                                    'stg_salesforce__users', 'stg_salesforce__deleted_records'] %}
        select max(loaded_at) as loaded_at from {{ ref(model) }}
        {{- ' union all' if not loop.last }}
        {%- endfor %}
    ) as landed
{%- endmacro %}


{#- `column` (a date) lies after the earlier and on or before the later of the last build's as-of
    date and this run's: what moving the as-of date adds or takes away. -#}
{% macro between_as_of_dates(state, column) -%}
    {%- set previous = "cast('" ~ state.as_of_date ~ "' as date)" -%}
    ({{ column }} > least({{ previous }}, {{ ltc.as_of_date() }})
        and {{ column }} <= greatest({{ previous }}, {{ ltc.as_of_date() }}))
{%- endmacro %}


{#-
    The CTEs `tombstones`, `landed_users`, `changed_users` and `changed_leads` (one column,
    `lead_id`): the leads whose lead-grain inputs may differ from what the model's last build
    (`state`) saw, a superset of those that changed. A lead changed when it or one of its campaign
    memberships landed again (an edit or a deletion), when it was deleted (a getDeleted tombstone),
    when its owner's region changed (`this` must hold owner_id and region), or when one of
    `as_of_columns` (dates of the lead, for a model whose rows depend on the as-of date) lies
    between the last build's as-of date and this one's. Read by ltc.changed_journeys and fct_leads.
-#}
{% macro changed_leads_ctes(state, as_of_columns=[]) -%}
    {%- set watermark = ltc.state_watermark(state) -%}
    tombstones as (

        select record_id, sobject
        from {{ ref('stg_salesforce__deleted_records') }}
        where loaded_at > {{ watermark }}

    ),

    -- a user matters through the region of the rows it owns: one whose region differs from what
    -- `this` holds (Salesforce re-lands the latest-modified user on every run, unchanged). A user
    -- cannot own a landed lead before it lands itself: the owner of a lead lands with it, and a new
    -- owner re-lands the lead.
    landed_users as (

        select user_id, region
        from {{ ref('stg_salesforce__users') }}
        where loaded_at > {{ watermark }}

    ),

    changed_users as (

        select distinct landed_users.user_id
        from landed_users
        inner join {{ this }} as previous
            on landed_users.user_id = previous.owner_id
        where previous.region is distinct from landed_users.region

    ),

    changed_leads as (

        select lead_id
        from {{ ref('stg_salesforce__leads') }}
        where loaded_at > {{ watermark }}
            or owner_id in (select user_id from changed_users)
            {%- for column in as_of_columns %}
            or {{ ltc.between_as_of_dates(state, column) }}
            {%- endfor %}
        union
        select record_id from tombstones where sobject = 'Lead'
        union
        select lead_id
        from {{ ref('stg_salesforce__campaign_members') }}
        where lead_id is not null
            and (
                loaded_at > {{ watermark }}
                or campaign_member_id in (select record_id from tombstones where sobject = 'CampaignMember')
            )

    )
{%- endmacro %}


{#-
    The CTEs `opportunity_tombstones` and `changed_opportunities` (one column, `opportunity_id`):
    the opportunities whose OpportunityHistory-grain rows (int_opportunity_versions_reconstructed,
    fct_opportunity_stage_history) may differ from what the model's last build (`state`) saw, a
    superset of those that changed. An opportunity changed when it landed again (account, owner,
    currency, deletion), when getDeleted reported it deleted, when one of its history rows landed
    again or anew, or when one of its history rows was created between the last build's as-of date
    and this one's (moving the as-of date shows or hides it).
-#}
{% macro changed_opportunities_ctes(state) -%}
    {%- set watermark = ltc.state_watermark(state) -%}
    opportunity_tombstones as (

        select record_id as opportunity_id
        from {{ ref('stg_salesforce__deleted_records') }}
        where loaded_at > {{ watermark }}
            and sobject = 'Opportunity'

    ),

    changed_opportunities as (

        select opportunity_id
        from {{ ref('stg_salesforce__opportunities') }}
        where loaded_at > {{ watermark }}
        union
        select opportunity_id from opportunity_tombstones
        union
        select opportunity_id
        from {{ ref('stg_salesforce__opportunity_history') }}
        where loaded_at > {{ watermark }}
            or {{ ltc.between_as_of_dates(state, 'cast(created_at as date)') }}

    )
{%- endmacro %}


{#- The first CTEs of the opportunity-history models: `replaced` (on an incremental run: the changed
    opportunities when `scoped`, else every opportunity there is or was, the model rebuilt whole),
    then their inputs `opportunity_history` and `opportunities`, scoped to the replaced ones. -#}
{% macro opportunity_history_inputs(state, scoped) -%}
{% if scoped -%}
{{ ltc.changed_opportunities_ctes(state) }},

replaced as (

    select opportunity_id from changed_opportunities

),

{% elif is_incremental() -%}
-- every opportunity there is or was: the model is rebuilt whole (no state, or another code, seed or var)
replaced as (

    {{ ltc.every_key('opportunity_id', ref('stg_salesforce__opportunities')) }}

),

{% endif -%}
opportunity_history as (

    select * from {{ ref('stg_salesforce__opportunity_history') }}
    {%- if scoped %}
    where opportunity_id in (select opportunity_id from replaced)
    {%- endif %}

),

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}
    {%- if scoped %}
    where opportunity_id in (select opportunity_id from replaced)
    {%- endif %}

)
{%- endmacro %}
