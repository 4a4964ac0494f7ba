-- The interface other models join on: one row per staged record key with the customer it belongs to
-- (null when the record carries no linkable identifier: an anonymous till sale, a placeholder e-mail only).
with

records as (select * from {{ ref('int_identity__records') }}),
record_identifiers as (select * from {{ ref('int_identity__record_identifiers') }}),
components as (select * from {{ ref('int_identity__components') }}),
customer_ids as (select * from {{ ref('int_identity__customer_ids') }}),

record_components as (
    select
        record_identifiers.source_name,
        record_identifiers.record_id,
        min(components.component_id) as component_id
    from record_identifiers
    inner join components on components.node_id = record_identifiers.node_id
    group by record_identifiers.source_name, record_identifiers.record_id
),

final as (
    select
        records.source_name,
        records.record_id,
        customer_ids.customer_id
    from records
    left join record_components
        on record_components.source_name = records.source_name and record_components.record_id = records.record_id
    left join customer_ids on customer_ids.component_id = record_components.component_id
)

select * from final
