-- Every staged row of every source, reduced to what identity resolution needs: the record key, when it was
-- seen, and the identifiers it carries (one column per identifier type). Versions of an order or CRM contact
-- are separate rows here; they share the record key.
{{ config(materialized='view') }}

with

final as (
    {{ identity_source_records() }}
)

select * from final
