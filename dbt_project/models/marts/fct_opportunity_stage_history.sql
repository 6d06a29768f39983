-- One row per opportunity per stage interval, rebuilt from Salesforce OpportunityHistory as of the
-- as-of date (history rows created after it are not seen yet).
-- * Consecutive history rows with the same stage (amount or close-date edits) are one interval;
--   a stage entered again after another stage is a new interval.
-- * An interval is exited when the next one is entered; the last interval is current (exited_at
--   null) and its days are measured to the as-of date. Days are calendar days between the entry
--   and exit dates (UTC), so an opportunity's intervals tile from its first entry to the as-of date.
-- * is_regression: the stage ranks below the previous interval's stage (var
--   opportunity_stage_rank; Closed Won and Closed Lost share the top rank).
-- * Deleted opportunities (IsDeleted or a getDeleted tombstone, as stg_salesforce__opportunities
--   and fct_opportunities flag them), deleted history rows and history rows without a stage or
--   without a landed opportunity are left out.
-- * Incremental, key-scoped (macros/incremental.sql): a run rebuilds only the opportunities whose
--   history may differ from what its last build saw (ltc.changed_opportunities_ctes); every other
--   row keeps its intervals, and only what the as-of date decides moves: as_of_date (the strategy)
--   and the days of each current interval (the post-hook). A change of code, seed or var rebuilds
--   it whole. Spark's Parquet tables take no delete: a table there.
{{ config(**ltc.key_scoped_config(
    'opportunity_id', 'stage_interval_id', as_of_column='as_of_date',
    fingerprint_vars=['opportunity_stage_rank'],
    post_hook=["{{ ltc.refresh_current_stage_days() }}"],
    watermark_inputs=['stg_salesforce__opportunities', 'stg_salesforce__opportunity_history',
                      'stg_salesforce__deleted_records'])) }}
-- what the incremental run reads (ltc.changed_opportunities_ctes, ltc.journey_inputs_watermark):
-- depends_on: {{ ref('stg_salesforce__deleted_records') }}
{%- set stage_rank = var('opportunity_stage_rank') %}
{%- set state = ltc.incremental_state() if is_incremental() else none %}
{%- set scoped = ltc.incremental_scoped(state, ltc.incremental_fingerprint()) %}

with

{{ ltc.opportunity_history_inputs(state, scoped) }},

history as (

    select
        opportunity_history.opportunity_history_id,
        opportunity_history.opportunity_id,
        opportunities.account_id,
        opportunity_history.stage_name,
        opportunity_history.created_at
    from opportunity_history
    inner join opportunities
        on opportunity_history.opportunity_id = opportunities.opportunity_id
    where not opportunity_history.is_deleted
        and not opportunities.is_deleted
        and opportunity_history.stage_name is not null
        and cast(opportunity_history.created_at as date) <= {{ as_of_date() }}

),

history_ordered as (

    select
        *,
        lag(stage_name) over (
            partition by opportunity_id
            order by created_at, opportunity_history_id
        ) as previous_row_stage_name
    from history

),

history_flagged as (

    select
        *,
        case
            when previous_row_stage_name is null or previous_row_stage_name <> stage_name then 1
            else 0
        end as starts_interval
    from history_ordered

),

history_numbered as (

    select
        *,
        sum(starts_interval) over (
            partition by opportunity_id
            order by created_at, opportunity_history_id
            rows between unbounded preceding and current row
        ) as stage_sequence
    from history_flagged

),

intervals as (

    select
        opportunity_id,
        stage_sequence,
        min(account_id) as account_id,
        min(stage_name) as stage_name,
        min(case when starts_interval = 1 then opportunity_history_id end) as entered_history_id,
        min(created_at) as entered_at,
        count(*) as history_row_count
    from history_numbered
    group by opportunity_id, stage_sequence

),

intervals_ranked as (

    select
        *,
        case stage_name
            {%- for stage, rank in stage_rank.items() %}
            when '{{ stage | replace("'", "''") }}' then {{ rank }}
            {%- endfor %}
        end as stage_rank
    from intervals

),

intervals_linked as (

    select
        *,
        lead(entered_at) over (
            partition by opportunity_id
            order by stage_sequence
        ) as exited_at,
        lag(stage_name) over (
            partition by opportunity_id
            order by stage_sequence
        ) as previous_stage_name,
        lag(stage_rank) over (
            partition by opportunity_id
            order by stage_sequence
        ) as previous_stage_rank
    from intervals_ranked

),

interval_rows as (

    select
        entered_history_id as stage_interval_id,
        opportunity_id,
        account_id,
        cast(stage_sequence as integer) as stage_sequence,
        stage_name,
        cast(stage_rank as integer) as stage_rank,
        previous_stage_name,
        coalesce(stage_rank < previous_stage_rank, false) as is_regression,
        entered_at,
        exited_at,
        cast(entered_at as date) as entered_date,
        cast(exited_at as date) as exited_date,
        {{ days_between(
            'cast(entered_at as date)',
            'coalesce(cast(exited_at as date), ' ~ as_of_date() ~ ')'
        ) }} as days_in_stage,
        exited_at is null as is_current,
        cast(history_row_count as integer) as history_row_count,
        {{ as_of_date() }} as as_of_date
    from intervals_linked

),

{{ ltc.key_scoped_final('interval_rows', 'opportunity_id') }}

select * from final
