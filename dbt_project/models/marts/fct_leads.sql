with

leads as (

    select * from {{ ref('stg_salesforce__leads') }}

),

attributes as (

    select * from {{ ref('int_leads_attributed') }}

),

-- duplicates: the same normalised email as an earlier non-deleted lead
duplicates as (

    select
        lead_id,
        row_number() over (
            partition by email_normalized
            order by created_at, lead_id
        ) > 1 as is_duplicate
    from leads
    where not is_deleted
        and email_normalized is not null
        and email_normalized <> ''

),

final as (

    select
        leads.lead_id,
        leads.owner_id,
        attributes.campaign_id,
        leads.lead_source,
        attributes.channel,
        attributes.region,
        leads.status,
        leads.created_at,
        cast(leads.created_at as date) as created_date,
        leads.is_converted,
        leads.converted_date,
        leads.converted_account_id,
        leads.converted_opportunity_id,
        coalesce(duplicates.is_duplicate, false) as is_duplicate,
        leads.is_deleted,
        leads.company,
        leads.country,
        leads.rating
    from leads
    inner join attributes
        on leads.lead_id = attributes.lead_id
    left join duplicates
        on leads.lead_id = duplicates.lead_id

)

select * from final
