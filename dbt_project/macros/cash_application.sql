{#-
    Cash application (int_cash_receipts_identified, int_cash_applications_allocated). Portable:
    upper, regexp_replace with the 'g' flag and \1 back-references behave the same on DuckDB (RE2)
    and Postgres (ARE).
-#}

-- An invoice reference as a match key, tolerant of formatting noise: full-width forms folded
-- (ＩＮＶ－２０２５ -> INV-2025, fold_fullwidth), upper case, every run of
-- non-alphanumerics one '-', a '-' between letters and digits, leading zeros of every number
-- dropped. "inv 2025 000123", "INV-2025-123" and "Inv2025-0123" all give 'INV-2025-123'.
-- Null for a null reference.
{% macro normalize_invoice_reference(column) -%}
    {#- regexp_replace_all: the 'g' flag here, Spark's own form there (macros/spark_dialect.sql) -#}
    {%- set s = ltc.regexp_replace_all('upper(' ~ ltc.fold_fullwidth(column) ~ ')', '[^A-Z0-9]+', '-') -%}
    {%- set s = ltc.regexp_replace_all(s, '([A-Z])([0-9])', '\\1-\\2') -%}
    {%- set s = ltc.regexp_replace_all(s, '([0-9])([A-Z])', '\\1-\\2') -%}
    {{ ltc.regexp_replace_all(s, '(^|-)0+([0-9])', '\\1\\2') }}
{%- endmacro %}

-- The largest shortfall written off when a payment settles an invoice (rule 4, tolerance): at most
-- var cash_application_write_off_max_amount (transaction currency) OR at most
-- var cash_application_write_off_max_percent % of the invoice total, whichever is larger.
{% macro write_off_tolerance(invoice_total) -%}
    greatest(
        cast({{ var('cash_application_write_off_max_amount') }} as numeric(18, 2)),
        cast({{ invoice_total }} * {{ var('cash_application_write_off_max_percent') }} / 100 as numeric(18, 2))
    )
{%- endmacro %}
