-- Connected components of the identity graph, before the component-size guard: one row per linkable
-- identifier value, labelled with the smallest node id of its component (label propagation).
-- Incremental: a build labels again the values of int_identity__graph_scope (whole components: no edge leaves it).
-- No last sighting here: it moves with every record and would make every value's row change every night
-- (int_identity__identifier_guards has it).
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

{#- kept as text for the engines that compute the components in statements of their own (Spark) #}
{%- set graph_ctes %}
guards as {{ journey_inline_cte() }} (select * from {{ ref('int_identity__identifier_guards') }}),
edges as (
    select * from {{ ref('int_identity__edges') }}
    {%- if is_incremental() %}
    where src_node in (select node_id from {{ ref('int_identity__graph_scope') }})
    {%- endif %}
),

nodes as (
    select node_id from guards
    where is_linkable
    {%- if is_incremental() %}
        and node_id in (select node_id from {{ ref('int_identity__graph_scope') }})
    {%- endif %}
)
{%- endset %}
{{ graph_ctes }},

labelled as (
    {{ identity_connected_components('edges', 'nodes', ctes=graph_ctes) }}
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
        guards.first_seen_at
    from labelled
    inner join guards on guards.node_id = labelled.node_id
)

select * from final
