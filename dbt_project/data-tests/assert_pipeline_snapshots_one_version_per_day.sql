-- Every snapshot row holds the version of its opportunity valid at the end of its day, as far as the
-- current history can tell: for rows reconstructed by the current build (built_as_of_date = the
-- as-of date), the version must be an end-of-day version whose validity contains the snapshot date.
-- Frozen rows written by earlier runs are exempt: history may have been rewritten since. A warning,
-- not an error: a second run with the same as-of date after a late history edit keeps the rows the
-- first run froze, which is the freeze working, not a fault.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_pipeline_snapshots'}}}) }}

with

snapshots as (

    select * from {{ ref('fct_pipeline_snapshots') }}
    where built_as_of_date = {{ as_of_date() }}

),

versions as (

    select * from {{ ref('int_opportunity_versions_reconstructed') }}

)

select
    snapshots.opportunity_id,
    snapshots.snapshot_date,
    snapshots.opportunity_version_id
from snapshots
left join versions
    on snapshots.opportunity_version_id = versions.opportunity_version_id
where versions.opportunity_version_id is null
    or snapshots.snapshot_date < versions.valid_from_date
    or (versions.valid_to_date is not null and snapshots.snapshot_date >= versions.valid_to_date)
