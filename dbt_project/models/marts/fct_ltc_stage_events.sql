-- Stages are cumulative: a journey that entered stage k has entered every stage between its first
-- stage and k; each stage's entry date is the earliest event of that stage or any later one. Each
-- row carries its journey's funnel slices (channel, campaign, owner, region), fixed for the journey.
-- Incremental, key-scoped (macros/incremental.sql): a run rebuilds only the journeys whose inputs
-- changed since the last build (macros/changed_journeys.sql), replacing every row of each; a change
-- of code, seed or var rebuilds it whole. Spark's Parquet tables take no delete: a table there.
{{ config(**ltc.key_scoped_config('journey_id', 'stage_code', as_of_column='as_of_date')) }}
-- what the incremental run reads (ltc.changed_journeys, ltc.journey_inputs_watermark,
-- ltc.ltc_stage_events):
-- depends_on: {{ ref('int_lead_to_cash_journeys_joined') }}
-- depends_on: {{ ref('stg_salesforce__deleted_records') }}
-- depends_on: {{ ref('stg_salesforce__users') }}
-- depends_on: {{ ref('stg_salesforce__leads') }}
-- depends_on: {{ ref('stg_salesforce__campaign_members') }}
-- depends_on: {{ ref('stg_salesforce__opportunities') }}
-- depends_on: {{ ref('stg_salesforce__opportunity_history') }}
-- depends_on: {{ ref('stg_salesforce__contracts') }}
-- depends_on: {{ ref('int_sales_orders_joined') }}
-- depends_on: {{ ref('int_invoices_collected') }}
-- depends_on: {{ ref('int_cash_applications_allocated') }}
{%- set state = ltc.incremental_state() if is_incremental() else none %}
{%- set scoped = ltc.incremental_scoped(state, ltc.incremental_fingerprint()) %}

with

{% if is_incremental() -%}
-- the journeys this run replaces: those that changed, or every journey when the state cannot be
-- trusted (no state, or another code, seed or var)
replaced as (

    {{ ltc.replaced_journeys(state, scoped, 'stage_order >= 5') }}

),

{% endif -%}
-- the events of the replaced journeys alone (ltc.ltc_stage_events, the view's body: a filter on the
-- view is not pushed into its joins), or every event
events as (

    {% if scoped -%}
    {{ ltc.ltc_stage_events(
        "(select * from " ~ ref('int_lead_to_cash_journeys_joined')
        ~ " where journey_id in (select journey_id from replaced))"
    ) }}
    {%- else -%}
    select * from {{ ref('int_ltc_stage_events_unioned') }}
    {%- endif %}

),

journeys as (

    select * from {{ ref('int_lead_to_cash_journeys_attributed') }}
    {%- if scoped %}
    where journey_id in (select journey_id from replaced)
    {%- endif %}

),

stage_mapping as (

    select * from {{ ref('ltc_stage_mapping') }}

),

stages as (

    select
        stage_code,
        stage_order,
        min(step_name) as step_name
    from stage_mapping
    group by stage_code, stage_order

),

-- every stage a journey spanning first_stage_order..last_stage_order passes through (at most 56 rows
-- for 6 stages): the fan-out below is then an equi-join, a hash join, where a join on
-- `stage_order between first and last` sorted the 1M journeys (a piecewise merge join: 0.41 s of
-- CPU at 1M leads)
stage_spans as (

    select
        firsts.stage_order as first_stage_order,
        lasts.stage_order as last_stage_order,
        stages.stage_code,
        stages.stage_order,
        stages.step_name
    from stages as firsts
    cross join stages as lasts
    cross join stages
    where firsts.stage_order <= stages.stage_order
        and stages.stage_order <= lasts.stage_order

),

-- The canonical stage orders, 1 to 6 (S1-S6; the seed's tests refuse any other order). A journey's
-- events become one row per journey: the first date of each stage order, and the first and last
-- order it reached. One hash aggregate into 1M journeys at 1M leads, where ranking 2.47M
-- (journey, stage) rows with a window per journey took 1.23 s of the model's 2.5 s.
{%- set stage_orders = range(1, 7) %}
{%- set no_date = "cast('9999-12-31' as date)" %}

journey_firsts as (

    select
        journey_id,
        min(stage_order) as first_stage_order,
        max(stage_order) as last_stage_order,
        {%- for order in stage_orders %}
        min(case when stage_order = {{ order }} then event_date end) as first_date_{{ order }}{{ "," if not loop.last }}
        {%- endfor %}
    from events
    group by journey_id

),

-- entered stage k = the earliest first date of stage k or any later one (stages are cumulative);
-- least() over non-null stand-ins, since Snowflake's least() returns null when any argument is
-- null where DuckDB, Postgres and Spark skip it. Null for a stage beyond the journey's last.
journey_entries as (

    select
        journey_id,
        first_stage_order,
        last_stage_order,
        {%- for order in stage_orders %}
        {%- if loop.last %}
        first_date_{{ order }} as entered_date_{{ order }}
        {%- else %}
        nullif(least(
            {%- for later in stage_orders if later >= order %}
            coalesce(first_date_{{ later }}, {{ no_date }}){{ "," if not loop.last }}
            {%- endfor %}
        ), {{ no_date }}) as entered_date_{{ order }},
        {%- endif %}
        {%- endfor %}
    from journey_firsts

),

-- one row per stage from the journey's first to its last (a skipped stage counts as entered), with
-- the journey's slices: joined per journey before the 2.47M rows fan out
entered as (

    select
        journey_entries.journey_id,
        journeys.lead_id,
        journeys.opportunity_id,
        journeys.channel,
        journeys.campaign_id,
        journeys.owner_id,
        journeys.region,
        journeys.is_deleted,
        stage_spans.stage_code,
        stage_spans.stage_order,
        stage_spans.step_name,
        case stage_spans.stage_order
            {%- for order in stage_orders %}
            when {{ order }} then journey_entries.entered_date_{{ order }}
            {%- endfor %}
        end as entered_date,
        -- the next stage's entry date; null at the journey's last stage (no later first date)
        case stage_spans.stage_order
            {%- for order in stage_orders[:-1] %}
            when {{ order }} then journey_entries.entered_date_{{ order + 1 }}
            {%- endfor %}
        end as next_stage_entered_date,
        stage_spans.stage_order = journey_entries.last_stage_order as is_current
    from journey_entries
    inner join journeys
        on journey_entries.journey_id = journeys.journey_id
    inner join stage_spans
        on journey_entries.first_stage_order = stage_spans.first_stage_order
        and journey_entries.last_stage_order = stage_spans.last_stage_order

),

stage_rows as (

    select
        {{ dbt.concat(["journey_id", "'-'", "stage_code"]) }} as journey_stage_id,
        journey_id,
        lead_id,
        opportunity_id,
        channel,
        campaign_id,
        owner_id,
        region,
        stage_code,
        stage_order,
        step_name,
        entered_date,
        {{ month_start('entered_date') }} as entered_month,
        next_stage_entered_date,
        is_current,
        {{ as_of_date() }} as as_of_date,
        is_deleted
    from entered

),

{{ ltc.key_scoped_final('stage_rows', 'journey_id') }}

select * from final
