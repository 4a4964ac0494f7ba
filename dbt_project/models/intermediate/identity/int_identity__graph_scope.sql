-- The part of the identity graph an incremental build works out again: whole connected components (as the previous
-- build had them) around the values where the graph's shape may change:
-- - a value whose links changed (int_identity__changed_links.is_link_changed: an event stitch or a fuzzy match
--   appeared or went);
-- - a value whose guard changed (int_identity__identifier_guards._changed_at: whether it links, or its person core),
--   and the values on a record with one (a value that may link again, or no more, adds or drops its record's edges);
-- - the values of a changed record whose set of identifiers changed (a new version that gained or lost one);
-- - the values of a new record that are new to the graph or that lie in two previous components (it merges them).
-- A new record whose linkable values all lie in one previous component (the next page view of a known visitor, the
-- next e-mail to a known subscriber: most of a night) adds no path the graph lacked, so it widens nothing here; its
-- edges are counted in by int_identity__edges. No edge leaves this set in either build, so its components, customer
-- ids and customers' records can be worked out from it alone: int_identity__edges, int_identity__graph_components,
-- int_identity__components and int_identity__customer_id_map rewrite exactly these values. Every value on a full
-- build: there every guard is new, so the widening below would come to every value of int_identity__identifier_guards
-- at the cost of joining all records twice (a minute at 500k people); a full build selects them at once.
{{ config(materialized='table') }}

{%- set previous_components = previous_state('int_identity__graph_components') %}
{%- set full_build = previous_components is none or rebuilds_everything() %}
-- (dbt parses the full build's branch: the refs of the other one are hinted here)
-- depends_on: {{ ref('int_identity__record_identifiers') }}

with

changed_links as (select * from {{ ref('int_identity__changed_links') }}),
guards as (select * from {{ ref('int_identity__identifier_guards') }}),
linking_records as (select * from {{ ref('int_identity__linking_records') }}),
changed_records as (select * from {{ ref('int_identity__changed_records') }}),
previous_record_identifiers as (select * from {{ ref('int_identity__previous_record_identifiers') }}),

{%- if full_build %}

final as (
    select node_id from guards
)
{%- else %}

changed_guards as (
    select node_id from guards where _changed_at = {{ build_started_at() }}
),

guard_records as (
    select distinct linking_records.source_name, linking_records.record_id
    from linking_records
    inner join changed_guards on changed_guards.node_id = linking_records.node_id
),

-- The identifiers of the records with a changed guard and of the changed records, found in one pass over every
-- record's identifiers.
looked_up_identifiers as (
    {{ identity_identifiers_of_records('linking_records',
                                       [['is_guard_record', 'guard_records'], ['is_changed_record', 'changed_records']]) }}
),

guard_neighbours as (
    select distinct node_id from looked_up_identifiers where is_guard_record
),

-- The identifiers the changed records carry now (records, not event stitches: a changed record is a real one).
changed_record_identifiers as (
    select source_name, record_id, node_id from looked_up_identifiers where is_changed_record
),

-- Changed records that carried identifiers before and whose set of them is not the same now.
reshaped_records as (
    select distinct source_name, record_id
    from (
        (select source_name, record_id, node_id from previous_record_identifiers
         except
         select source_name, record_id, node_id from changed_record_identifiers)
        union all
        (select source_name, record_id, node_id from changed_record_identifiers
         except
         select source_name, record_id, node_id from previous_record_identifiers)
    ) as difference
    where exists (
        select 1 from previous_record_identifiers as before
        where before.source_name = difference.source_name and before.record_id = difference.record_id
    )
),

reshaped_values as (
    select node_id from previous_record_identifiers
    where exists (
        select 1 from reshaped_records
        where reshaped_records.source_name = previous_record_identifiers.source_name
            and reshaped_records.record_id = previous_record_identifiers.record_id
    )
    union
    select node_id from changed_record_identifiers
    where exists (
        select 1 from reshaped_records
        where reshaped_records.source_name = changed_record_identifiers.source_name
            and reshaped_records.record_id = changed_record_identifiers.record_id
    )
),

-- New records (no identifiers before) with the previous component of each linkable value (null: new to the graph).
new_record_values as (
    select
        changed_record_identifiers.source_name,
        changed_record_identifiers.record_id,
        changed_record_identifiers.node_id,
        {% if previous_components is not none -%}
        stored.component_id
        {%- else -%}
        cast(null as {{ dbt.type_string() }}) as component_id
        {%- endif %}
    from changed_record_identifiers
    inner join guards on guards.node_id = changed_record_identifiers.node_id and guards.is_linkable
    {%- if previous_components is not none %}
    left join {{ previous_components }} as stored on stored.node_id = changed_record_identifiers.node_id
    {%- endif %}
    where not exists (
        select 1 from previous_record_identifiers as before
        where before.source_name = changed_record_identifiers.source_name
            and before.record_id = changed_record_identifiers.record_id
    )
),

bridging_records as (
    select source_name, record_id
    from new_record_values
    group by source_name, record_id
    having count(distinct component_id) > 1 or count(component_id) < count(*)
),

bridging_values as (
    select new_record_values.node_id
    from new_record_values
    inner join bridging_records
        on bridging_records.source_name = new_record_values.source_name
        and bridging_records.record_id = new_record_values.record_id
),

seeds as (
    select node_id from changed_links where is_link_changed
    union
    select node_id from changed_guards
    union
    select node_id from guard_neighbours
    union
    select node_id from reshaped_values
    union
    select node_id from bridging_values
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
{%- endif %}

select * from final
