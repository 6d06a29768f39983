-- Salesforce's dated conversion rates turned into the finance rates' shape (1 currency = rate
-- reporting currency), the fallback of the FX rule (int_fx_rates_unioned). Salesforce quotes
-- ConversionRate units of a currency per 1 corporate-currency unit, valid from StartDate until
-- NextStartDate; so a currency's rate into the corporate currency is 1 / ConversionRate (exact, rounded
-- half away from zero to the rate's 6 decimals like every rate here). Only usable
-- when the reporting currency IS the corporate currency: then no cross rate is needed (otherwise
-- this model is empty and the finance rates alone apply). Deleted rows are left out.
with

rates as (

    {{ landed_columns('raw_salesforce', 'dated_conversion_rate', [
        ('id', dbt.type_string()), ('iso_code', dbt.type_string()), ('conversion_rate', 'numeric(18, 6)'),
        ('start_date', 'date'), ('next_start_date', 'date'), ('is_deleted', 'boolean'),
    ]) }}

),

currency_types as (

    {{ landed_columns('raw_salesforce', 'currency_type', [
        ('iso_code', dbt.type_string()), ('is_corporate', 'boolean'), ('is_deleted', 'boolean'),
    ]) }}

),

corporate as (

    select upper(iso_code) as currency
    from currency_types
    where is_corporate
        and not coalesce(is_deleted, false)

),

final as (

    select
        rates.id as dated_conversion_rate_id,
        upper(rates.iso_code) as currency,
        corporate.currency as reporting_currency,
        cast(rates.start_date as date) as valid_from,
        cast(rates.next_start_date as date) as valid_to,
        {{ to_rate(decimal_divide('1', 'rates.conversion_rate', 6)) }} as rate
    from rates
    inner join corporate
        on corporate.currency = {{ reporting_currency() }}
    where not coalesce(rates.is_deleted, false)
        and rates.conversion_rate > 0
        and upper(rates.iso_code) <> corporate.currency

)

select * from final
