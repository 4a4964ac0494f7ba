-- The customers of this run before ids: connected components of the identity graph, with the component-size
-- guard applied. A node of an oversized component (int_identity__oversized_components) falls back to its
-- person core (core identifiers linked by records and fuzzy matches) when that core is small enough, and
-- stands alone otherwise; its other links are not followed.
-- Incremental: a build rewrites the values of int_identity__graph_scope (whole components).
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='sync_all_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['node_id']) }}"),
        pre_hook="{{ delete_stored_rows('stored', 'stored.node_id in (select node_id from ' ~ ref('int_identity__graph_scope') ~ ')') }}",
    )
}}

-- depends_on: {{ ref('int_identity__graph_scope') }}

with

graph_components as (
    select * from {{ ref('int_identity__graph_components') }}
    {%- if is_incremental() %}
    where node_id in (select node_id from {{ ref('int_identity__graph_scope') }})
    {%- endif %}
),
oversized as (select * from {{ ref('int_identity__oversized_components') }}),

core_sizes as (
    select core_component_id, count(*) as core_size
    from graph_components
    where core_component_id is not null
    group by core_component_id
),

assigned as (
    select
        graph_components.node_id,
        case
            when oversized.component_id is null then graph_components.component_id
            when core_sizes.core_size <= {{ var('identity_max_component_core_nodes') }} then graph_components.core_component_id
            else graph_components.node_id
        end as component_id,
        oversized.component_id is not null as is_from_oversized_component,
        graph_components.identifier_type,
        graph_components.identifier_value,
        graph_components.first_seen_at
    from graph_components
    left join oversized on oversized.component_id = graph_components.component_id
    left join core_sizes on core_sizes.core_component_id = graph_components.core_component_id
),

final as (
    select
        node_id,
        component_id,
        count(*) over (partition by component_id) as component_size,
        is_from_oversized_component,
        identifier_type,
        identifier_value,
        first_seen_at
    from assigned
)

select * from final
