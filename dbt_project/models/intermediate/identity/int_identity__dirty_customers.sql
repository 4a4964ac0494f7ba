-- The customers whose golden record, consent or activity an incremental build works out again: every customer,
-- before or after this build, of a value in int_identity__graph_scope (whole components around every change of the
-- graph's shape), and the customer of every value a changed record carries or carried (a new order, a new version of
-- a contact: same customer, new facts). A customer outside it has the same records with the same content as before.
-- is_regrouped: the customer's set of records may have changed (a value of theirs is in the graph scope); otherwise
-- only records they already had, or new records, changed. Every customer on a full build.
{{ config(materialized='table') }}

with

id_map as (select * from {{ ref('int_identity__customer_id_map') }}),
scope as (select * from {{ ref('int_identity__graph_scope') }}),
changed_nodes as (select * from {{ ref('int_identity__changed_nodes') }}),

candidates as (
    select id_map.customer_id, true as is_regrouped
    from id_map
    inner join scope on scope.node_id = id_map.node_id
    where id_map.customer_id is not null
    union all
    select id_map.previous_customer_id, true
    from id_map
    inner join scope on scope.node_id = id_map.node_id
    where id_map.previous_customer_id is not null
    union all
    select id_map.customer_id, false
    from id_map
    inner join changed_nodes on changed_nodes.node_id = id_map.node_id
    where id_map.customer_id is not null and id_map.is_active
),

final as (
    select customer_id, bool_or(is_regrouped) as is_regrouped
    from candidates
    group by customer_id
)

select * from final
