-- The part of the identity graph an incremental build works out again: the values whose links changed
-- (int_identity__changed_links), whose guard changed (int_identity__identifier_guards._changed_at), and the values on
-- a record with one whose guard changed (a value that may link again, or no more, adds or drops its record's edges);
-- then every value of a connected component (as the previous build had them) that holds one of those. No edge
-- leaves this set in either build, so its components, customer ids and customers' records can be worked out from
-- it alone: int_identity__edges, int_identity__graph_components, int_identity__components and
-- int_identity__customer_id_map rewrite exactly these values. Every value on a full build.
{{ config(materialized='table') }}

{%- set previous_components = previous_state('int_identity__graph_components') %}

with

changed_links as (select * from {{ ref('int_identity__changed_links') }}),
guards as (select * from {{ ref('int_identity__identifier_guards') }}),
linking_records as (select * from {{ ref('int_identity__linking_records') }}),

changed_guards as (
    select node_id from guards where _changed_at = {{ build_started_at() }}
),

guard_neighbours as (
    select distinct neighbour.node_id
    from linking_records as changed_row
    inner join changed_guards on changed_guards.node_id = changed_row.node_id
    inner join linking_records as neighbour
        on neighbour.source_name = changed_row.source_name and neighbour.record_id = changed_row.record_id
),

seeds as (
    select node_id from changed_links
    union
    select node_id from changed_guards
    union
    select node_id from guard_neighbours
),

final as (
    select node_id from seeds
    {%- if previous_components is not none %}
    union
    select stored.node_id
    from {{ previous_components }} as stored
    where stored.component_id in (
        select component_id from {{ previous_components }} where node_id in (select node_id from seeds)
    )
    {%- endif %}
)

select * from final
