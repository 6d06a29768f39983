{#-
    One row per unified customer: every live Salesforce account, plus every live ERP customer and
    every bank payer that resolved to no account (as their own unified customer). The links and
    their rules come from int_accounts_resolved; the row's match_method / match_confidence are its
    weakest link (lowest confidence), 'unmatched' (confidence null) when nothing links to it.
-#}
with

accounts as (

    select * from {{ ref('stg_salesforce__accounts') }}
    where not is_deleted

),

customers as (

    select * from {{ ref('stg_erp__customers') }}

),

resolved as (

    select * from {{ ref('int_accounts_resolved') }}

),

unified_keys as (

    select account_id as account_key from accounts
    union
    select account_key from resolved

),

erp_links as (

    select
        account_key,
        customer_id,
        match_method,
        match_confidence,
        row_number() over (
            partition by account_key order by match_confidence desc, customer_id
        ) as customer_rank,
        count(*) over (partition by account_key) as erp_customer_count
    from resolved
    where source_system = 'erp'

),

payer_links as (

    select
        account_key,
        count(*) as bank_payer_count,
        sum(receipt_count) as receipt_count,
        min(source_name) as payer_name
    from resolved
    where source_system = 'bank'
    group by account_key

),

-- every link into the unified account (an unmatched source record has no link)
links as (

    select account_key, match_method, match_confidence, source_system, source_id
    from resolved
    where match_method <> 'unmatched'

),

weakest_link as (

    select account_key, match_method, match_confidence
    from (
        select
            *,
            row_number() over (
                partition by account_key order by match_confidence, source_system, source_id
            ) as rn
        from links
    ) as ranked
    where rn = 1

),

final as (

    select
        u.account_key,
        a.account_id,
        a.account_name,
        e.customer_id,
        c.customer_number,
        c.customer_name,
        cast(coalesce(e.erp_customer_count, 0) as {{ dbt.type_int() }}) as erp_customer_count,
        p.payer_name,
        cast(coalesce(p.bank_payer_count, 0) as {{ dbt.type_int() }}) as bank_payer_count,
        cast(coalesce(p.receipt_count, 0) as {{ dbt.type_int() }}) as receipt_count,
        case
            when a.account_id is not null then 'salesforce'
            when e.customer_id is not null then 'erp'
            else 'bank'
        end as anchor_system,
        a.account_id is not null as has_crm_account,
        e.customer_id is not null as has_erp_customer,
        p.account_key is not null as has_bank_payer,
        coalesce(w.match_method, 'unmatched') as match_method,
        w.match_confidence,
        coalesce(a.account_name, c.customer_name, p.payer_name) as display_name
    from unified_keys as u
    left join accounts as a on a.account_id = u.account_key
    left join erp_links as e on e.account_key = u.account_key and e.customer_rank = 1
    left join customers as c on c.customer_id = e.customer_id
    left join payer_links as p on p.account_key = u.account_key
    left join weakest_link as w on w.account_key = u.account_key

)

select * from final
