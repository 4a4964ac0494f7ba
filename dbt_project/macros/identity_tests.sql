-- Generic test: label propagation converged. Fails with every edge whose two ends got different components
-- (only possible when the fixed-round fallback had too few rounds, or a guard let an edge through).
{% test identity_components_are_stable(model, edges) %}
    select e.src_node, e.dst_node, a.component_id as src_component, b.component_id as dst_component
    from {{ edges }} as e
    inner join {{ model }} as a on a.node_id = e.src_node
    inner join {{ model }} as b on b.node_id = e.dst_node
    where a.component_id <> b.component_id
{% endtest %}
