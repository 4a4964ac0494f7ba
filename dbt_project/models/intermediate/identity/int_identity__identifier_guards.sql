-- Over-merge guards, one row per identifier value (graph node): is it allowed to link records?
-- 1. Placeholder values (seed identity_placeholder_values: exact values or LIKE patterns, per type or '*')
--    never link.
-- 2. A value shared by more people than its type allows (seed identity_identifier_types.max_people_per_value)
--    does not link. People are counted in two phases:
--    - core types (accounts, e-mails, loyalty cards, CRM contacts: is_core) by the largest number of distinct
--      values of any other core type seen on the same records (an e-mail on three CRM contacts);
--    - other types (phone, device, cookie) by the "person cores" they touch: connected components of the
--      linkable core identifiers and fuzzy matches alone. A family phone touches each member's core. For
--      types with people_counted_by (cookies, devices: user_id) people are the accounts in those cores.
with

record_identifiers as (select * from {{ ref('int_identity__linking_records') }}),
identifier_values as (select * from {{ ref('int_identity__identifier_values') }}),
identifier_types as (select * from {{ ref('identity_identifier_types') }}),
fuzzy_matches as (select * from {{ ref('int_identity__fuzzy_matches') }}),

typed_nodes as (
    select
        identifier_values.*,
        coalesce(identifier_types.is_core, false) as is_core,
        identifier_types.max_people_per_value,
        identifier_types.people_counted_by
    from identifier_values
    left join identifier_types on identifier_types.identifier_type = identifier_values.identifier_type
),

-- Identifiers of each record that may count as evidence (placeholders never do).
usable as (
    select record_identifiers.source_name, record_identifiers.record_id, typed_nodes.*
    from record_identifiers
    inner join typed_nodes on typed_nodes.node_id = record_identifiers.node_id
    where not typed_nodes.is_placeholder
),

-- Phase 1: core values. People = most distinct values of another core type seen on the same records.
core_cooccurrence as (
    select
        v.node_id,
        other.identifier_type as other_type,
        count(distinct other.node_id) as distinct_other_values
    from usable as v
    inner join usable as other
        on other.source_name = v.source_name
        and other.record_id = v.record_id
        and other.is_core
        and other.identifier_type <> v.identifier_type
    where v.is_core
    group by v.node_id, other.identifier_type
),

core_people as (
    select node_id, max(distinct_other_values) as people_count
    from core_cooccurrence
    group by node_id
),

linkable_core_nodes as (
    select typed_nodes.node_id
    from typed_nodes
    left join core_people on core_people.node_id = typed_nodes.node_id
    where typed_nodes.is_core
        and not typed_nodes.is_placeholder
        and (typed_nodes.max_people_per_value is null
             or coalesce(core_people.people_count, 1) <= typed_nodes.max_people_per_value)
),

linkable_core_by_record as (
    select usable.source_name, usable.record_id, usable.node_id
    from usable
    inner join linkable_core_nodes on linkable_core_nodes.node_id = usable.node_id
),

record_core_hubs as (
    select source_name, record_id, min(node_id) as hub_node
    from linkable_core_by_record
    group by source_name, record_id
),

-- Core values linked by a record, or by a fuzzy match of two person records (so that a person's duplicate
-- CRM contact is one core with the first, and their phone on both counts one person, not two).
core_edges as (
    select distinct hubs.hub_node as src_node, members.node_id as dst_node
    from linkable_core_by_record as members
    inner join record_core_hubs as hubs
        on hubs.source_name = members.source_name and hubs.record_id = members.record_id
    where members.node_id <> hubs.hub_node
    union
    select fuzzy_matches.node_a, fuzzy_matches.node_b
    from fuzzy_matches
    inner join linkable_core_nodes as a on a.node_id = fuzzy_matches.node_a
    inner join linkable_core_nodes as b on b.node_id = fuzzy_matches.node_b
    where fuzzy_matches.is_match and fuzzy_matches.node_a <> fuzzy_matches.node_b
),

core_components as (
    {{ identity_connected_components('core_edges', 'linkable_core_nodes') }}
),

-- Phase 2: other values. People = distinct person cores on the records that carry the value.
record_cores as (
    select distinct linkable_core_by_record.source_name, linkable_core_by_record.record_id, core_components.component_id
    from linkable_core_by_record
    inner join core_components on core_components.node_id = linkable_core_by_record.node_id
),

-- Core values (of the counting type) inside each core.
core_members as (
    select core_components.component_id, typed_nodes.identifier_type, typed_nodes.node_id
    from core_components
    inner join typed_nodes on typed_nodes.node_id = core_components.node_id
),

touched_cores as (
    select distinct usable.node_id, usable.people_counted_by, record_cores.component_id
    from usable
    inner join record_cores
        on record_cores.source_name = usable.source_name and record_cores.record_id = usable.record_id
    where not usable.is_core
),

-- people_counted_by empty: every core is a person (a family landline touches each member's core). Set to a
-- type (user_id for cookies and devices): people = distinct values of that type in the cores touched, and
-- cores without one belong to the one account when there is exactly one (someone's own newsletter click on
-- their own browser), or count one each when there is none.
other_people as (
    select
        touched_cores.node_id,
        case
            when max(touched_cores.people_counted_by) is null then count(distinct touched_cores.component_id)
            when count(distinct core_members.node_id) = 0 then count(distinct touched_cores.component_id)
            else count(distinct core_members.node_id)
        end as people_count
    from touched_cores
    left join core_members
        on core_members.component_id = touched_cores.component_id
        and core_members.identifier_type = touched_cores.people_counted_by
    group by touched_cores.node_id
),

final as (
    select
        typed_nodes.node_id,
        typed_nodes.identifier_type,
        typed_nodes.identifier_value,
        typed_nodes.first_seen_at,
        typed_nodes.last_seen_at,
        typed_nodes.record_count,
        typed_nodes.is_core,
        typed_nodes.is_placeholder,
        coalesce(core_people.people_count, other_people.people_count, 0) as people_count,
        typed_nodes.max_people_per_value,
        core_components.component_id as core_component_id,
        case
            when typed_nodes.is_placeholder then 'placeholder: ' || typed_nodes.placeholder_reason
            when typed_nodes.max_people_per_value is not null
                and coalesce(core_people.people_count, other_people.people_count, 0) > typed_nodes.max_people_per_value
                then 'shared by ' || cast(coalesce(core_people.people_count, other_people.people_count) as varchar)
                    || ' people (max ' || cast(typed_nodes.max_people_per_value as varchar) || ')'
        end as block_reason
    from typed_nodes
    left join core_people on core_people.node_id = typed_nodes.node_id and typed_nodes.is_core
    left join other_people on other_people.node_id = typed_nodes.node_id and not typed_nodes.is_core
    left join core_components on core_components.node_id = typed_nodes.node_id
)

select
    *,
    block_reason is null as is_linkable
from final
