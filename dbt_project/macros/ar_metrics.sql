-- AR and collection metric formulas (ltc-metrics.md §3.2-3.5), each defined here and only here so
-- that rpt_cash_collection, rpt_ltc_health and any later report compute them the same way.
-- Inputs are the monthly building blocks of int_ar_balances_summarized (money in the reporting
-- currency, DECIMAL). Every result is DECIMAL, rounded ONCE, half away from zero, at the stated scale;
-- every ratio is null when its denominator is 0 or null (never a division by zero).


-- Exact decimal division rounded half away from zero to `scale` decimals, as numeric(38, scale);
-- null when the denominator is 0 or null. DuckDB divides DECIMALs in DOUBLE, so its version divides
-- scaled integers (HUGEINT) instead; inputs may carry up to 6 decimals.
{% macro decimal_divide(numerator, denominator, scale) -%}
    {{ return(adapter.dispatch('decimal_divide', 'ltc')(numerator, denominator, scale)) }}
{%- endmacro %}

{% macro default__decimal_divide(numerator, denominator, scale) -%}
    cast(round(
        cast({{ numerator }} as numeric(38, 16)) / nullif(cast({{ denominator }} as numeric(38, 16)), 0),
        {{ scale }}
    ) as numeric(38, {{ scale }}))
{%- endmacro %}

