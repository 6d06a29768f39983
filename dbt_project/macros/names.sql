{#-
    Entity-resolution keys (int_accounts_resolved). Portable: lower, regexp_replace with the 'g'
    flag and POSIX bracket classes behave the same on DuckDB (RE2) and Postgres (ARE).
-#}

-- Legal-form words stripped from the end of a company name (after punctuation is removed, so
-- "B.V." is "bv", "S.L." is "sl", "& Co. KG" is "co kg").
{% macro legal_suffixes() -%}
    {{ return(['gmbh', 'mbh', 'ag', 'kg', 'kgaa', 'co', 'ug', 'gbr', 'ev', 'ltd', 'limited', 'plc', 'llp', 'lp',
               'inc', 'incorporated', 'llc', 'corp', 'corporation', 'company', 'sa', 'sas', 'sarl', 'sl', 'slu',
               'bv', 'nv', 'srl', 'spa', 'oy', 'ab', 'as', 'aps', 'pty', 'se']) }}
{%- endmacro %}

-- A company name as a match key: lower case, dots/commas/apostrophes dropped ("B.V." -> "bv"),
-- every other non-alphanumeric run one space, trailing legal-form words stripped (repeatedly:
-- "GmbH & Co. KG"), whitespace collapsed and trimmed. A name that is only legal words keeps them.
-- Null for a null or blank name.
{% macro normalize_company_name(column) -%}
    {%- set cleaned -%}
        trim({{ ltc.regexp_replace_all(ltc.regexp_replace_all('lower(' ~ column ~ ')', "[.,'`]", ''), '[^a-z0-9]+', ' ') }})
    {%- endset -%}
    {%- set stripped -%}
        trim({{ ltc.regexp_replace_all("' ' || " ~ cleaned, '( (' ~ legal_suffixes() | join('|') ~ '))+$', '') }})
    {%- endset -%}
    nullif(coalesce(nullif({{ stripped }}, ''), {{ cleaned }}), '')
{%- endmacro %}

-- A bank account identifier as a match key: upper case, spaces removed; null when blank.
{% macro normalize_account_identifier(column) -%}
    nullif(upper(replace({{ column }}, ' ', '')), '')
{%- endmacro %}
