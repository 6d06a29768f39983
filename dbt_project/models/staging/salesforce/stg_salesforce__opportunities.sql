with

source as (

    select * from {{ source('raw_salesforce', 'opportunity') }}

),

tombstones as (

    {{ salesforce_tombstones('Opportunity') }}

),

purged as (

    select id, max({{ to_utc_timestamp('deleted_date') }}) as deleted_at
    from tombstones
    group by id

),

renamed as (

    select
        -- ids
        source.id as opportunity_id,
        account_id,
        campaign_id,
        owner_id,

        -- attributes
        name as opportunity_name,
        type as opportunity_type,
        stage_name,
        forecast_category_name as forecast_category,
        lead_source,
        cast(probability as {{ ltc.type_rate() }}) as probability_pct,
        coalesce(is_closed, false) as is_closed,
        coalesce(is_won, false) as is_won,
        (coalesce(is_deleted, false) or purged.id is not null) as is_deleted,
        -- when it was deleted: getDeleted's deletedDate for a purged record, else the SystemModstamp
        -- of the IsDeleted row (a delete stamps it); null while the opportunity lives
        case
            when purged.id is not null then purged.deleted_at
            when coalesce(is_deleted, false) then {{ to_utc_timestamp('system_modstamp') }}
        end as deleted_at,

        -- amounts
        currency_iso_code as currency,
        {{ to_money('amount') }} as amount,

        -- dates and timestamps
        cast(close_date as date) as close_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp_at,

        -- when the row landed (incremental facts find what changed since their last build)
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at

    from source
    left join purged
        on source.id = purged.id

)

select * from renamed
