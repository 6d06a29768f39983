with

source as (

    select * from {{ source('raw_finance', 'fx_rates') }}

),

renamed as (

    select
        -- keys
        cast(rate_date as date) as rate_date,
        upper(currency) as currency,
        upper(reporting_currency) as reporting_currency,

        -- rate: 1 currency = rate reporting_currency
        {{ to_rate('rate') }} as rate

    from source

)

select * from renamed
