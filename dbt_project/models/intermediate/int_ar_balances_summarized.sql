-- The additive monthly building blocks of every AR and collection metric (ltc-metrics §3.2-3.5), in
-- the reporting currency, one row per month from the month of the first invoice to the as-of month.
-- The formulas that turn them into DSO, countback DSO, BPDSO, ADD, CEI, on-time rate and days to pay
-- live in macros/ar_metrics.sql; rpt_cash_collection (and later rpt_ltc_health) apply them here.
-- * Everything is as of the as-of date (var as_of): the last month ends at it (period_end), only
--   invoices issued and cash applied on or before it count; period_days = days from the first of
--   the month to period_end (the full month, except for the as-of month when as_of is mid-month).
-- * Invoices: not deleted, not cancelled (current state, applied to every month, as in fct_ar_aging).
-- * Open AR per invoice at a month end = total - cash applied and written off on or before it (as
--   fct_invoices' outstanding_amount), carried at the invoice's rate (FX at issue_date, no
--   revaluation in v1); current = not past due (due_date >= period_end, or no due date), overdue =
--   due_date < period_end. The ledger never settles more than the total, so there is no credit
--   balance to net (a settled invoice is skipped from the month it was settled).
-- * Cash applications are read through ONE CTE, `applications` (invoice_id, applied_date,
--   applied_amount and write_off_amount in invoice currency): switch the ledger there and nothing
--   else changes. Applied cash and write-offs both reduce AR; only applied cash is "collected".
with

invoices as (

    select * from {{ ref('fct_invoices') }}
    where not is_deleted
        and not is_cancelled
        and issue_date <= {{ as_of_date() }}

),

receipts as (

    select * from {{ ref('fct_cash_receipts') }}

),

cash_applications as (

    select * from {{ ref('fct_cash_applications') }}

),

-- THE cash-application ledger, the one place to switch it: one row per receipt x invoice
-- application (fct_cash_applications), applied_amount and write_off_amount in the invoice's
-- currency. Cash applied counts for collections, on-time and days to pay; a write-off (short pay
-- within tolerance) only closes AR. The v1 alternative was fct_cash_receipts (matched_invoice_id as
-- invoice_id, booking_date as applied_date, applied_amount, 0 as write_off_amount), which holds one
-- invoice per receipt only.
applications as (

    select
        invoice_id,
        booking_date as applied_date,
        applied_amount,
        coalesce(write_off_amount, 0) as write_off_amount
    from cash_applications
    where invoice_id is not null
        and booking_date <= {{ as_of_date() }}

),

months as (

    select * from (
        {{ month_spine('(select min(issue_date) from invoices)') }}
    ) as spine

),

invoice_applications as (

    -- cash applied to a live invoice; days to pay run from the issue date to the application date
    select
        applications.invoice_id,
        applications.applied_date,
        {{ month_start('applications.applied_date') }} as applied_month,
        applications.applied_amount,
        applications.write_off_amount,
        {{ to_reporting('applications.applied_amount', 'invoices.fx_rate') }} as applied_amount_reporting,
        {{ days_between('invoices.issue_date', 'applications.applied_date') }} as days_to_pay
    from applications
    inner join invoices
        on applications.invoice_id = invoices.invoice_id

),

invoice_month_applications as (

    select
        invoice_id,
        applied_month,
        -- what reduces the open balance: cash applied plus written off
        sum(applied_amount + write_off_amount) as settled_amount
    from invoice_applications
    group by invoice_id, applied_month

),

invoice_paid_months as (

    -- the month an invoice became fully paid: from then on its balance is 0, so the month x invoice
    -- join below can skip it (this only prunes; balances are recomputed from the ledger)
    select
        invoice_id,
        min(applied_month) as paid_month
    from (
        select
            invoice_month_applications.invoice_id,
            invoice_month_applications.applied_month,
            invoices.total_amount,
            sum(invoice_month_applications.settled_amount) over (
                partition by invoice_month_applications.invoice_id
                order by invoice_month_applications.applied_month
                rows between unbounded preceding and current row
            ) as settled_to_date
        from invoice_month_applications
        inner join invoices
            on invoice_month_applications.invoice_id = invoices.invoice_id
    ) as running
    where settled_to_date >= total_amount
    group by invoice_id

),

invoice_month_balances as (

    select
        months.period_month,
        invoices.invoice_id,
        coalesce(invoices.due_date >= months.period_end, true) as is_current,
        {{ to_reporting(
            'invoices.total_amount - coalesce(sum(invoice_month_applications.settled_amount), 0)',
            'invoices.fx_rate'
        ) }} as open_amount_reporting
    from months
    inner join invoices
        on invoices.issue_date <= months.period_end
    left join invoice_paid_months
        on invoices.invoice_id = invoice_paid_months.invoice_id
    left join invoice_month_applications
        on invoices.invoice_id = invoice_month_applications.invoice_id
        and invoice_month_applications.applied_month <= months.period_month
    where invoice_paid_months.paid_month is null
        or invoice_paid_months.paid_month > months.period_month
    group by
        months.period_month,
        months.period_end,
        invoices.invoice_id,
        invoices.due_date,
        invoices.total_amount,
        invoices.fx_rate

),

balances as (

    select
        period_month,
        sum(open_amount_reporting) as ending_ar,
        sum(case when is_current then open_amount_reporting else 0 end) as current_ar,
        sum(case when is_current then 0 else open_amount_reporting end) as overdue_ar
    from invoice_month_balances
    group by period_month

),

billed as (

    select
        {{ month_start('issue_date') }} as period_month,
        sum(total_amount_reporting) as invoiced_amount
    from invoices
    group by {{ month_start('issue_date') }}

),

collected as (

    -- every customer receipt booked in the month, applied or not, at the receipt's rate
    select
        {{ month_start('booking_date') }} as period_month,
        sum(amount_reporting) as collected_amount
    from receipts
    where booking_date <= {{ as_of_date() }}
    group by {{ month_start('booking_date') }}

),

applied as (

    -- cash only: a row that only writes off a shortfall is no payment
    select
        applied_month as period_month,
        sum(applied_amount_reporting) as applied_amount,
        count(*) as application_count,
        sum(days_to_pay) as days_to_pay_sum,
        sum(days_to_pay * applied_amount_reporting) as days_to_pay_x_amount_sum
    from invoice_applications
    where applied_amount > 0
    group by applied_month

),

invoice_due as (

    -- cohort of receivables due in a month, up to the as-of date (an invoice due later in the
    -- as-of month is not due yet): cash applied on or before the due date
    select
        invoices.invoice_id,
        {{ month_start('invoices.due_date') }} as due_month,
        invoices.total_amount_reporting,
        {{ to_reporting(
            'coalesce(sum(invoice_applications.applied_amount), 0)',
            'invoices.fx_rate'
        ) }} as collected_on_time_amount
    from invoices
    left join invoice_applications
        on invoices.invoice_id = invoice_applications.invoice_id
        and invoice_applications.applied_date <= invoices.due_date
    where invoices.due_date <= {{ as_of_date() }}
    group by
        invoices.invoice_id,
        invoices.due_date,
        invoices.total_amount_reporting,
        invoices.fx_rate

),

due as (

    select
        due_month as period_month,
        sum(total_amount_reporting) as amount_due,
        sum(collected_on_time_amount) as collected_on_time_amount
    from invoice_due
    group by due_month

),

joined as (

    select
        months.period_month,
        months.period_end,
        months.days_in_month,
        {{ days_between('months.period_month', 'months.period_end') }} + 1 as period_days,
        {{ to_money('coalesce(billed.invoiced_amount, 0)') }} as invoiced_amount,
        {{ to_money('coalesce(collected.collected_amount, 0)') }} as collected_amount,
        {{ to_money('coalesce(applied.applied_amount, 0)') }} as applied_amount,
        {{ to_money('coalesce(balances.ending_ar, 0)') }} as ending_ar,
        {{ to_money('coalesce(balances.current_ar, 0)') }} as current_ar,
        {{ to_money('coalesce(balances.overdue_ar, 0)') }} as overdue_ar,
        {{ to_money('coalesce(due.amount_due, 0)') }} as amount_due,
        {{ to_money('coalesce(due.collected_on_time_amount, 0)') }} as collected_on_time_amount,
        cast(coalesce(applied.application_count, 0) as integer) as application_count,
        cast(coalesce(applied.days_to_pay_sum, 0) as bigint) as days_to_pay_sum,
        cast(coalesce(applied.days_to_pay_x_amount_sum, 0) as numeric(38, 2)) as days_to_pay_x_amount_sum
    from months
    left join billed
        on months.period_month = billed.period_month
    left join collected
        on months.period_month = collected.period_month
    left join applied
        on months.period_month = applied.period_month
    left join balances
        on months.period_month = balances.period_month
    left join due
        on months.period_month = due.period_month

),

final as (

    select
        period_month,
        period_end,
        cast(days_in_month as integer) as days_in_month,
        cast(period_days as integer) as period_days,
        {{ reporting_currency() }} as reporting_currency,
        invoiced_amount,
        collected_amount,
        applied_amount,
        -- the previous month's ending AR; 0 in the first month (no invoice was issued before it)
        {{ to_money('coalesce(lag(ending_ar) over (order by period_month), 0)') }} as beginning_ar,
        ending_ar,
        current_ar,
        overdue_ar,
        amount_due,
        collected_on_time_amount,
        application_count,
        days_to_pay_sum,
        days_to_pay_x_amount_sum,
        {{ as_of_date() }} as as_of_date
    from joined

)

select * from final
