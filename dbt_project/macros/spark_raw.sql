{#-
    Register the raw tables landed as Parquet (LTC_WAREHOUSE=spark: dlt's filesystem destination,
    one folder per table, <raw_path>/raw_<system>/<table>/*.parquet) in Spark's catalog, as the dbt
    sources raw_<system>.<table> read them:

        dbt run-operation spark_register_raw --target spark --args '{raw_path: /abs/raw, tables: [raw_erp.invoices, ...]}'

    Each becomes an unmanaged table `USING parquet LOCATION '<folder>'`: Spark reads the files where
    dlt wrote them (no copy) and takes the schema from their footers, so DECIMAL money stays DECIMAL.
    Registering is idempotent (an existing table is replaced, so files landed since are seen).

    `tables`: the landed "<schema>.<table>" names; Spark cannot infer a schema from a folder that
    does not exist, so a table that never landed (an ERP mapping without it, an org without dated
    rates) must be left out, and the models read it as missing (macros/landed.sql). Without
    `tables`, every source of the project is registered, which fails if one never landed.
    benchmarks/spark.py `landed_tables` lists the folders that hold Parquet files.
-#}
{% macro spark_register_raw(raw_path, tables=none) -%}
    {%- if target.type != 'spark' -%}
        {{ exceptions.raise_compiler_error("spark_register_raw is for the spark target, not " ~ target.type) }}
    {%- endif -%}
    {%- if tables is none -%}
        {%- set tables = [] -%}
        {%- for node in graph.sources.values() -%}
            {%- do tables.append(node.schema ~ '.' ~ node.identifier) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set schemas = [] -%}
    {%- for name in tables | unique | sort -%}
        {%- set schema, table = name.split('.') -%}
        {%- if schema not in schemas -%}
            {%- do run_query('create database if not exists ' ~ schema) -%}
            {%- do schemas.append(schema) -%}
        {%- endif -%}
        {%- do run_query('drop table if exists ' ~ schema ~ '.`' ~ table ~ '`') -%}
        {%- do run_query('create table ' ~ schema ~ '.`' ~ table ~ '` using parquet location '
                         ~ ltc.spark_string_literal(raw_path ~ '/' ~ schema ~ '/' ~ table)) -%}
    {%- endfor -%}
    {{ log('spark_register_raw: ' ~ (tables | unique | list | length) ~ ' raw table(s) from ' ~ raw_path, info=true) }}
{%- endmacro %}
