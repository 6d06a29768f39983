-- Point-in-time opportunity snapshots: the state of every opportunity at the end of each snapshot
-- day, the base of forecast accuracy and the pipeline waterfall (ltc-metrics §0, §2.5-2.7).
-- * State on day d = the version of int_opportunity_versions_reconstructed valid at the end of d
--   (the last OpportunityHistory row created on or before d), never today's state projected back.
-- * Snapshot days (var pipeline_snapshot_frequency): "weekly" = every Sunday, every month end and the
--   as-of date; "daily" = every day; from the first opportunity's creation to the as-of date. Every
--   opportunity that exists on the day has a row, open or closed.
-- * Incremental and frozen: a run adds only snapshot days after the latest one already in the table;
--   captured days are never rewritten, even if OpportunityHistory is later edited or back-filled. The
--   first (or a --full-refresh) build reconstructs every day from history; built_as_of_date records
--   the as-of date of the run that wrote each row (snapshot_date = built_as_of_date: captured on the
--   day; earlier: reconstructed). A run with an earlier as-of date adds nothing and leaves later days
--   in place: readers filter snapshot_date <= as-of.
-- * A deleted opportunity is in the snapshots of the days before its deletion and in none after,
--   what a capture on each day saw; so a table frozen day by day equals one rebuilt from history.
-- * Money: amount in the opportunity's currency; reporting amount at the rate of the latest rate date
--   on or before the close date, or the snapshot date if that comes first (a snapshot never uses a
--   rate that was not published yet; a closed deal keeps its close-date rate, as fct_opportunities).
{#- On Spark, append: its Parquet tables take no delete+insert, and the rows are the same, as a run
    only adds days after the last one captured (the delete would match nothing). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy=('append' if target.type == 'spark' else 'delete+insert'),
        unique_key=['opportunity_id', 'snapshot_date'],
        on_schema_change='append_new_columns'
    )
}}

with

versions as (

    select * from {{ ref('int_opportunity_versions_reconstructed') }}

),

digits as (

    {% for d in range(10) -%}
    select {{ d }} as d {% if not loop.last %}union all {% endif %}
    {%- endfor %}

),

day_numbers as (

    -- 0 .. 9999: up to 27 years of days
    select thousands.d * 1000 + hundreds.d * 100 + tens.d * 10 + ones.d as n
    from digits as thousands
    cross join digits as hundreds
    cross join digits as tens
    cross join digits as ones

),

bounds as (

    select min(opportunity_created_date) as first_date
    from versions

),

days as (

    select
        cast({{ dbt.dateadd('day', 'day_numbers.n', 'bounds.first_date') }} as date) as snapshot_date
    from day_numbers
    cross join bounds
    where cast({{ dbt.dateadd('day', 'day_numbers.n', 'bounds.first_date') }} as date) <= {{ as_of_date() }}

),

days_flagged as (

    select
        snapshot_date,
        -- 1970-01-04 was a Sunday
        mod({{ days_between("cast('1970-01-04' as date)", 'snapshot_date') }}, 7) = 0 as is_week_end,
        {{ month_start(dbt.dateadd('day', 1, 'snapshot_date')) }}
            = cast({{ dbt.dateadd('day', 1, 'snapshot_date') }} as date) as is_month_end
    from days

),

snapshot_days as (

    select *
    from days_flagged
    where (
        {%- if var('pipeline_snapshot_frequency') == 'daily' %}
        1 = 1
        {%- else %}
        is_week_end or is_month_end or snapshot_date = {{ as_of_date() }}
        {%- endif %}
    )
    {%- if is_incremental() %}
        -- frozen: only days after the last one captured
        and snapshot_date > (select coalesce(max(snapshot_date), cast('1900-01-01' as date)) from {{ this }})
    {%- endif %}

),

states as (

    select
        snapshot_days.snapshot_date,
        snapshot_days.is_month_end,
        versions.*,
        cast(
            least(coalesce(versions.close_date, snapshot_days.snapshot_date), snapshot_days.snapshot_date) as date
        ) as fx_lookup_date
    from snapshot_days
    inner join versions
        on versions.valid_from_date <= snapshot_days.snapshot_date
        and (versions.valid_to_date is null or snapshot_days.snapshot_date < versions.valid_to_date)
        -- a deleted opportunity existed until the day it was deleted: a snapshot captured on an
        -- earlier day holds it, so a rebuild must too (frozen days and rebuilt days agree); one
        -- deleted at an unknown moment is left out of every day, as before
        and (
            not versions.is_opportunity_deleted
            or snapshot_days.snapshot_date < coalesce(versions.opportunity_deleted_date, cast('1900-01-01' as date))
        )

),

rate_validity as (

    -- the FX rule's rate ranges: finance rates, Salesforce dated rates where finance has none yet
    select * from {{ ref('int_fx_rates_unioned') }}
    where reporting_currency = {{ reporting_currency() }}

),

converted as (

    select
        states.*,
        {{ fx_rate_columns('states', 'fx_lookup_date') }}
    from states
    {{ fx_rate_join('states', 'fx_lookup_date') }}

),

final as (

    select
        snapshot_date,
        opportunity_id,
        opportunity_version_id,
        account_id,
        owner_id,
        opportunity_created_date,
        stage_name,
        forecast_category,
        -- ltc-metrics §2.5 opportunity status
        case
            when is_won then 'Won'
            when is_lost then 'Lost'
            when forecast_category in ('Pipeline', 'Best Case', 'Commit') then 'Pipeline'
            else 'Other'
        end as pipeline_status,
        close_date,
        probability_pct,
        currency,
        amount,
        {{ reporting_currency() }} as reporting_currency,
        fx_rate,
        fx_rate_date,
        {{ to_reporting('amount', 'fx_rate') }} as amount_reporting,
        not is_closed as is_open,
        is_won,
        is_lost,
        is_month_end as is_month_end_snapshot,
        {{ as_of_date() }} as built_as_of_date
    from converted

)

select * from final
