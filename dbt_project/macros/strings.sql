-- The first substring matching a POSIX regex, or null when nothing matches.
{% macro regex_extract_first(column, pattern) -%}
    {{ return(adapter.dispatch('regex_extract_first', 'ltc')(column, pattern)) }}
{%- endmacro %}

{% macro default__regex_extract_first(column, pattern) -%}
    substring({{ column }} from '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__regex_extract_first(column, pattern) -%}
    nullif(regexp_extract({{ column }}, '{{ pattern }}', 0), '')
{%- endmacro %}

-- An integer-like 0/1 flag (or boolean) as a boolean, null treated as false.
{% macro to_flag(column) -%}
    (coalesce(cast({{ column }} as integer), 0) = 1)
{%- endmacro %}

-- Full-width forms as their ASCII characters, NFKC's rule for this range: U+FF01-U+FF5E (！ .. ～,
-- Ｈ, （, １) become U+0021-U+007E (! .. ~, H, (, 1) and the ideographic space U+3000 a space. Chinese
-- input methods type these in full-width mode, so an ERP or a bank writes ＩＮＶ－２０２５ and
-- 上海ＨＸ科技（集团） for what another system holds as INV-2025 and 上海HX科技(集团); every match key
-- folds them first. translate() maps character by character on DuckDB, Postgres and Spark alike
-- (no normalize(): Postgres has it from 13 on only for UTF-8 databases, DuckDB's nfc_normalize is
-- NFC, which leaves full-width forms as they are).
-- A text of ASCII characters only (as many bytes as characters) has nothing to fold and is kept as
-- it is: translate() with this 95-character map costs about 1.8 us a value on DuckDB (300k remittance
-- texts: 0.55 s, against 0.015 s with this guard), and most texts of most companies are ASCII; at
-- 1M leads the folds were 0.9 s of int_cash_receipts_identified's 1.2 s (DuckDB's profiler).
{% macro fold_fullwidth(column) -%}
    {%- set fullwidth = '！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～　' -%}
    {%- set ascii = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~ " -%}
    case
        when {{ ltc.byte_length(column) }} = length({{ column }}) then {{ column }}
        else translate({{ column }}, {{ ltc.string_literal(fullwidth) }}, {{ ltc.string_literal(ascii) }})
    end
{%- endmacro %}

-- The length of a text in bytes (UTF-8): octet_length on Postgres and Spark, strlen on DuckDB (whose
-- octet_length takes only blobs and bit strings).
{% macro byte_length(column) -%}
    {{ return(adapter.dispatch('byte_length', 'ltc')(column)) }}
{%- endmacro %}

{% macro default__byte_length(column) -%}
    octet_length({{ column }})
{%- endmacro %}

{% macro duckdb__byte_length(column) -%}
    strlen({{ column }})
{%- endmacro %}

-- `text` as a SQL string literal: quotes doubled; Spark, whose parser reads backslash escapes inside
-- literals, gets its own form (macros/spark_dialect.sql).
{% macro string_literal(text) -%}
    {{ return(adapter.dispatch('string_literal', 'ltc')(text)) }}
{%- endmacro %}

{% macro default__string_literal(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__string_literal(text) -%}
    {{ ltc.spark_string_literal(text) }}
{%- endmacro %}