{% macro duckdb__decimal_divide(numerator, denominator, scale) -%}
    {%- set n = 'cast(cast(' ~ numerator ~ ' as decimal(38, 6)) * 1000000 as hugeint)' -%}
    {%- set d = 'cast(cast(' ~ denominator ~ ' as decimal(38, 6)) * 1000000 as hugeint)' -%}
    {%- set unit = '0.' ~ ('0' * (scale - 1)) ~ '1' -%}
    case
        when {{ d }} <> 0 then
            -- |n| x 10^scale / |d|, rounded half up on integers, signed, then scaled back by a
            -- DECIMAL multiplication (exact)
            cast(
                sign({{ n }}) * sign({{ d }})
                * ((abs({{ n }}) * {{ 10 ** scale }} * 2 + abs({{ d }})) // (abs({{ d }}) * 2))
                as decimal(38, 0)
            ) * cast({{ unit }} as decimal({{ scale + 1 }}, {{ scale }}))
    end
{%- endmacro %}

-- A number of days, rounded half away from zero to 2 decimals, as numeric(18,2).
{% macro to_days(expression) -%}
    cast(round(cast({{ expression }} as numeric(38, 8)), 2) as numeric(18, 2))
{%- endmacro %}

-- Receivable days of billings: ar_amount / billings x days, in days (2 decimals); null when
-- billings is 0. Standard DSO with ending total AR, Best Possible DSO with current AR (§3.2).
{% macro ar_days_of_billings(ar_amount, billings, days) -%}
    cast({{ ltc.decimal_divide('(' ~ ar_amount ~ ') * (' ~ days ~ ')', billings, 2) }} as numeric(18, 2))
{%- endmacro %}

-- Standard DSO (period measure) = ending total AR / billings in the period x days in the period.
{% macro dso_standard_days(ending_ar, billings, days) -%}
    {{ ltc.ar_days_of_billings(ending_ar, billings, days) }}
{%- endmacro %}

-- Best Possible DSO (period measure) = current (not yet due) AR / billings in the period x days.
{% macro best_possible_dso_days(current_ar, billings, days) -%}
    {{ ltc.ar_days_of_billings(current_ar, billings, days) }}
{%- endmacro %}

-- Average Days Delinquent = DSO - BPDSO, from the two rounded figures so that the report's three
-- columns add up exactly; null when either is null.
{% macro average_days_delinquent(dso_days, best_possible_dso_days) -%}
    cast(({{ dso_days }}) - ({{ best_possible_dso_days }}) as numeric(18, 2))
{%- endmacro %}

-- Collection Effectiveness Index in percent (2 decimals), Credit Research Foundation form (§3.3):
--   (beginning AR + billings / N - ending total AR) / (beginning AR + billings / N - ending current AR) x 100
-- N = months in the period (1 for the monthly CEI, the project default); "current" = not past due.
-- Numerator and denominator are multiplied by N, so billings / N is never rounded.
-- Null when the denominator is 0 (nothing was collectible).
{% macro collection_effectiveness_index(beginning_ar, billings, ending_ar, ending_current_ar, months=1) -%}
    {%- set n = months | int -%}
    cast({{ ltc.decimal_divide(
        '(' ~ n ~ ' * (' ~ beginning_ar ~ ') + (' ~ billings ~ ') - ' ~ n ~ ' * (' ~ ending_ar ~ ')) * 100',
        '(' ~ n ~ ' * (' ~ beginning_ar ~ ') + (' ~ billings ~ ') - ' ~ n ~ ' * (' ~ ending_current_ar ~ '))',
        2
    ) }} as numeric(18, 2))
{%- endmacro %}

-- On-time collection rate (value, cohort of receivables due in the period, §3.5) as a ratio 0-1 with
-- 6 decimals: cash applied on or before each invoice's due date / amount due; null when nothing was due.
{% macro on_time_collection_rate(collected_on_time_amount, amount_due) -%}
    cast({{ ltc.decimal_divide(collected_on_time_amount, amount_due, 6) }} as numeric(18, 6))
{%- endmacro %}

-- Average days to pay, cash-weighted: sum(days x applied amount) / sum(applied amount), 2 decimals;
-- null when nothing was applied.
{% macro days_to_pay_weighted(days_x_amount_sum, amount_sum) -%}
    cast({{ ltc.decimal_divide(days_x_amount_sum, amount_sum, 2) }} as numeric(18, 2))
{%- endmacro %}

-- Average days to pay, simple: sum(days) / number of applications, 2 decimals; null when none.
{% macro days_to_pay_simple(days_sum, application_count) -%}
    cast({{ ltc.decimal_divide(days_sum, application_count, 2) }} as numeric(18, 2))
{%- endmacro %}

-- Countback DSO (§3.2), one row per month of `relation` (a CTE or relation with one row per month):
-- walk back month by month from the month itself, subtracting each month's billings from its ending
-- AR; every month whose billings the remaining AR exceeds adds all its days, and the month where
-- the AR runs out adds remaining AR / its billings x its days. The stop month is the most recent
-- month k with billings(k..m) >= ending AR(m): the same walk, without recursion. Months with no
-- billings are walked through (they add their days while AR remains). Ending AR 0 gives 0. Null when
-- the AR exceeds every billing on record (cannot happen while open AR <= what was billed).
-- Returns (period_month, countback_dso_days numeric(18,2)).
{% macro countback_dso_days(relation, month='period_month', ending_ar='ending_ar', billings='invoiced_amount',
                            days='period_days') -%}
    with

    walk as (

        -- each month (period_month) with every month up to it (walk_month), walking back
        select
            this_month.{{ month }} as period_month,
            this_month.{{ ending_ar }} as ending_ar,
            earlier.{{ month }} as walk_month,
            earlier.{{ billings }} as walk_billings,
            earlier.{{ days }} as walk_days,
            -- billings from walk_month to period_month, both included
            sum(earlier.{{ billings }}) over (
                partition by this_month.{{ month }}
                order by earlier.{{ month }} desc
                rows between unbounded preceding and current row
            ) as billed_back_to_walk_month
        from {{ relation }} as this_month
        inner join {{ relation }} as earlier
            on earlier.{{ month }} <= this_month.{{ month }}

    ),

    stops as (

        -- the month where the ending AR runs out
        select
            period_month,
            max(walk_month) as stop_month
        from walk
        where billed_back_to_walk_month >= ending_ar
        group by period_month

    )

    select
        walk.period_month,
        cast(
            sum(case when walk.walk_month > stops.stop_month then walk.walk_days else 0 end)
            + coalesce(max(case
                -- remaining AR at the stop month = ending AR - billings after it
                when walk.walk_month = stops.stop_month
                    and walk.ending_ar > walk.billed_back_to_walk_month - walk.walk_billings
                    then {{ ltc.decimal_divide(
                        '(walk.ending_ar - (walk.billed_back_to_walk_month - walk.walk_billings)) * walk.walk_days',
                        'walk.walk_billings', 2) }}
            end), 0)
            as numeric(18, 2)
        ) as countback_dso_days
    from walk
    inner join stops
        on walk.period_month = stops.period_month
    group by walk.period_month
{%- endmacro %}
