-- Connected components of the identity graph: one row per linkable identifier value with its component
-- (labelled by the component's smallest node id) and the component's size.
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
        guards.identifier_type,
        guards.identifier_value,
        guards.first_seen_at,
        guards.last_seen_at
    from labelled
    inner join guards on guards.node_id = labelled.node_id
)

select * from final
