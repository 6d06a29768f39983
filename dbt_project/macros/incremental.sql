{#-
    Key-scoped incremental refresh (issue 8): a journey-grain fact rebuilds, on an incremental run,
    only the keys whose inputs changed since its last build, and stays equal to a full rebuild.

    * The `replace_keys` strategy: the batch holds the new rows of every key it replaces plus one
      marker row per key (the marker column null); every row of those keys is deleted from the
      table, then the batch's real rows inserted. The marker is what deletes a key whose rows all
      vanished (a journey absorbed into another, a lead created after a backdated as-of date).
      A model's `as_of_column` (config), the as-of date on every row, is then set to this run's.
    * The state of each such model (`ltc_incremental_state`, one row per model, written by the
      model's post-hook in the build's transaction): the as-of date, the landing watermark (the
      latest `_loaded_at` its inputs held) and a fingerprint of the project (every model's and seed's
      checksum, the dbt version and the vars the model reads). A model scopes its run to changed
      keys only when the state is there and the fingerprint is unchanged: a change of any model,
      seed or var rebuilds it whole. dbt's graph holds no macro text, so a change to a macro alone
      is not seen: build with --full-refresh after one (as for any dbt incremental model).
    * The changes are the rows landed after the watermark: every ingest stamps its own start time
      (connectors/ingest.py), so no later load shares the watermark's value.
    * Loads and builds of one warehouse do not overlap (the pipeline lands, then builds): `_loaded_at`
      is a load's start time, so a load that began before a build and committed after it would be
      missed. A `--full-refresh` build, or dropping the table, starts over.
-#}

{% macro get_incremental_replace_keys_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set batch = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set marker = config.require('replace_marker_column') -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where {{ key }} in (select {{ key }} from {{ batch }});

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ batch }}
    where {{ marker }} is not null;

    {#- the as-of date every row carries moves with the run, changed or not #}
    {%- set as_of_column = config.get('as_of_column') %}
    {%- if as_of_column %}

    update {{ target }}
    set {{ as_of_column }} = {{ ltc.as_of_date() }}
    where {{ as_of_column }} <> {{ ltc.as_of_date() }}
    {%- endif %}
{%- endmacro %}


{#- Every state table the key-scoped models write on DuckDB (the warehouse's and the
    marts file's), created before any model runs: two models creating one at once conflict
    (DuckDB: "Catalog write-write conflict on create"). An on-run-start hook. -#}
{% macro create_incremental_state_tables() -%}
    {%- if target.type != 'duckdb' -%}
    select 1
    {%- else -%}
    {%- for database in [target.database, 'ltc_marts'] -%}
    {%- set rel = api.Relation.create(database=database, schema=target.schema, identifier='ltc_incremental_state') %}
    create schema if not exists {{ adapter.quote(database) }}.{{ adapter.quote(target.schema) }};
    {{ ltc.incremental_state_ddl(rel) }};
    {%- endfor -%}
    {%- endif -%}
{%- endmacro %}


{% macro incremental_state_ddl(rel) -%}
    create table if not exists {{ rel }} (
        model_name {{ dbt.type_string() }},
        fingerprint {{ dbt.type_string() }},
        as_of_date date,
        watermark {{ dbt.type_timestamp() }}
    )
{%- endmacro %}


{#- In the target's own schema, not the model's: `marts` is the public contract, published whole
    (reports/warehouse.py), and this is the pipeline's bookkeeping. In the model's database: on
    DuckDB the marts file, which the published copy leaves `main` out of. -#}
{% macro incremental_state_relation() -%}
    {{ return(api.Relation.create(database=this.database, schema=target.schema, identifier='ltc_incremental_state')) }}
{%- endmacro %}


{#- The project's fingerprint for this model: its state is reusable only under the same code,
    seeds and the vars named by the model's `fingerprint_vars` config (a list of var names, said once
    in the model's config: its body and its post-hook both read it; as_of is handled by the model
    itself). -#}
{% macro incremental_fingerprint() -%}
    {#- a unit test's context has no graph of nodes (and no state to compare with) #}
    {%- if not execute or graph.get('nodes') is none -%}{{ return('') }}{%- endif -%}
    {%- set parts = [] -%}
    {%- for node in graph.nodes.values() | sort(attribute='unique_id') -%}
        {%- if node.resource_type in ('model', 'seed') -%}
            {%- do parts.append(node.unique_id ~ '=' ~ node.checksum.checksum) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do parts.append('dbt=' ~ dbt_version) -%}
    {%- for name in config.get('fingerprint_vars', []) -%}
        {%- do parts.append('var.' ~ name ~ '=' ~ tojson(var(name))) -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join('\n'))) }}
{%- endmacro %}


{#- The state the model's last build left (a dict: fingerprint, as_of_date, watermark), or none. -#}
{% macro incremental_state() -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set rel = ltc.incremental_state_relation() -%}
    {%- if adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set rows = run_query(
        "select fingerprint, cast(as_of_date as " ~ dbt.type_string() ~ "), cast(watermark as "
        ~ dbt.type_string() ~ ") from " ~ rel ~ " where model_name = '" ~ this.identifier ~ "'"
    ) -%}
    {%- if rows | length == 0 -%}{{ return(none) }}{%- endif -%}
    {{ return({'fingerprint': rows[0][0], 'as_of_date': rows[0][1], 'watermark': rows[0][2]}) }}
{%- endmacro %}


{#- True when this run may rebuild only the changed keys: an incremental run, a saved state and the
    same fingerprint. -#}
{% macro incremental_scoped(state, fingerprint) -%}
    {{ return(is_incremental() and state is not none and state.fingerprint == fingerprint and state.watermark is not none) }}
{%- endmacro %}


{#- The post-hook that records the state of this build: `watermark_sql` selects the latest
    `_loaded_at` the model's inputs hold now (one value). -#}
{% macro save_incremental_state(fingerprint, watermark_sql) -%}
    {%- set rel = ltc.incremental_state_relation() -%}
    {#- qualified on DuckDB: the marts' state lives in the marts file (connectors/marts_file.py), and
        DuckDB lets the model's transaction write to that database only #}
    create schema if not exists {% if target.type == 'duckdb' %}{{ adapter.quote(rel.database) }}.{% endif %}{{ adapter.quote(rel.schema) }};
    {{ ltc.incremental_state_ddl(rel) }};
    delete from {{ rel }} where model_name = '{{ this.identifier }}';
    insert into {{ rel }} (model_name, fingerprint, as_of_date, watermark)
    select '{{ this.identifier }}', '{{ fingerprint }}', {{ ltc.as_of_date() }}, ({{ watermark_sql }})
{%- endmacro %}


{#- One marker row per key of `keys` (a CTE or relation with the column `key`): every column of the
    model's table null but the key, in the table's order, to union under the model's rows. -#}
{% macro replace_key_markers(key, keys) -%}
    select
        {%- for column in adapter.get_columns_in_relation(this) %}
        {{ key if column.name == key else 'null' }} as {{ adapter.quote(column.name) }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ keys }}
{%- endmacro %}


{#- The config of a key-scoped model (the `replace_keys` strategy above), said once: incremental
    with its state saved by a post-hook, except on Spark, whose Parquet tables take no delete, and on
    Postgres (a table there). `fingerprint_vars`: the vars the model reads (ltc.incremental_fingerprint);
    `post_hook`: the model's own hooks, run after its state is saved; `watermark_inputs`: the staging
    models whose landings the state's watermark covers (ltc.journey_inputs_watermark). Use:
    {{ config(**ltc.key_scoped_config('lead_id', 'is_duplicate')) }} -#}
{% macro key_scoped_config(unique_key, replace_marker_column, as_of_column=none, fingerprint_vars=[],
                           post_hook=[], watermark_inputs=none) -%}
    {#- a table on Postgres too: its second run failed there, the markers' bare nulls typed as text
        ("UNION types integer and text cannot be matched"); casting them to the columns' types left
        the batch out of sync with the table (on_schema_change). Rebuilt whole there until the
        strategy works on it (tests/dbt/test_pipeline_snapshots.py builds twice on Postgres). #}
    {%- set whole = target.type in ('spark', 'postgres') -%}
    {%- set options = {
        'materialized': 'table' if whole else 'incremental',
        'incremental_strategy': 'replace_keys',
        'unique_key': unique_key,
        'replace_marker_column': replace_marker_column,
        'on_schema_change': 'fail',
        'post_hook': [] if whole else [
            "{{ ltc.save_incremental_state(ltc.incremental_fingerprint(), ltc.journey_inputs_watermark("
            ~ (watermark_inputs | tojson if watermark_inputs else '') ~ ")) }}"
        ] + post_hook,
    } -%}
    {%- if as_of_column -%}{%- do options.update({'as_of_column': as_of_column}) -%}{%- endif -%}
    {%- if fingerprint_vars -%}{%- do options.update({'fingerprint_vars': fingerprint_vars}) -%}{%- endif -%}
    {{ return(options) }}
{%- endmacro %}


{#- The last CTEs of a key-scoped model, `markers` and `final`: `rows` (a CTE of the model's rows),
    and on an incremental run one marker row per key of `replaced` (every column null but `key`,
    the marker column among them): the strategy deletes every row of each replaced key, then
    inserts the real rows; the markers themselves are not inserted. -#}
{% macro key_scoped_final(rows, key) -%}
{% if is_incremental() -%}
markers as (

    {{ ltc.replace_key_markers(key, 'replaced') }}

),

{% endif -%}
-- this run's rows, and on an incremental run the replaced keys' markers
final as (

    select * from {{ rows }}
    {%- if is_incremental() %}
    union all
    select * from markers
    {%- endif %}

)
{%- endmacro %}


{#- Every key the model's table holds or `relation` (its source of keys) has now, as one select of
    `key`: what an incremental run replaces when it cannot be scoped (no state, or another code,
    seed or var), so that the model is rebuilt whole. -#}
{% macro every_key(key, relation) -%}
    select {{ key }} from {{ relation }}
    union
    select {{ key }} from {{ this }}
{%- endmacro %}


{#- The state's landing watermark as a SQL timestamp: rows landed after it are the changes. -#}
{% macro state_watermark(state) -%}
    cast('{{ state.watermark }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}


{#- fct_opportunity_stage_history's post-hook: the days of each current interval (not exited yet)
    are counted to this run's as-of date, in the rows an incremental run kept as well as those it
    wrote (the same expression as the model's). Rows whose days are right already are not written. -#}
{% macro refresh_current_stage_days() -%}
    {%- set days = ltc.days_between('entered_date', ltc.as_of_date()) -%}
    update {{ this }}
    set days_in_stage = {{ days }}
    where exited_at is null
        and days_in_stage <> {{ days }}
{%- endmacro %}
