-- When each source system last landed in the warehouse: the executive report's trust panel
-- (ltc-metrics §9.2: a "data as of" stamp and freshness per source). dlt stamps every row of a run
-- with the run's start time in `_loaded_at` (connectors/landing.py; the sources' loaded_at_field,
-- what `dbt source freshness` reads), so a table's last landing is max(_loaded_at). A table that
-- never landed (an ERP mapping or org without it) counts in table_count but not landed_table_count.
-- One row per source system, whether or not anything landed. Wall-clock landing times, in UTC: the
-- only figures here that are not as of the as-of date, which the row repeats for the reader.
{% set systems = [
    ('salesforce', 'raw_salesforce', ['user', 'campaign', 'lead', 'campaign_member', 'account', 'contact',
        'opportunity', 'opportunity_history', 'contract', 'order', 'dated_conversion_rate', 'currency_type']),
    ('erp', 'raw_erp', ['customers', 'sales_orders', 'invoices', 'sales_order_lines', 'deliveries',
        'invoice_lines', 'credit_notes']),
    ('finance', 'raw_finance', ['bank_transactions', 'fx_rates']),
    ('marketing', 'raw_marketing', ['ad_spend', 'hubspot_campaigns', 'hubspot_contacts', 'hubspot_forms',
        'hubspot_form_submissions']),
] %}
with

{% for system, source_name, tables in systems %}
{% for table in tables %}
{{ source_name }}__{{ table }} as (

    {{ landed_columns(source_name, table, [('_loaded_at', ltc.type_timestamp_tz())]) }}

),

{% endfor %}
{% endfor %}
systems as (

    {% for system, source_name, tables in systems %}
    select '{{ system }}' as source_system, '{{ source_name }}' as raw_schema, {{ tables | length }} as table_count
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

tables_landed as (

    {% for system, source_name, tables in systems %}
    {% set outer_loop = loop %}
    {% for table in tables %}
    select
        '{{ system }}' as source_system,
        '{{ table }}' as table_name,
        max({{ to_utc_timestamp('_loaded_at') }}) as last_loaded_at,
        count(*) as row_count
    from {{ source_name }}__{{ table }}
    {% if not (outer_loop.last and loop.last) %}union all{% endif %}
    {% endfor %}
    {% endfor %}

),

per_system as (

    select
        source_system,
        max(last_loaded_at) as last_loaded_at,
        min(last_loaded_at) as stalest_table_loaded_at,
        count(last_loaded_at) as landed_table_count,
        sum(row_count) as row_count
    from tables_landed
    group by source_system

),

final as (

    select
        systems.source_system,
        systems.raw_schema,
        per_system.last_loaded_at,
        per_system.stalest_table_loaded_at,
        cast(systems.table_count as integer) as table_count,
        cast(coalesce(per_system.landed_table_count, 0) as integer) as landed_table_count,
        cast(coalesce(per_system.row_count, 0) as {{ dbt.type_bigint() }}) as row_count,
        {{ as_of_date() }} as as_of_date
    from systems
    left join per_system
        on systems.source_system = per_system.source_system

)

select * from final
