-- Cash application, step 2 of 2: one row per receipt x invoice application as of the as-of date,
-- by a rule cascade over the receipts of int_cash_receipts_identified (booked on or before the
-- as-of date). Each rule runs over the whole ledger before the next, so an invoice named by a
-- reference is never taken by a receipt without one:
-- 1. invoice reference: the receipt's rule-1 invoice, same currency; receipts on one invoice in
--    booking order, each applying least(amount, what is still open). A receipt that references its
--    invoice never moves to other invoices: an excess stays on account.
-- 2. exact amount: a receipt without a usable reference from an identified payer, when exactly one
--    live invoice of that customer in the receipt's currency, issued on or before the booking date,
--    still has exactly the receipt amount open after rule 1. When no invoice matches exactly but
--    exactly one is short-paid within the tolerance (rule 4), that one. An invoice claimed by two
--    such receipts goes to the earlier one; the other falls through to rule 3.
-- 3. oldest first: the rest of those receipts, per customer and currency in booking order, fill the
--    customer's invoices still open after rules 1-2, oldest first (due date, issue date, invoice id).
--    Cash is never applied to an invoice issued after the receipt was booked: that part of the
--    receipt stays on account and that part of the invoice open (conservative, never wrong).
-- 4. tolerance: a payment that leaves an invoice short by no more than write_off_tolerance() settles
--    it, the shortfall written off (write_off_amount): in rule 1 the receipt that leaves it short, in
--    rule 2 the receipt, in rule 3 the customer's last receipt when the cash ends inside an invoice.
--    Such an application has application_method 'tolerance' (match_rule keeps the rule that found it).
-- applied_amount + write_off_amount per invoice never exceeds its total; cash is never applied to a
-- cancelled, deleted or not-yet-issued invoice nor across currencies.
-- a table, not a view: several models read it and the cascade is not cheap to recompute
{{ config(materialized='table') }}

with

receipts as (

    select * from {{ ref('int_cash_receipts_identified') }}

),

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

live_invoices as (

    select
        invoice_id,
        customer_id,
        currency,
        total_amount,
        issue_date,
        due_date,
        {{ write_off_tolerance('total_amount') }} as tolerance_amount
    from invoices
    where not is_deleted
        and coalesce(status, '') <> 'cancelled'
        and issue_date <= {{ as_of_date() }}

),

-- rule 1: invoice reference ----------------------------------------------------------------

reference_receipts as (

    select
        receipts.receipt_id,
        receipts.booking_date,
        receipts.amount,
        live_invoices.invoice_id,
        live_invoices.total_amount,
        live_invoices.tolerance_amount,
        coalesce(sum(receipts.amount) over (
            partition by live_invoices.invoice_id
            order by receipts.booking_date, receipts.receipt_id
            rows between unbounded preceding and 1 preceding
        ), 0) as previously_received_amount
    from receipts
    inner join live_invoices
        on receipts.referenced_invoice_id = live_invoices.invoice_id
        and receipts.currency = live_invoices.currency
    where receipts.identified_by = 'invoice reference'

),

reference_tolerance as (

    select
        *,
        -- this receipt leaves the invoice short by no more than the tolerance
        case
            when previously_received_amount < total_amount
                and total_amount - previously_received_amount - amount > 0
                and total_amount - previously_received_amount - amount <= tolerance_amount
                then 1
            else 0
        end as settles_within_tolerance
    from reference_receipts

),

reference_sequenced as (

    select
        *,
        coalesce(max(settles_within_tolerance) over (
            partition by invoice_id
            order by booking_date, receipt_id
            rows between unbounded preceding and 1 preceding
        ), 0) as settled_before
    from reference_tolerance

),

reference_applications as (

    select
        receipt_id,
        invoice_id,
        'invoice reference' as match_rule,
        case
            when settled_before = 1 then {{ to_money('0') }}
            else {{ to_money('least(amount, greatest(total_amount - previously_received_amount, 0))') }}
        end as applied_amount,
        case
            when settled_before = 0 and settles_within_tolerance = 1
                then {{ to_money('total_amount - previously_received_amount - amount') }}
            else {{ to_money('0') }}
        end as write_off_amount
    from reference_sequenced

),

open_after_reference as (

    select
        live_invoices.*,
        live_invoices.total_amount
            - coalesce(settled.settled_amount, 0) as open_amount
    from live_invoices
    left join (
        select invoice_id, sum(applied_amount + write_off_amount) as settled_amount
        from reference_applications
        group by invoice_id
    ) as settled
        on live_invoices.invoice_id = settled.invoice_id

),

-- rule 2: exact amount (or one invoice short-paid within the tolerance) -----------------------

payer_receipts as (

    select receipt_id, booking_date, payer_customer_id, currency, amount
    from receipts
    where identified_by = 'payer'

),

amount_candidates as (

    select
        payer_receipts.receipt_id,
        payer_receipts.booking_date,
        open_after_reference.invoice_id,
        open_after_reference.open_amount,
        payer_receipts.amount,
        case when open_after_reference.open_amount = payer_receipts.amount then 1 else 0 end as is_exact,
        case
            when open_after_reference.open_amount > payer_receipts.amount
                and open_after_reference.open_amount - payer_receipts.amount
                    <= open_after_reference.tolerance_amount
                then 1
            else 0
        end as is_within_tolerance
    from payer_receipts
    inner join open_after_reference
        on payer_receipts.payer_customer_id = open_after_reference.customer_id
        and payer_receipts.currency = open_after_reference.currency
        and open_after_reference.issue_date <= payer_receipts.booking_date
        and open_after_reference.open_amount > 0
    where payer_receipts.amount > 0

),

