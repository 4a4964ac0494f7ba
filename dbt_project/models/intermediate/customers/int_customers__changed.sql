-- The customers whose activity an incremental build works out again: the visitors it re-stitched that are customers
-- (int_journeys__rebuild_scope: their touchpoints, sessions or journey changed, or they were merged away) and the
-- customers of support tickets and reviews whose staged content changed (satisfaction scores and ratings are read
-- from staging, not from the touchpoint). Every customer on a full build.
{{ config(materialized='table') }}

with

rebuild_scope as (select * from {{ ref('int_journeys__rebuild_scope') }}),
changed_records as (select * from {{ ref('int_identity__changed_records') }}),
record_customers as (select * from {{ ref('int_identity__record_customers') }}),

final as (
    select visitor_key as customer_id from rebuild_scope
    union
    select record_customers.customer_id
    from changed_records
    inner join record_customers
        on record_customers.source_name = changed_records.source_name
        and record_customers.record_id = changed_records.record_id
    where changed_records.source_name in ('support_tickets', 'reviews') and record_customers.customer_id is not null
)

select * from final
