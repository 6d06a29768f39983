{#-
    Entity-resolution crosswalk: one row per live ERP customer and per bank payer, resolved onto a
    unified account (account_key = the Salesforce Account Id, else 'erp:<customer_id>', else
    'bank:<payer_id>'). Rules run as a cascade - the first rule that yields exactly one candidate
    wins; a rule with several candidates yields none (never one entity onto two accounts):
      ERP customer -> CRM account:  crm_id (1.0), account_number (1.0), tax_id (0.95), name (0.8)
      bank payer -> unified account: erp_iban (1.0), receipt_iban (0.9), name (0.8)
    Domain matching is not applied: no source carries a website or e-mail domain on both sides.
-#}
{%- set rules = {
    'crm_id': [1, 1.0], 'account_number': [2, 1.0], 'tax_id': [3, 0.95], 'name': [4, 0.8],
    'erp_iban': [1, 1.0], 'receipt_iban': [2, 0.9],
} -%}

with

accounts as (

    select * from {{ ref('stg_salesforce__accounts') }}
    where not is_deleted

),

customers as (

    select * from {{ ref('stg_erp__customers') }}
    where not is_deleted

),

bank_transactions as (

    select * from {{ ref('stg_finance__bank_transactions') }}
    where is_credit

),

invoices as (

    select * from {{ ref('stg_erp__invoices') }}
    where not is_deleted

),

-- every company name of the three sources once, with its match key. The normalisation (a
-- full-width fold and three regular expressions) is this model's costliest expression, and DuckDB
-- inlines a CTE at each reference: keyed row by row, it ran once per reader of account_keys and
-- customer_keys, 4.6 s of this model's 4.6 s at 1M leads (166k accounts, 52k customers, 61k
-- receipts, but only 12.6k, 11.6k and 16.6k distinct names)
company_names as (

    select account_name as company_name from accounts
    union
    select customer_name from customers
    union
    select debtor_name from bank_transactions

),

name_keys as (

    select
        company_name,
        {{ normalize_company_name('company_name') }} as name_key
    from company_names
    where company_name is not null

),

-- CRM side ---------------------------------------------------------------------------------

account_keys as (

    select
        accounts.account_id,
        accounts.account_name,
        accounts.erp_customer_number,
        name_keys.name_key
    from accounts
    left join name_keys on name_keys.company_name = accounts.account_name

),

account_numbers_unique as (

    select erp_customer_number, min(account_id) as account_id
    from account_keys
    where erp_customer_number is not null
    group by erp_customer_number
    having count(*) = 1

),

account_names as (

    select name_key, min(account_id) as account_id, count(*) as accounts_with_name
    from account_keys
    where name_key is not null
    group by name_key

),

-- ERP customers -> CRM accounts ------------------------------------------------------------

customer_keys as (

    select
        customer_id,
        customer_number,
        customer_name,
        account_id as crm_account_id,
        nullif(trim(tax_id), '') as tax_id,
        {{ normalize_account_identifier('iban') }} as iban,
        name_keys.name_key
    from customers
    left join name_keys on name_keys.company_name = customers.customer_name

),

customers_by_crm_id as (

    select c.customer_id, a.account_id, 'crm_id' as match_method
    from customer_keys as c
    inner join account_keys as a on a.account_id = c.crm_account_id

),

customers_by_account_number as (

    select c.customer_id, n.account_id, 'account_number' as match_method
    from customer_keys as c
    inner join account_numbers_unique as n on n.erp_customer_number = c.customer_number

),

customers_deterministic as (

    select customer_id, account_id, match_method from customers_by_crm_id
    union all
    select customer_id, account_id, match_method from customers_by_account_number
    where customer_id not in (select customer_id from customers_by_crm_id)

),

-- an ERP customer sharing its tax id with customers already matched to exactly one account
customers_by_tax_id as (

    select c.customer_id, min(d.account_id) as account_id, 'tax_id' as match_method
    from customer_keys as c
    inner join customer_keys as peer
        on peer.tax_id = c.tax_id and peer.customer_id <> c.customer_id
    inner join customers_deterministic as d on d.customer_id = peer.customer_id
    where c.customer_id not in (select customer_id from customers_deterministic)
    group by c.customer_id
    having count(distinct d.account_id) = 1

),

customers_by_name as (

    select c.customer_id, n.account_id, 'name' as match_method
    from customer_keys as c
    inner join account_names as n on n.name_key = c.name_key
    where n.accounts_with_name = 1

),

customer_candidates as (

    select customer_id, account_id, match_method from customers_deterministic
    union all
    select customer_id, account_id, match_method from customers_by_tax_id
    union all
    select customer_id, account_id, match_method from customers_by_name

),

customer_candidates_ranked as (

    select
        customer_id,
        account_id,
        match_method,
        case match_method
            {%- for method, spec in rules.items() if spec[0] and method not in ('erp_iban', 'receipt_iban') %}
            when '{{ method }}' then {{ spec[0] }}
            {%- endfor %}
        end as rule_rank
    from customer_candidates

),

customer_best as (

    select customer_id, account_id, match_method
    from (
        select
            *,
            row_number() over (partition by customer_id order by rule_rank, account_id) as rn
        from customer_candidates_ranked
    ) as ranked
    where rn = 1

),

customers_resolved as (

    select
        c.customer_id,
        c.customer_name,
        c.name_key,
        c.iban,
        b.account_id,
        coalesce(b.account_id, 'erp:' || c.customer_id) as account_key,
        coalesce(b.match_method, 'unmatched') as match_method,
        case
            when b.account_id is not null then null
            when n.accounts_with_name > 1 then 'ambiguous name'
            else 'no candidate'
        end as unmatched_reason
    from customer_keys as c
    left join customer_best as b on b.customer_id = c.customer_id
    left join account_names as n on n.name_key = c.name_key

),

