-- Edges of the identity graph between linkable identifier values (guards applied). A record carrying several
-- identifiers links them: each to the record's smallest node (a star, so a record with k identifiers adds k-1
-- edges). One row per undirected pair (src_node < dst_node) with the evidence behind it.
with

record_identifiers as (select * from {{ ref('int_identity__record_identifiers') }}),
guards as (select * from {{ ref('int_identity__identifier_guards') }}),

linkable as (
    select record_identifiers.*
    from record_identifiers
    inner join guards on guards.node_id = record_identifiers.node_id
    where guards.is_linkable
),

hubs as (
    select source_name, record_id, min(node_id) as hub_node
    from linkable
    group by source_name, record_id
),

record_edges as (
    select
        hubs.hub_node as src_node,
        linkable.node_id as dst_node,
        linkable.source_name,
        linkable.record_id,
        linkable.first_seen_at
    from linkable
    inner join hubs on hubs.source_name = linkable.source_name and hubs.record_id = linkable.record_id
    where linkable.node_id <> hubs.hub_node
),

final as (
    select
        src_node,
        dst_node,
        'shared_record' as edge_kind,
        cast(null as double) as match_score,
        count(*) as record_count,
        min(source_name || ':' || record_id) as example_record,
        min(first_seen_at) as first_seen_at
    from record_edges
    group by src_node, dst_node
)

select * from final
