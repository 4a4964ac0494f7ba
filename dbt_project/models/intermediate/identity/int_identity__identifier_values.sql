-- One row per identifier value (graph node): when it was seen, on how many records of which sources, and whether it
-- is a placeholder (seed identity_placeholder_values: exact values or LIKE patterns, per type or '*' for any).
-- Incremental: a build computes again the nodes of int_identity__changed_nodes (a node no record carries any more
-- disappears). customer_identifiers reads the counts and sources from here instead of every record's identifiers.
-- A table built before `sources` existed gets it filled once, for every node, by the post-hook (on DuckDB; a Spark
-- generation's table is new each night: what it keeps of the previous one without `sources` has it null).
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{{ delete_stored_rows('stored', 'stored.node_id in (select node_id from '
            ~ ref('int_identity__changed_nodes') ~ ')') }}",
        post_hook=["{% if is_incremental() %}{{ fill_identifier_sources(this) }}{% endif %}", after_commit("{{ record_keys_built(['node_id']) }}")],
    )
}}

-- depends_on: {{ ref('int_identity__changed_nodes') }}

with

record_identifiers as (
    select * from {{ ref('int_identity__record_identifiers') }}
    {%- if is_incremental() %}
    where node_id in (select node_id from {{ ref('int_identity__changed_nodes') }})
    {%- endif %}
),
placeholder_values as (select * from {{ ref('identity_placeholder_values') }}),

nodes as (
    select
        node_id,
        identifier_type,
        identifier_value,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        count(*) as record_count,
        {{ identifier_sources('source_name') }} as sources
    from record_identifiers
    group by node_id, identifier_type, identifier_value
),

placeholder_matches as (
    select
        nodes.node_id,
        min(placeholder_values.reason) as placeholder_reason
    from nodes
    inner join placeholder_values
        on (placeholder_values.identifier_type = nodes.identifier_type or placeholder_values.identifier_type = '*')
        and (
            (placeholder_values.match_kind = 'exact' and lower(nodes.identifier_value) = lower(placeholder_values.value_pattern))
            or (placeholder_values.match_kind = 'like' and lower(nodes.identifier_value) like lower(placeholder_values.value_pattern))
        )
    group by nodes.node_id
),

final as (
    select
        nodes.node_id,
        nodes.identifier_type,
        nodes.identifier_value,
        nodes.first_seen_at,
        nodes.last_seen_at,
        nodes.record_count,
        placeholder_matches.node_id is not null as is_placeholder,
        placeholder_matches.placeholder_reason,
        -- last: a table built before it existed appends it there
        nodes.sources
    from nodes
    left join placeholder_matches on placeholder_matches.node_id = nodes.node_id
)

select * from final
