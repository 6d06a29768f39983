-- The finance report of collections by month, up to the as-of month, in the reporting currency:
-- billings, collections, AR (beginning, ending, current, overdue), DSO (standard and countback),
-- Best Possible DSO, Average Days Delinquent, CEI, on-time collection rate and days to pay
-- (ltc-metrics §3.2-3.5). The monthly building blocks come from int_ar_balances_summarized (as of
-- the as-of date: the as-of month ends at it); every formula is a macro in macros/ar_metrics.sql, so
-- the other reports compute the same numbers. Ratios are null when their denominator is 0.
with

balances as (

    select * from {{ ref('int_ar_balances_summarized') }}

),

countback as (

    select * from (
        {{ countback_dso_days('balances') }}
    ) as walked

),

metrics as (

    select
        balances.*,
        {{ dso_standard_days('balances.ending_ar', 'balances.invoiced_amount', 'balances.period_days') }}
            as dso_days,
        countback.countback_dso_days,
        {{ best_possible_dso_days('balances.current_ar', 'balances.invoiced_amount', 'balances.period_days') }}
            as best_possible_dso_days,
        {{ collection_effectiveness_index(
            'balances.beginning_ar', 'balances.invoiced_amount', 'balances.ending_ar', 'balances.current_ar'
        ) }} as collection_effectiveness_index_pct,
        {{ on_time_collection_rate('balances.collected_on_time_amount', 'balances.amount_due') }}
            as on_time_collection_rate,
        {{ days_to_pay_weighted('balances.days_to_pay_x_amount_sum', 'balances.applied_amount') }}
            as avg_days_to_pay_weighted,
        {{ days_to_pay_simple('balances.days_to_pay_sum', 'balances.application_count') }}
            as avg_days_to_pay_simple
    from balances
    left join countback
        on balances.period_month = countback.period_month

),

final as (

    select
        period_month,
        reporting_currency,
        invoiced_amount,
        collected_amount,
        applied_amount,
        amount_due,
        collected_on_time_amount,
        on_time_collection_rate,
        beginning_ar,
        ending_ar,
        current_ar,
        overdue_ar,
        dso_days,
        countback_dso_days,
        best_possible_dso_days,
        {{ average_days_delinquent('dso_days', 'best_possible_dso_days') }} as average_days_delinquent,
        collection_effectiveness_index_pct,
        application_count,
        avg_days_to_pay_weighted,
        avg_days_to_pay_simple,
        days_in_month,
        period_days,
        period_end,
        as_of_date
    from metrics

)

select * from final
