-- The bookings -> billings -> collections bridge by month (ltc-metrics §3.1), with its timing
-- differences explained, so "CRM and finance don't match" has an answer on the page. Reporting
-- currency; every month from the first booking or invoice to the as-of month; as of the as-of date.
-- * bookings = opportunities closed won (not deleted) with a close date in the month, at the
--   close-date rate (fct_opportunities.amount_reporting: the bookings the CRM shows).
-- * billings, collections, cash applied and AR = rpt_cash_collection's columns for the month (live,
--   not cancelled invoices at the issue-date rate; every customer receipt booked in the month at
--   its booking-date rate, applied or not; applied cash at the invoice's rate), so the bridge ties to
--   the collections report to the cent.
-- * timing differences:
--   booking_billing_variance = bookings - billings (GitLab's booking-billing variance; invoices
--   carry tax, bookings do not, and a deal is billed after it is won);
--   ar_change = ending AR - beginning AR (billed, not yet settled);
--   unapplied_cash = collections - cash applied (cash received but not applied to an invoice:
--   unidentified, unapplied, overpaid, plus the FX difference between the receipt's and the
--   invoice's rate);
--   other_ar_movement = billings - cash applied - ar_change (AR settled without cash: short
--   payments written off within tolerance, and per-invoice cent rounding).
--   So billings - ar_change - other_ar_movement + unapplied_cash = collections, to the cent.
-- * *_to_date: running totals from the first month.
with

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

cash_collection as (

    select * from {{ ref('rpt_cash_collection') }}

),

won as (

    select
        {{ month_start('close_date') }} as period_month,
        amount_reporting
    from opportunities
    where is_won
        and not is_deleted
        and close_date <= {{ as_of_date() }}

),

first_months as (

    select min(period_month) as first_month from won
    union all
    select min(period_month) from cash_collection

),

months as (

    select * from (
        {{ month_spine('(select min(first_month) from first_months)') }}
    ) as spine

),

bookings as (

    select
        period_month,
        count(*) as booked_count,
        sum(coalesce(amount_reporting, 0)) as booked_amount
    from won
    group by period_month

),

joined as (

    select
        months.period_month,
        months.period_end,
        coalesce(bookings.booked_count, 0) as booked_count,
        cast(coalesce(bookings.booked_amount, 0) as {{ type_money() }}) as booked_amount,
        cast(coalesce(cash_collection.invoiced_amount, 0) as {{ type_money() }}) as invoiced_amount,
        cast(coalesce(cash_collection.collected_amount, 0) as {{ type_money() }}) as collected_amount,
        cast(coalesce(cash_collection.applied_amount, 0) as {{ type_money() }}) as applied_amount,
        cast(coalesce(cash_collection.beginning_ar, 0) as {{ type_money() }}) as beginning_ar,
        cast(coalesce(cash_collection.ending_ar, 0) as {{ type_money() }}) as ending_ar
    from months
    left join bookings
        on months.period_month = bookings.period_month
    left join cash_collection
        on months.period_month = cash_collection.period_month

),

differences as (

    select
        *,
        cast(booked_amount - invoiced_amount as {{ type_money() }}) as booking_billing_variance,
        cast(ending_ar - beginning_ar as {{ type_money() }}) as ar_change,
        cast(collected_amount - applied_amount as {{ type_money() }}) as unapplied_cash_amount,
        cast(invoiced_amount - applied_amount - (ending_ar - beginning_ar) as {{ type_money() }})
            as other_ar_movement
    from joined

),

final as (

    select
        period_month,
        period_end,
        {{ reporting_currency() }} as reporting_currency,
        cast(booked_count as integer) as booked_count,
        booked_amount,
        invoiced_amount,
        collected_amount,
        applied_amount,
        beginning_ar,
        ending_ar,
        booking_billing_variance,
        ar_change,
        other_ar_movement,
        unapplied_cash_amount,
        cast(sum(booked_amount) over (
            order by period_month rows between unbounded preceding and current row
        ) as {{ type_money() }}) as booked_to_date,
        cast(sum(invoiced_amount) over (
            order by period_month rows between unbounded preceding and current row
        ) as {{ type_money() }}) as invoiced_to_date,
        cast(sum(collected_amount) over (
            order by period_month rows between unbounded preceding and current row
        ) as {{ type_money() }}) as collected_to_date,
        {{ as_of_date() }} as as_of_date
    from differences

)

select * from final
