-- One row per journey per source event (lead created, owner assigned, lead status, opportunity
-- stage, contract signed, order, invoice, receipt applied) on or before the as-of date, mapped to
-- its LTC stage through the ltc_stage_mapping seed. Events the seed does not list are dropped.
-- A view, unlike the other intermediates: its one reader (fct_ltc_stage_events) scans it once and
-- no test reads it, so a table only wrote 3.76M rows to disk and read them back on the build's
-- critical path (at 1M leads, dbt's run of the five core marts' lineage 16.8 s -> 14.9 s, medians
-- of 3).
{{ config(materialized='view') }}

{{ ltc_stage_events(ref('int_lead_to_cash_journeys_joined')) }}
