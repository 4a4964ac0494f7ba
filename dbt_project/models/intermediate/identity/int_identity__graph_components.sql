-- Connected components of the identity graph, before the component-size guard: one row per linkable
-- identifier value, labelled with the smallest node id of its component (label propagation).
with

guards as (select * from {{ ref('int_identity__identifier_guards') }}),
edges as (select * from {{ ref('int_identity__edges') }}),

nodes as (
    select node_id from guards where is_linkable
),

labelled as (
    {{ identity_connected_components('edges', 'nodes') }}
),

final as (
    select
        labelled.node_id,
        labelled.component_id,
        count(*) over (partition by labelled.component_id) as component_size,
        sum(case when guards.is_core then 1 else 0 end) over (partition by labelled.component_id) as core_node_count,
        guards.identifier_type,
        guards.identifier_value,
        guards.is_core,
        guards.core_component_id,
        guards.first_seen_at,
        guards.last_seen_at
    from labelled
    inner join guards on guards.node_id = labelled.node_id
)

select * from final