amount_counts as (

    select
        *,
        sum(is_exact) over (partition by receipt_id) as exact_count,
        sum(is_within_tolerance) over (partition by receipt_id) as within_tolerance_count
    from amount_candidates

),

amount_picked as (

    select
        *,
        -- an invoice picked by two receipts goes to the earlier one
        row_number() over (partition by invoice_id order by booking_date, receipt_id) as claim_rank
    from amount_counts
    where (exact_count = 1 and is_exact = 1)
        or (exact_count = 0 and within_tolerance_count = 1 and is_within_tolerance = 1)

),

amount_applications as (

    select
        receipt_id,
        invoice_id,
        'exact amount' as match_rule,
        {{ to_money('amount') }} as applied_amount,
        {{ to_money('open_amount - amount') }} as write_off_amount
    from amount_picked
    where claim_rank = 1

),

-- rule 3: oldest first -----------------------------------------------------------------------

open_after_amount as (

    select
        open_after_reference.*,
        open_after_reference.open_amount - coalesce(amount_applications.applied_amount, 0)
            - coalesce(amount_applications.write_off_amount, 0) as remaining_amount
    from open_after_reference
    left join amount_applications
        on open_after_reference.invoice_id = amount_applications.invoice_id

),

oldest_first_receipts as (

    select
        payer_receipts.*,
        sum(payer_receipts.amount) over (
            partition by payer_receipts.payer_customer_id, payer_receipts.currency
            order by payer_receipts.booking_date, payer_receipts.receipt_id
            rows between unbounded preceding and current row
        ) as cash_to
    from payer_receipts
    where payer_receipts.receipt_id not in (select receipt_id from amount_applications)

),

oldest_first_invoices as (

    select
        invoice_id,
        customer_id,
        currency,
        issue_date,
        remaining_amount,
        tolerance_amount,
        sum(remaining_amount) over (
            partition by customer_id, currency
            order by due_date, issue_date, invoice_id
            rows between unbounded preceding and current row
        ) as open_to
    from open_after_amount
    where remaining_amount > 0

),

customer_cash as (

    select payer_customer_id, currency, max(cash_to) as cash_total
    from oldest_first_receipts
    group by payer_customer_id, currency

),

-- receipt interval [cash_to - amount, cash_to) overlaps invoice interval [open_to - remaining, open_to)
oldest_first_overlaps as (

    select
        r.receipt_id,
        i.invoice_id,
        least(r.cash_to, i.open_to) - greatest(r.cash_to - r.amount, i.open_to - i.remaining_amount)
            as applied_amount,
        -- the customer's cash ends inside this invoice, by this receipt, short within the tolerance
        case
            when r.cash_to = c.cash_total
                and c.cash_total > i.open_to - i.remaining_amount
                and c.cash_total < i.open_to
                and i.open_to - c.cash_total <= i.tolerance_amount
                then i.open_to - c.cash_total
            else 0
        end as write_off_amount
    from oldest_first_receipts as r
    inner join oldest_first_invoices as i
        on r.payer_customer_id = i.customer_id
        and r.currency = i.currency
        and r.cash_to - r.amount < i.open_to
        and i.open_to - i.remaining_amount < r.cash_to
        and i.issue_date <= r.booking_date
    inner join customer_cash as c
        on r.payer_customer_id = c.payer_customer_id
        and r.currency = c.currency

),

oldest_first_applications as (

    select
        receipt_id,
        invoice_id,
        'oldest first' as match_rule,
        {{ to_money('applied_amount') }} as applied_amount,
        {{ to_money('write_off_amount') }} as write_off_amount
    from oldest_first_overlaps
    where applied_amount > 0

),

unioned as (

    select * from reference_applications
    where applied_amount > 0 or write_off_amount > 0
    union all
    select * from amount_applications
    union all
    select * from oldest_first_applications

),

final as (

    select
        unioned.receipt_id || ':' || unioned.invoice_id as application_id,
        unioned.receipt_id,
        unioned.invoice_id,
        receipts.booking_date,
        receipts.currency,
        unioned.applied_amount,
        unioned.write_off_amount,
        unioned.match_rule,
        case when unioned.write_off_amount > 0 then 'tolerance' else unioned.match_rule end
            as application_method,
        -- how sure the cascade is that the cash belongs to this invoice
        cast(case
            when unioned.match_rule = 'invoice reference' and unioned.write_off_amount = 0 then 1.00
            when unioned.match_rule = 'invoice reference' then 0.95
            when unioned.match_rule = 'exact amount' and unioned.write_off_amount = 0 then 0.90
            when unioned.match_rule = 'exact amount' then 0.80
            when unioned.write_off_amount = 0 then 0.70
            else 0.65
        end as numeric(3, 2)) as match_confidence,
        {{ as_of_date() }} as as_of_date
    from unioned
    inner join receipts
        on unioned.receipt_id = receipts.receipt_id

)

select * from final
