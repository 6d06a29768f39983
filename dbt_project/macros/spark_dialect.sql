{#-
    The Spark SQL dialect of the project's portable macros (dbt target `spark`, profiles.yml).

    Each `spark__` macro here is what `adapter.dispatch` picks on Spark; DuckDB and Postgres keep
    their own versions (the `default__` / `duckdb__` macros beside the dispatchers), so their SQL is
    unchanged. The helpers dispatched for the first time for Spark (`regexp_replace_all`,
    `type_timestamp_tz`) keep their `default__` here, rendering the exact SQL the models had before.

    Spark semantics this relies on (Spark 4 in local mode, dbt-spark forces ANSI mode off):
    decimal `round` is half away from zero like DuckDB's and Postgres's; `%` and `div` on decimals are
    exact; the session time zone is UTC (profiles.yml), so a TIMESTAMP is a UTC instant.
-#}


-- Exact decimal division, rounded half away from zero to `scale` decimals (macros/ar_metrics.sql).
-- Spark divides DECIMALs exactly but then rounds the quotient to at most 6 decimals (and to fewer when
-- the operands are wide), so `round(n / d, 2)` would round twice: 0.0049996 -> 0.005000 -> 0.01.
-- Here the quotient is rounded once, on integers: |n| x 10^scale x 2 + |d| integer-divided (`div`, exact
-- on decimals, a BIGINT: quotients up to 9.2e18 / 10^scale) by 2|d|, signed, then scaled back by a
-- DECIMAL multiplication (exact). Inputs may carry up to 6 decimals, like DuckDB's version.
{% macro spark__decimal_divide(numerator, denominator, scale) -%}
    {%- set n = 'cast(cast(' ~ numerator ~ ' as decimal(38, 6)) * 1000000 as decimal(38, 0))' -%}
    {%- set d = 'cast(cast(' ~ denominator ~ ' as decimal(38, 6)) * 1000000 as decimal(38, 0))' -%}
    {%- set unit = '0.' ~ ('0' * (scale - 1)) ~ '1' -%}
    case
        when {{ d }} <> 0 then
            cast(
                case when ({{ n }} < 0) <> ({{ d }} < 0) then -1 else 1 end
                * ((abs({{ n }}) * {{ 10 ** scale }} * 2 + abs({{ d }})) div (abs({{ d }}) * 2))
                as decimal(38, 0)
            ) * cast({{ unit }} as decimal({{ scale + 1 }}, {{ scale }}))
    end
{%- endmacro %}


-- A timestamp with time zone as a naive UTC timestamp (macros/dates.sql). Spark has no AT TIME ZONE;
-- its TIMESTAMP is an instant shown in the session time zone, UTC here, so the cast is the identity.
{% macro spark__to_utc_timestamp(column) -%}
    cast({{ column }} as timestamp)
{%- endmacro %}


-- The first substring matching a regex, or null when nothing matches (macros/strings.sql).
{% macro spark__regex_extract_first(column, pattern) -%}
    nullif(regexp_extract({{ column }}, {{ ltc.spark_string_literal(pattern) }}, 0), '')
{%- endmacro %}


-- `string` with every match of the regex `pattern` replaced by `replacement` (both given as plain
-- text, not SQL literals; \1 .. \9 in `replacement` are back-references). DuckDB and Postgres need the
-- 'g' flag for "every match"; Spark replaces every match and takes $1 for a back-reference.
{% macro regexp_replace_all(string, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'ltc')(string, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(string, pattern, replacement) -%}
    regexp_replace({{ string }}, '{{ pattern | replace("'", "''") }}', '{{ replacement | replace("'", "''") }}', 'g')
{%- endmacro %}

{% macro spark__regexp_replace_all(string, pattern, replacement) -%}
    {%- set java_replacement = modules.re.sub('\\\\([0-9])', '$\\1', replacement) -%}
    regexp_replace({{ string }}, {{ ltc.spark_string_literal(pattern) }}, {{ ltc.spark_string_literal(java_replacement) }})
{%- endmacro %}


-- A SQL string literal for Spark, whose parser reads backslash escapes inside literals.
{% macro spark_string_literal(text) -%}
    '{{ text | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}


-- The type of a landed `_loaded_at` (a timestamp with time zone); Spark's TIMESTAMP is one.
{% macro type_timestamp_tz() -%}
    {{ return(adapter.dispatch('type_timestamp_tz', 'ltc')()) }}
{%- endmacro %}

{% macro default__type_timestamp_tz() -%}
    timestamp with time zone
{%- endmacro %}

{% macro spark__type_timestamp_tz() -%}
    timestamp
{%- endmacro %}


-- dbt's `type_string()` on Spark: dbt-spark leaves it to the base adapter, which says TEXT, a type
-- Spark does not know (`cast(null as text)` fails to parse). Overrides dbt's own dispatch on Spark.
{% macro spark__type_string() -%}
    string
{%- endmacro %}


-- Seeds on Spark: dbt-spark's table for a seed, with the seeds' `column_types` (_seeds.yml, written
-- for DuckDB and Postgres) in Spark's words: VARCHAR without a length is not a Spark type.
{% macro spark__create_csv_table(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set quote_seed_column = model['config'].get('quote_columns', None) -%}
    {% set sql %}
        create table {{ this.render() }} (
            {%- for col_name in agate_table.column_names -%}
                {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                {%- set type = ltc.spark_seed_type(column_override.get(col_name, inferred_type)) -%}
                {{ adapter.quote_seed_column(col_name | string, quote_seed_column) }} {{ type }} {%- if not loop.last -%}, {%- endif -%}
            {%- endfor -%}
        )
        {{ file_format_clause() }}
    {% endset %}
    {% call statement('_') -%}
        {{ sql }}
    {%- endcall %}
    {{ return(sql) }}
{% endmacro %}

{% macro spark__load_csv_rows(model, agate_table) %}
    {#- dbt-spark's, with the same type translation in the casts of each inserted value -#}
    {% set column_override = model['config'].get('column_types', {}) %}
    {% set statements = [] %}
    {% for chunk in agate_table.rows | batch(get_batch_size()) %}
        {% set bindings = [] %}
        {% for row in chunk %}
            {% do bindings.extend(row) %}
        {% endfor %}
        {% set sql %}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set type = ltc.spark_seed_type(column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
                    cast({{ get_binding_char() }} as {{ type }})
                    {%- if not loop.last %},{%- endif %}
                {%- endfor -%})
                {%- if not loop.last %},{%- endif %}
            {%- endfor %}
        {% endset %}
        {% do adapter.add_query(sql, bindings=bindings, abridge_sql_log=True) %}
        {% if loop.index0 == 0 %}
            {% do statements.append(sql) %}
        {% endif %}
    {% endfor %}
    {{ return(statements[0]) }}
{% endmacro %}

{% macro spark_seed_type(type) -%}
    {{ 'string' if type | lower in ('varchar', 'text') else type }}
{%- endmacro %}


-- Model contracts on Spark: dbt checks a contract by casting null to each declared `data_type` (the
-- models' yml, written in the portable `text`, which Spark does not know); here in Spark's words.
{% macro spark__get_empty_schema_sql(columns) %}
    {%- set spark_columns = {} -%}
    {%- for name in columns -%}
        {%- set col = columns[name] -%}
        {%- if col.get('data_type') is not none and col['data_type'] | lower in ('text', 'varchar') -%}
            {%- do spark_columns.update({name: dict(col, data_type='string')}) -%}
        {%- else -%}
            {%- do spark_columns.update({name: col}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(spark_columns)) }}
{% endmacro %}


-- Contract constraints on Spark: dbt-spark adds them (ALTER COLUMN ... SET NOT NULL) unless the model
-- says file_format is not delta, and Parquet tables (ours: no file_format set) refuse them. Only a
-- Delta table stores constraints. Elsewhere the contract checks columns and types, and the not_null
-- constraints are checked here, once the table is written: DuckDB and Postgres refuse the insert
-- (the not_null constraints replaced 144 not_null data tests there), so Spark must fail the model too.
{% macro spark__persist_constraints(relation, model) %}
    {%- set contract_config = config.get('contract') -%}
    {%- if contract_config.enforced and config.get('file_format') == 'delta' -%}
        {% do alter_table_add_constraints(relation, model.constraints) %}
        {% do alter_column_set_constraints(relation, model.columns) %}
    {%- elif contract_config.enforced -%}
        {% do ltc_check_not_null_constraints(relation, model.columns) %}
    {%- endif -%}
{% endmacro %}


-- Fails the model, naming each column, when a not_null constraint column holds nulls: one scan.
{% macro ltc_check_not_null_constraints(relation, columns) %}
    {%- set checked = [] -%}
    {%- for name, column in columns.items()
            if column.get('constraints', []) | selectattr('type', 'equalto', 'not_null') | list -%}
        {%- do checked.append(name) -%}
    {%- endfor -%}
    {%- if checked and execute -%}
        {%- set null_counts = [] -%}
        {%- for name in checked -%}
            {%- do null_counts.append('count(*) - count(' ~ adapter.quote(name) ~ ')') -%}
        {%- endfor -%}
        {%- set counts = run_query('select ' ~ (null_counts | join(', ')) ~ ' from ' ~ relation).rows[0] -%}
        {%- set failed = [] -%}
        {%- for name in checked -%}
            {%- if counts[loop.index0] > 0 -%}
                {%- do failed.append(name ~ ' (' ~ counts[loop.index0] ~ ' rows)') -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if failed -%}
            {{ exceptions.raise_compiler_error(
                'NOT NULL constraint failed: ' ~ relation ~ ': ' ~ (failed | join(', '))
                ~ ' hold nulls. Fix the upstream model or source, then rerun.') }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}


-- dbt's dateadd / datediff on Spark, compact. dbt-spark's versions repeat their argument five times
-- (to_unix_timestamp round trips with assert_true checks), so nested calls grow exponentially:
-- month_spine's nested dateadds compiled int_pipeline_periods_spined to 38 KB of SQL. Spark's own
-- timestampadd (a TIMESTAMP, like DuckDB's date + interval; end of month clamped like add_months)
-- and datediff (day boundaries, like DuckDB's date_diff('day', ...)) take each argument once.
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart }}, cast({{ interval }} as int), {{ from_date_or_timestamp }})
{%- endmacro %}

{% macro spark__datediff(first_date, second_date, datepart) -%}
    {%- if datepart == 'day' -%}
        datediff(cast({{ second_date }} as date), cast({{ first_date }} as date))
    {%- else -%}
        {{ dbt_spark.spark__datediff(first_date, second_date, datepart) }}
    {%- endif -%}
{%- endmacro %}
