-- The identifier values (graph nodes) whose set of records changed in this build: every node a changed record
-- carries now or carried before. Their rows of int_identity__identifier_values are computed again.
{{ config(materialized='table') }}

with

changed_records as (select * from {{ ref('int_identity__changed_records') }}),
record_identifiers as (select * from {{ ref('int_identity__record_identifiers') }}),
previous_record_identifiers as (select * from {{ ref('int_identity__previous_record_identifiers') }}),

final as (
    select record_identifiers.node_id
    from record_identifiers
    inner join changed_records
        on changed_records.source_name = record_identifiers.source_name
        and changed_records.record_id = record_identifiers.record_id
    union
    select node_id from previous_record_identifiers
)

select * from final
