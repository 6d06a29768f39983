-- One row per reconciliation exception open as of the as-of date (var as_of): the contract-to-cash
-- exception queue of the reports (ltc-metrics.md §4 and §5), with type, severity, amount in
-- transaction and reporting currency, the documents it concerns and the Salesforce owner to act.
-- Each int_*_exceptions_flagged model flags one family with the same columns; this model only
-- unions them, so a new family is one more entry in `families` below.
{% set families = [
    ('contract', 'int_contract_exceptions_flagged'),
    ('cash', 'int_cash_exceptions_flagged'),
] %}
with

{% for category, model in families %}
{{ category }}_exceptions as (

    select * from {{ ref(model) }}

),

{% endfor %}
unioned as (

    {% for category, model in families %}
    select
        exception_id,
        exception_type,
        '{{ category }}' as exception_category,
        severity,
        detected_date,
        currency,
        amount,
        amount_reporting,
        reporting_currency,
        fx_rate,
        fx_rate_date,
        receipt_id,
        invoice_id,
        order_id,
        contract_id,
        opportunity_id,
        account_id,
        customer_id,
        owner_id,
        description,
        as_of_date
    from {{ category }}_exceptions
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        exception_id,
        exception_type,
        exception_category,
        severity,
        detected_date,
        -- age in the queue as of the as-of date (0 when detected on it)
        {{ days_between('detected_date', as_of_date()) }} as age_days,
        currency,
        amount,
        amount_reporting,
        reporting_currency,
        fx_rate,
        fx_rate_date,
        receipt_id,
        invoice_id,
        order_id,
        contract_id,
        opportunity_id,
        account_id,
        customer_id,
        owner_id,
        description,
        as_of_date
    from unioned

)

select * from final
