{#-
    Entity-resolution keys (int_accounts_resolved). Portable: lower, translate, regexp_replace with
    the 'g' flag and POSIX bracket classes behave the same on DuckDB (RE2) and Postgres (ARE); the CJK
    ranges are written as literal characters (no \u escapes, whose syntax differs per engine).
-#}

-- Legal-form words stripped from the end of a company name (after punctuation is removed, so
-- "B.V." is "bv", "S.L." is "sl", "& Co. KG" is "co kg").
{% macro legal_suffixes() -%}
    {{ return(['gmbh', 'mbh', 'ag', 'kg', 'kgaa', 'co', 'ug', 'gbr', 'ev', 'ltd', 'limited', 'plc', 'llp', 'lp',
               'inc', 'incorporated', 'llc', 'corp', 'corporation', 'company', 'sa', 'sas', 'sarl', 'sl', 'slu',
               'bv', 'nv', 'srl', 'spa', 'oy', 'ab', 'as', 'aps', 'pty', 'se']) }}
{%- endmacro %}

-- Chinese legal forms, stripped from the end like the words above but with or without a space
-- before them (Chinese writes none): 上海华信科技股份有限公司, 上海华信科技(集团)有限公司 and
-- 上海华信科技 are one key. Longest first; brackets are spaces by then, so "(集团)" is " 集团".
{% macro cjk_legal_suffixes() -%}
    {{ return(['股份有限公司', '有限责任公司', '有限公司', '集团', '公司']) }}
{%- endmacro %}

-- The characters a key keeps besides a-z and 0-9: CJK unified ideographs (U+4E00-U+9FFF) and
-- extension A (U+3400-U+4DBF), so a Chinese name is not erased.
{% macro cjk_ideograph_ranges() -%}
    {{- return('㐀-䶿一-鿿') -}}
{%- endmacro %}

-- A company name as a match key: full-width forms folded to ASCII (fold_fullwidth: Ｈ -> h, （ -> (),
-- lower case, dots/commas/apostrophes dropped ("B.V." -> "bv"), every other run of characters that
-- are neither a-z, 0-9 nor CJK ideographs one space, trailing legal-form words (Latin and Chinese)
-- stripped (repeatedly: "GmbH & Co. KG", "(集团)有限公司"), whitespace collapsed and trimmed. A name
-- that is only legal words keeps them. Null for a null or blank name.
{% macro normalize_company_name(column) -%}
    {%- set cleaned -%}
        trim({{ ltc.regexp_replace_all(ltc.regexp_replace_all('lower(' ~ ltc.fold_fullwidth(column) ~ ')', "[.,'`]", ''),
                                       '[^a-z0-9' ~ ltc.cjk_ideograph_ranges() ~ ']+', ' ') }})
    {%- endset -%}
    {%- set stripped -%}
        trim({{ ltc.regexp_replace_all("' ' || " ~ cleaned,
                                       '( (' ~ legal_suffixes() | join('|') ~ ')| ?(' ~ cjk_legal_suffixes() | join('|') ~ '))+$',
                                       '') }})
    {%- endset -%}
    nullif(coalesce(nullif({{ stripped }}, ''), {{ cleaned }}), '')
{%- endmacro %}

-- A bank account identifier as a match key: full-width digits and letters folded (１２３ -> 123, the
-- ideographic space a space), upper case, spaces removed; null when blank.
{% macro normalize_account_identifier(column) -%}
    nullif(upper(replace({{ ltc.fold_fullwidth(column) }}, ' ', '')), '')
{%- endmacro %}
