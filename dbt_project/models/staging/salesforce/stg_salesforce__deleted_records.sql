-- One row per Salesforce tombstone (getDeleted): a record hard-deleted or purged from the Recycle
-- Bin, with when it landed. The raw table appears with the first tombstone; until then this is
-- empty. The staging models flag deleted records through the `salesforce_tombstones` macro; this
-- model is what incremental facts read to find records deleted since their last build.
with

source as (

    {{ landed_columns('raw_salesforce', 'deleted_records', [
        ('id', dbt.type_string()),
        ('sobject', dbt.type_string()),
        ('deleted_date', dbt.type_timestamp()),
        ('_loaded_at', ltc.type_timestamp_tz()),
    ]) }}

),

renamed as (

    select
        id as record_id,
        sobject,
        {{ to_utc_timestamp('deleted_date') }} as deleted_at,
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at
    from source

)

select * from renamed
