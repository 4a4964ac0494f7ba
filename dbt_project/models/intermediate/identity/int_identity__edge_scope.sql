-- The identifier values whose edges an incremental build works out again from all the records that carry them
-- (int_identity__edges): the graph scope (whole components around every change of the graph's shape), and every value
-- of a changed record that carried identifiers before (a new version: its record's edges may have moved in time or
-- place even when its identifiers did not). The edges of new records between other values are counted in instead.
-- Every value on a full build.
{{ config(materialized='table') }}

with

graph_scope as (select * from {{ ref('int_identity__graph_scope') }}),
previous_record_identifiers as (select * from {{ ref('int_identity__previous_record_identifiers') }}),

final as (
    select node_id from graph_scope
    union
    select node_id from previous_record_identifiers
    union
    select record_identifiers.node_id
    from {{ ref('int_identity__record_identifiers') }} as record_identifiers
    where exists (
        select 1 from previous_record_identifiers as before
        where before.source_name = record_identifiers.source_name and before.record_id = record_identifiers.record_id
    )
)

select * from final
