-- The rates the FX rule reads (int_fx_conversions), as validity ranges: one row per currency,
-- reporting currency and valid_from. The finance rates (ECB / treasury files in the finance drop)
-- come first; Salesforce's dated conversion rates fill in only where the finance rates have nothing
-- yet: for a currency they never quote, and before their first quote of a currency. So a rate always
-- exists for a CRM currency, and a finance rate, once there, always wins.
with

finance_rates as (

    select * from {{ ref('stg_finance__fx_rates') }}
    where reporting_currency = {{ reporting_currency() }}

),

salesforce_rates as (

    select * from {{ ref('stg_salesforce__dated_conversion_rates') }}

),

finance_ranges as (

    select
        currency,
        reporting_currency,
        rate_date as valid_from,
        lead(rate_date) over (partition by currency, reporting_currency order by rate_date) as valid_to,
        rate,
        'finance' as rate_source
    from finance_rates

),

first_finance_quotes as (

    select
        currency,
        min(valid_from) as first_quote_date
    from finance_ranges
    group by currency

),

-- each Salesforce range cut off at the currency's first finance quote
salesforce_ranges as (

    select
        salesforce_rates.currency,
        salesforce_rates.reporting_currency,
        salesforce_rates.valid_from,
        case
            when first_finance_quotes.first_quote_date is null then salesforce_rates.valid_to
            when salesforce_rates.valid_to is null
                or salesforce_rates.valid_to > first_finance_quotes.first_quote_date
                then first_finance_quotes.first_quote_date
            else salesforce_rates.valid_to
        end as valid_to,
        salesforce_rates.rate,
        'salesforce' as rate_source
    from salesforce_rates
    left join first_finance_quotes
        on salesforce_rates.currency = first_finance_quotes.currency
    where first_finance_quotes.first_quote_date is null
        or salesforce_rates.valid_from < first_finance_quotes.first_quote_date

),

final as (

    select * from finance_ranges
    union all
    select * from salesforce_ranges

)

select * from final
