with

source as (

    select * from {{ source('raw_salesforce', 'opportunity') }}

),

tombstones as (

    {{ salesforce_tombstones('Opportunity') }}

),

renamed as (

    select
        -- ids
        id as opportunity_id,
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
        (coalesce(is_deleted, false) or id in (select id from tombstones)) as is_deleted,

        -- amounts
        currency_iso_code as currency,
        {{ to_money('amount') }} as amount,

        -- dates and timestamps
        cast(close_date as date) as close_date,
        {{ to_utc_timestamp('created_date') }} as created_at,
        {{ to_utc_timestamp('last_modified_date') }} as last_modified_at,
        {{ to_utc_timestamp('system_modstamp') }} as system_modstamp_at

    from source

)

select * from renamed
