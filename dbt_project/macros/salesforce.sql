{% macro salesforce_tombstones(sobject) -%}
{#-
    Ids of `sobject` that Salesforce's getDeleted reported (raw_salesforce.deleted_records):
    records hard-deleted or purged from the Recycle Bin, which no query returns any more, so their
    last landed row would otherwise look alive; `deleted_date` is when Salesforce deleted them. The
    table appears with the first tombstone; until then this is an empty set.
-#}
{%- set rel = source('raw_salesforce', 'deleted_records') -%}
{%- if execute and adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) is not none -%}
    select id, deleted_date from {{ rel }} where sobject = '{{ sobject }}'
{%- else -%}
    select cast(null as {{ dbt.type_string() }}) as id, cast(null as {{ dbt.type_timestamp() }}) as deleted_date
    where 1 = 0
{%- endif -%}
{%- endmacro %}
