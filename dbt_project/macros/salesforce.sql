{% macro salesforce_tombstones(sobject) -%}
{#-
    Ids of `sobject` that Salesforce's getDeleted reported (raw_salesforce.deleted_records):
    records hard-deleted or purged from the Recycle Bin, which no query returns any more, so their
    last landed row would otherwise look alive. The table appears with the first tombstone; until
    then this is an empty set.
-#}
{%- set rel = source('raw_salesforce', 'deleted_records') -%}
{%- if execute and adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) is not none -%}
    select id from {{ rel }} where sobject = '{{ sobject }}'
{%- else -%}
    select cast(null as {{ dbt.type_string() }}) as id where 1 = 0
{%- endif -%}
{%- endmacro %}
