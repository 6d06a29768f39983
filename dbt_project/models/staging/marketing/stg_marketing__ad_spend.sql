with

source as (

    select * from {{ source('raw_marketing', 'ad_spend') }}

),

renamed as (

    select
        -- keys
        cast({{ adapter.quote('date') }} as date) as spend_date,
        -- ad platform of the export (google_ads, meta, linkedin, generic); rows landed before the
        -- column existed are generic exports
        coalesce(platform, 'generic') as platform,
        campaign_id,

        -- attributes
        campaign_name,
        channel,
        cast(impressions as bigint) as impressions,
        cast(clicks as bigint) as clicks,

        -- amounts
        currency,
        {{ to_money('spend') }} as spend

    from source

)

select * from renamed
