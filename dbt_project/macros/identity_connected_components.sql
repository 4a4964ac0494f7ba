-- Connected components of an undirected graph by min-label propagation: every node ends up labelled with the
-- smallest node id of its component. `edges` is a relation (or CTE name) with columns src_node, dst_node;
-- `nodes` is a relation with column node_id (isolated nodes included). Returns (node_id, component_id).
{% macro identity_connected_components(edges, nodes) -%}
    {{ return(adapter.dispatch('identity_connected_components', 'customer_journey')(edges, nodes)) }}
{%- endmacro %}

-- DuckDB: a recursive CTE keyed on the node (`using key`): each round only revisits nodes whose label dropped
-- in the previous round, and stops by itself when no label changes (no round count to tune). Besides passing
-- a dropped label to the neighbours, a node takes the label of its label and the nodes labelled with it follow
-- it (pointer jumping), so a long chain needs about log2(length) rounds instead of one per hop.
{% macro duckdb__identity_connected_components(edges, nodes) -%}
    select node_id, component_id from (
        with recursive
        undirected as (
            select src_node, dst_node from {{ edges }}
            union
            select dst_node as src_node, src_node as dst_node from {{ edges }}
        ),
        labels(node_id, component_id) using key (node_id) as (
            select node_id, node_id as component_id from {{ nodes }}
            union
            select candidates.node_id, min(candidates.component_id) as component_id
            from (
                -- the neighbours of a node whose label dropped
                select e.dst_node as node_id, changed.component_id
                from labels as changed
                inner join undirected as e on e.src_node = changed.node_id
                union all
                -- a node whose label dropped takes the label of its label
                select changed.node_id, via.component_id
                from labels as changed
                inner join recurring.labels as via on via.node_id = changed.component_id
                union all
                -- the nodes labelled with a node whose label dropped follow it
                select follower.node_id, changed.component_id
                from labels as changed
                inner join recurring.labels as follower on follower.component_id = changed.node_id
            ) as candidates
            inner join recurring.labels as current_label on current_label.node_id = candidates.node_id
            group by candidates.node_id
            having min(candidates.component_id) < min(current_label.component_id)
        )
        select node_id, component_id from labels
    ) as connected_components
{%- endmacro %}

-- Other engines (Spark, ...): a fixed number of propagation rounds, unrolled into CTEs. Each round gives a node
-- the smallest label among itself and its neighbours; var identity_label_rounds must be at least the graph's
-- diameter (the test `identity_components_are_stable` fails if it was too small). Each round reads the previous
-- one once (a self-loop per node stands for "itself"): Spark inlines CTEs, and a round that read its predecessor
-- twice would double the query plan with every round (2^30 after thirty: the driver runs out of memory).
{% macro default__identity_connected_components(edges, nodes) -%}
    {%- set rounds = var('identity_label_rounds', 30) -%}
    select node_id, component_id from (
        with neighbours as (
            {#- nodes only: an edge's end outside `nodes` gets no label, as on DuckDB #}
            select src_node, dst_node from (
                select src_node, dst_node from {{ edges }}
                union
                select dst_node as src_node, src_node as dst_node from {{ edges }}
            ) as undirected
            where src_node in (select node_id from {{ nodes }})
            union
            select node_id as src_node, node_id as dst_node from {{ nodes }}
        ),
        round_0 as (select node_id, node_id as component_id from {{ nodes }}),
        {%- for i in range(1, rounds + 1) %}
        round_{{ i }} as (
            select neighbours.src_node as node_id, min(previous.component_id) as component_id
            from neighbours
            inner join round_{{ i - 1 }} as previous on previous.node_id = neighbours.dst_node
            group by neighbours.src_node
        ){{ "," if not loop.last }}
        {%- endfor %}
        select node_id, component_id from round_{{ rounds }}
    ) as connected_components
{%- endmacro %}