-- bank payers -> unified accounts ----------------------------------------------------------

receipts as (

    select
        bank_transaction_id,
        debtor_name,
        {{ normalize_account_identifier('debtor_iban') }} as debtor_account,
        name_keys.name_key,
        -- full-width forms folded first (ＩＮＶ－２０２５－０００１２３), as the ERP numbers are ASCII
        {{ regex_extract_first(ltc.fold_fullwidth('remittance_unstructured'), var('invoice_reference_pattern')) }} as invoice_number
    from bank_transactions
    left join name_keys on name_keys.company_name = bank_transactions.debtor_name

),

receipts_keyed as (

    select
        *,
        case
            when debtor_account is not null then debtor_account
            when name_key is not null then 'name:' || name_key
        end as payer_id
    from receipts

),

payers as (

    select
        payer_id,
        min(debtor_account) as debtor_account,
        min(debtor_name) as payer_name,
        min(name_key) as name_key,
        cast(count(*) as {{ dbt.type_int() }}) as receipt_count
    from receipts_keyed
    where payer_id is not null
    group by payer_id

),

known_ibans as (

    select iban, min(account_key) as account_key, min(customer_id) as customer_id
    from customers_resolved
    where iban is not null
    group by iban
    having count(distinct account_key) = 1

),

-- names a payer can match: CRM accounts and ERP customers left unmatched (a shared name is ambiguous)
unified_names as (

    select name_key, account_id as account_key from account_keys where name_key is not null
    union all
    select name_key, account_key from customers_resolved where account_id is null and name_key is not null

),

unified_names_unique as (

    select name_key, min(account_key) as account_key, count(distinct account_key) as accounts_with_name
    from unified_names
    group by name_key

),

payers_by_erp_iban as (

    select p.payer_id, k.account_key, k.customer_id, 'erp_iban' as match_method
    from payers as p
    inner join known_ibans as k on k.iban = p.debtor_account

),

-- the payer's receipts reference invoices of one unified account only, and its name does not
-- point at another account
payers_by_receipt as (

    select r.payer_id, min(c.account_key) as account_key, min(c.customer_id) as customer_id,
        'receipt_iban' as match_method
    from receipts_keyed as r
    inner join invoices as i on i.invoice_number = r.invoice_number
    inner join customers_resolved as c on c.customer_id = i.customer_id
    where r.debtor_account is not null
    group by r.payer_id
    having count(distinct c.account_key) = 1

),

payers_by_receipt_checked as (

    select r.*
    from payers_by_receipt as r
    inner join payers as p on p.payer_id = r.payer_id
    left join unified_names_unique as n on n.name_key = p.name_key and n.accounts_with_name = 1
    where n.account_key is null or n.account_key = r.account_key

),

payers_by_name as (

    select p.payer_id, n.account_key, cast(null as {{ dbt.type_string() }}) as customer_id, 'name' as match_method
    from payers as p
    inner join unified_names_unique as n on n.name_key = p.name_key
    where n.accounts_with_name = 1
        -- receipts that point at another account veto the name
        and p.payer_id not in (select payer_id from payers_by_receipt)

),

payer_candidates as (

    select payer_id, account_key, customer_id, match_method, 1 as rule_rank from payers_by_erp_iban
    union all
    select payer_id, account_key, customer_id, match_method, 2 as rule_rank from payers_by_receipt_checked
    union all
    select payer_id, account_key, customer_id, match_method, 3 as rule_rank from payers_by_name

),

payer_best as (

    select payer_id, account_key, customer_id, match_method
    from (
        select
            *,
            row_number() over (partition by payer_id order by rule_rank, account_key) as rn
        from payer_candidates
    ) as ranked
    where rn = 1

),

payers_resolved as (

    select
        p.payer_id,
        p.payer_name,
        p.name_key,
        p.receipt_count,
        b.account_key as matched_account_key,
        b.customer_id,
        coalesce(b.account_key, 'bank:' || p.payer_id) as account_key,
        coalesce(b.match_method, 'unmatched') as match_method,
        case
            when b.account_key is not null then null
            when n.accounts_with_name > 1 then 'ambiguous name'
            when p.payer_id in (select payer_id from payers_by_receipt) then 'conflicting name and receipts'
            else 'no candidate'
        end as unmatched_reason
    from payers as p
    left join payer_best as b on b.payer_id = p.payer_id
    left join unified_names_unique as n on n.name_key = p.name_key

),

unioned as (

    select
        'erp' as source_system,
        customer_id as source_id,
        customer_name as source_name,
        name_key,
        account_key,
        account_id,
        customer_id,
        cast(null as {{ dbt.type_int() }}) as receipt_count,
        match_method,
        unmatched_reason
    from customers_resolved

    union all

    select
        'bank' as source_system,
        r.payer_id as source_id,
        r.payer_name as source_name,
        r.name_key,
        r.account_key,
        a.account_id,
        coalesce(r.customer_id, c.customer_id) as customer_id,
        r.receipt_count,
        r.match_method,
        r.unmatched_reason
    from payers_resolved as r
    left join account_keys as a on a.account_id = r.account_key
    left join customers_resolved as c
        on r.customer_id is null and c.account_id is null and c.account_key = r.account_key

),

final as (

    select
        source_system,
        source_id,
        source_name,
        name_key,
        account_key,
        account_id,
        customer_id,
        receipt_count,
        match_method,
        case match_method
            {%- for method, spec in rules.items() %}
            when '{{ method }}' then cast({{ spec[1] }} as numeric(3, 2))
            {%- endfor %}
        end as match_confidence,
        unmatched_reason
    from unioned

)

select * from final
