-- Monthly cash collection in the reporting currency, up to the as-of month. AR at each month end
-- (capped at the as-of date) counts only cash applied on or before that date; open AR is carried
-- at the invoice's rate. Deleted and cancelled invoices are excluded.
with

invoices as (

    select * from {{ ref('fct_invoices') }}
    where not is_deleted
        and not is_cancelled

),

receipts as (

    select * from {{ ref('fct_cash_receipts') }}

),

months as (

    select * from (
        {{ month_spine('(select min(issue_date) from invoices)') }}
    ) as spine

),

invoiced as (

    select
        {{ month_start('issue_date') }} as period_month,
        sum(total_amount_reporting) as invoiced_amount
    from invoices
    where issue_date <= {{ as_of_date() }}
    group by {{ month_start('issue_date') }}

),

collected as (

    select
        {{ month_start('booking_date') }} as period_month,
        sum(amount_reporting) as collected_amount
    from receipts
    where booking_date <= {{ as_of_date() }}
    group by {{ month_start('booking_date') }}

),

due as (

    select
        {{ month_start('due_date') }} as period_month,
        sum(total_amount_reporting) as amount_due,
        sum({{ to_reporting('applied_on_time_amount', 'fx_rate') }}) as collected_on_time_amount
    from invoices
    group by {{ month_start('due_date') }}

),

applications as (

    select
        matched_invoice_id as invoice_id,
        booking_date,
        applied_amount
    from receipts
    where applied_amount > 0

),

invoice_month_balances as (

    select
        months.period_month,
        invoices.invoice_id,
        invoices.due_date < months.period_end as is_overdue,
        {{ to_reporting(
            'invoices.total_amount - coalesce(sum(applications.applied_amount), 0)',
            'invoices.fx_rate'
        ) }} as open_amount_reporting
    from months
    inner join invoices
        on invoices.issue_date <= months.period_end
    left join applications
        on invoices.invoice_id = applications.invoice_id
        and applications.booking_date <= months.period_end
    group by
        months.period_month,
        months.period_end,
        invoices.invoice_id,
        invoices.due_date,
        invoices.total_amount,
        invoices.fx_rate

),

ar as (

    select
        period_month,
        sum(open_amount_reporting) as ending_ar,
        sum(case when is_overdue then open_amount_reporting else 0 end) as overdue_ar
    from invoice_month_balances
    group by period_month

),

final as (

    select
        months.period_month,
        {{ reporting_currency() }} as reporting_currency,
        {{ to_money('coalesce(invoiced.invoiced_amount, 0)') }} as invoiced_amount,
        {{ to_money('coalesce(collected.collected_amount, 0)') }} as collected_amount,
        {{ to_money('coalesce(due.amount_due, 0)') }} as amount_due,
        {{ to_money('coalesce(due.collected_on_time_amount, 0)') }} as collected_on_time_amount,
        {{ safe_ratio('due.collected_on_time_amount', 'due.amount_due') }} as on_time_collection_rate,
        {{ to_money('coalesce(ar.ending_ar, 0)') }} as ending_ar,
        {{ to_money('coalesce(ar.overdue_ar, 0)') }} as overdue_ar,
        cast(
            coalesce(ar.ending_ar, 0) * months.days_in_month / nullif(invoiced.invoiced_amount, 0)
            as {{ type_money() }}
        ) as dso_days,
        months.days_in_month,
        months.period_end,
        {{ as_of_date() }} as as_of_date
    from months
    left join invoiced
        on months.period_month = invoiced.period_month
    left join collected
        on months.period_month = collected.period_month
    left join due
        on months.period_month = due.period_month
    left join ar
        on months.period_month = ar.period_month

)

select * from final
