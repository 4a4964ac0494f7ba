-- The customers whose golden record, consent or activity an incremental build works out again: every customer,
-- before or after this build, of a value in int_identity__graph_scope (which holds the values of every changed
-- record, every value whose guard changed, and whole components around them). A customer outside it has the same
-- records with the same content as before. Every customer on a full build.
{{ config(materialized='table') }}

with

id_map as (select * from {{ ref('int_identity__customer_id_map') }}),
scope as (select * from {{ ref('int_identity__graph_scope') }}),

final as (
    select id_map.customer_id
    from id_map
    inner join scope on scope.node_id = id_map.node_id
    where id_map.customer_id is not null
    union
    select id_map.previous_customer_id
    from id_map
    inner join scope on scope.node_id = id_map.node_id
    where id_map.previous_customer_id is not null
)

select * from final
