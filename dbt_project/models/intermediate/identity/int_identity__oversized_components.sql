-- Components too large to be one person (more core identifiers than var identity_max_component_core_nodes):
-- reported here instead of merged. int_identity__components splits them back to their person cores.
with

graph_components as (
    select graph_components.*, guards.last_seen_at
    from {{ ref('int_identity__graph_components') }} as graph_components
    inner join {{ ref('int_identity__identifier_guards') }} as guards on guards.node_id = graph_components.node_id
    where graph_components.core_node_count > {{ var('identity_max_component_core_nodes') }}
),
edges as (select * from {{ ref('int_identity__edges') }}),

oversized as (
    select
        component_id,
        max(component_size) as node_count,
        max(core_node_count) as core_node_count,
        sum(case when identifier_type = 'email' then 1 else 0 end) as email_count,
        sum(case when identifier_type = 'phone' then 1 else 0 end) as phone_count,
        sum(case when identifier_type = 'user_id' then 1 else 0 end) as user_id_count,
        sum(case when identifier_type = 'crm_contact_id' then 1 else 0 end) as crm_contact_id_count,
        sum(case when identifier_type = 'loyalty_id' then 1 else 0 end) as loyalty_id_count,
        sum(case when identifier_type in ('anonymous_id', 'device_id') then 1 else 0 end) as cookie_and_device_count,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at
    from graph_components
    where core_node_count > {{ var('identity_max_component_core_nodes') }}
    group by component_id
),

edge_kinds as (
    select
        graph_components.component_id,
        {{ listagg('distinct edges.edge_kind', "','", 'order by edges.edge_kind') }} as edge_kinds,
        count(*) as edge_count
    from edges
    inner join graph_components on graph_components.node_id = edges.src_node
    where graph_components.component_id in (select component_id from oversized)
    group by graph_components.component_id
),

final as (
    select
        oversized.*,
        edge_kinds.edge_kinds,
        edge_kinds.edge_count,
        {{ var('identity_max_component_core_nodes') }} as max_core_nodes
    from oversized
    left join edge_kinds on edge_kinds.component_id = oversized.component_id
)

select * from final
