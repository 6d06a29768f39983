with

source as (

    select * from {{ source('raw_salesforce', 'opportunity_history') }}

),

renamed as (

    select
        -- ids
        id as opportunity_history_id,
        opportunity_id,
        created_by_id,

        -- attributes
        stage_name,
        forecast_category,
        cast(probability as {{ ltc.type_rate() }}) as probability_pct,
        coalesce(is_deleted, false) as is_deleted,

        -- amounts (currency is the opportunity's)
        {{ to_money('amount') }} as amount,

        -- dates and timestamps
        cast(close_date as date) as close_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp_at,

        -- when the row landed (incremental facts find what changed since their last build)
        {{ to_utc_timestamp('_loaded_at') }} as loaded_at

    from source

)

select * from renamed
