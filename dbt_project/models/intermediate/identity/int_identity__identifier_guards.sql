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
-- 3. A value carried with more browsers or app installs (distinct anonymous_id and device_id values on its
--    records) than its type allows (max_devices_per_value: an order is placed from one) does not link: a
--    cached confirmation page that shows one order id to other visitors.
-- 4. A household value (int_identity__household_values: a phone on a person record at an address where people of
--    different first names live) does not link: a record that carries nothing but a family landline (a till sale)
--    cannot say which member it belongs to.
-- Incremental (docs/identity.md "Incremental builds"): a build works out again only the values whose guard can have
-- changed, from int_identity__changed_links: the core values of changed records that carry another core value, and
-- of changed stitches (phase 1); the person cores that hold such a value, a new core value, a value linked by a
-- changed fuzzy match or stitch, or a record neighbour of a core value whose guard flipped (phase 2 needs their
-- components); and the other values carried by a changed record or by a record of such a core. A changed record
-- with a single core value adds no co-occurrence and no core edge, so it recounts nothing of phase 1. Every other value keeps its row: nothing it depends on changed. `_changed_at` marks the rows whose
-- guard changed in this build (int_identity__graph_scope starts from them); a new count alone does not mark a row.
-- A value no record carries any more loses its row: deleted after the insert where stored rows change in place
-- (DuckDB), left out of the new table otherwise (Spark: its scope, delete_stored_rows).
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='node_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{{ '' if stored_rows_change_in_place() else delete_stored_rows('stored',
            'not exists (select 1 from ' ~ ref('int_identity__identifier_values') ~ ' as v where v.node_id = stored.node_id)') }}",
        post_hook=["{% if is_incremental() and stored_rows_change_in_place() %}delete from {{ this }} where node_id not in (select node_id from {{ ref('int_identity__identifier_values') }}){% endif %}", after_commit("{{ record_keys_built(['node_id']) }}")],
    )
}}

-- depends_on: {{ ref('int_identity__changed_links') }}
-- depends_on: {{ ref('int_identity__changed_records') }}
-- depends_on: {{ ref('int_identity__previous_record_identifiers') }}

with

{#- the CTEs up to the person cores' edges, kept as text: Spark computes the cores in statements of their own
    (macros/identity_connected_components.sql), which need them #}
{%- set shared_ctes %}
record_identifiers as (select * from {{ ref('int_identity__linking_records') }}),
identifier_values as (select * from {{ ref('int_identity__identifier_values') }}),
identifier_types as (select * from {{ ref('identity_identifier_types') }}),
fuzzy_matches as (select * from {{ ref('int_identity__fuzzy_matches') }}),
household_values as (select * from {{ ref('int_identity__household_values') }}),

typed_nodes as (
    select
        identifier_values.*,
        coalesce(identifier_types.is_core, false) as is_core,
        identifier_types.max_people_per_value,
        identifier_types.people_counted_by,
        identifier_types.max_devices_per_value
    from identifier_values
    left join identifier_types on identifier_types.identifier_type = identifier_values.identifier_type
),

-- Identifiers of each record that may count as evidence (placeholders never do). Only the columns the guards read:
-- this is the largest relation of the model (every record's identifiers), kept in memory for its many readers. Typed
-- from the seed by the record's identifier type, and placeholders dropped by their (few) values: every node of a
-- record is in int_identity__identifier_values, so this is the join with typed_nodes without probing all of them
-- (1 s less of 5 s on a night at 500k people).
placeholder_nodes as (select node_id from identifier_values where is_placeholder),

usable as (
    select
        record_identifiers.source_name,
        record_identifiers.record_id,
        record_identifiers.node_id,
        record_identifiers.identifier_type,
        coalesce(identifier_types.is_core, false) as is_core,
        identifier_types.people_counted_by
    from record_identifiers
    left join identifier_types on identifier_types.identifier_type = record_identifiers.identifier_type
    left join placeholder_nodes on placeholder_nodes.node_id = record_identifiers.node_id
    where placeholder_nodes.node_id is null
)
{%- endset %}
{{ shared_ctes }},

{%- if is_incremental() %}

{#- the CTEs up to the region's core edges, kept as text for Spark's statements as shared_ctes is #}
{%- set region_ctes %}
previous as (select * from {{ previous_build() }}),
changed_links as (select * from {{ ref('int_identity__changed_links') }}),

-- The core values of the changed records that carry two core values or more, now or before this build. Only such a
-- record can change a core value's people count or a person core: one with a single core value (the next e-mail to a
-- subscriber, the next page view of a logged-in visitor) adds no co-occurrence and no core edge.
changed_core_rows as (
    select usable.source_name, usable.record_id, usable.node_id
    from usable
    where usable.is_core and {{ is_changed_record('usable') }}
    union
    select before.source_name, before.record_id, before.node_id
    from {{ ref('int_identity__previous_record_identifiers') }} as before
    inner join typed_nodes on typed_nodes.node_id = before.node_id
    where typed_nodes.is_core and not typed_nodes.is_placeholder
),

multi_core_values as (
    select distinct changed_core_rows.node_id
    from changed_core_rows
    inner join (
        select source_name, record_id
        from changed_core_rows
        group by source_name, record_id
        having count(distinct node_id) > 1
    ) as multi_core_records
        on multi_core_records.source_name = changed_core_rows.source_name
        and multi_core_records.record_id = changed_core_rows.record_id
),

-- Phase 1 for the core values whose co-occurrences may have changed (a changed record with another core value, or
-- an event stitch): people = most distinct values of another core type on their records.
recount_core as (
    select changed_links.node_id
    from changed_links
    inner join typed_nodes on typed_nodes.node_id = changed_links.node_id
    where changed_links.is_count_changed and typed_nodes.is_core
        and (changed_links.is_link_changed or changed_links.node_id in (select node_id from multi_core_values))
),

recount_core_records as (
    select distinct usable.source_name, usable.record_id
    from usable
    inner join recount_core on recount_core.node_id = usable.node_id
),

recount_usable as (
    select usable.*
    from usable
    inner join recount_core_records
        on recount_core_records.source_name = usable.source_name and recount_core_records.record_id = usable.record_id
),

core_people as (
    select node_id, max(distinct_other_values) as people_count
    from (
        select v.node_id, other.identifier_type as other_type, count(distinct other.node_id) as distinct_other_values
        from recount_usable as v
        inner join recount_usable as other
            on other.source_name = v.source_name
            and other.record_id = v.record_id
            and other.is_core
            and other.identifier_type <> v.identifier_type
        where v.is_core and v.node_id in (select node_id from recount_core)
        group by v.node_id, other.identifier_type
    ) as core_cooccurrence
    group by node_id
),

-- Every core value with its people count (recounted, else as stored) and whether it may link.
core_guards as (
    select
        typed_nodes.node_id,
        case
            when recount_core.node_id is not null then core_people.people_count
            else nullif(previous.people_count, 0)
        end as people_count,
        not typed_nodes.is_placeholder
            and (typed_nodes.max_people_per_value is null
                 or coalesce(
                     case when recount_core.node_id is not null then core_people.people_count else nullif(previous.people_count, 0) end,
                     1) <= typed_nodes.max_people_per_value) as is_linkable
    from typed_nodes
    left join recount_core on recount_core.node_id = typed_nodes.node_id
    left join core_people on core_people.node_id = typed_nodes.node_id
    left join previous on previous.node_id = typed_nodes.node_id
    where typed_nodes.is_core
),

linkable_core_nodes as (
    select node_id from core_guards where is_linkable
),

-- Core values whose linkability flipped: their record neighbours may join or leave their cores.
flipped_core as (
    select core_guards.node_id
    from core_guards
    inner join recount_core on recount_core.node_id = core_guards.node_id
    left join previous on previous.node_id = core_guards.node_id
    where core_guards.is_linkable is distinct from coalesce(previous.is_linkable, false)
),

flipped_neighbours as (
    select distinct neighbour.node_id
    from usable as flipped_row
    inner join flipped_core on flipped_core.node_id = flipped_row.node_id
    inner join usable as neighbour
        on neighbour.source_name = flipped_row.source_name and neighbour.record_id = flipped_row.record_id
    where neighbour.is_core
),

-- The person cores to recompute: those holding a core value whose core links may have changed (a changed record
-- with another core value, an event stitch, a fuzzy match) or whose record neighbours' guard flipped, as the previous
-- build had them, plus new core values (they belong to no core yet).
touched_core_values as (
    select changed_links.node_id from changed_links
    inner join typed_nodes on typed_nodes.node_id = changed_links.node_id
    left join previous on previous.node_id = changed_links.node_id
    where typed_nodes.is_core
        and (changed_links.is_link_changed or previous.node_id is null
             or changed_links.node_id in (select node_id from multi_core_values))
    union
    select node_id from flipped_neighbours
),

dirty_cores as (
    select distinct previous.core_component_id
    from previous
    inner join touched_core_values on touched_core_values.node_id = previous.node_id
    where previous.core_component_id is not null
),

core_region as (
    select linkable_core_nodes.node_id
    from linkable_core_nodes
    inner join previous on previous.node_id = linkable_core_nodes.node_id
    inner join dirty_cores on dirty_cores.core_component_id = previous.core_component_id
    union
    select touched_core_values.node_id
    from touched_core_values
    inner join linkable_core_nodes on linkable_core_nodes.node_id = touched_core_values.node_id
),

-- The records whose person cores may have changed: those carrying a recomputed or touched core value.
region_records as (
    select distinct usable.source_name, usable.record_id
    from usable
    where usable.node_id in (select node_id from core_region union select node_id from touched_core_values)
),

linkable_core_by_record as (
    select usable.source_name, usable.record_id, usable.node_id
    from usable
    inner join region_records
        on region_records.source_name = usable.source_name and region_records.record_id = usable.record_id
    inner join linkable_core_nodes on linkable_core_nodes.node_id = usable.node_id
),

record_core_hubs as (
    select source_name, record_id, min(node_id) as hub_node
    from linkable_core_by_record
    group by source_name, record_id
),

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
        and (fuzzy_matches.node_a in (select node_id from core_region) or fuzzy_matches.node_b in (select node_id from core_region))
)
{%- endset %}
{#- on Spark, the chain's middle (read again by every later CTE) from tables of its own #}
{%- set region_ctes = cte_tables(region_ctes, ['multi_core_values', 'recount_core', 'core_guards',
    'touched_core_values', 'core_region', 'region_records'], preceding=shared_ctes) %}
{{ region_ctes }},

region_core_components as (
    {{ identity_connected_components('core_edges', 'core_region', ctes=shared_ctes ~ ',' ~ region_ctes) }}
),

-- The person core of every linkable core value: recomputed in the region, as stored elsewhere.
core_components as (
    select node_id, component_id from region_core_components
    union all
    select previous.node_id, previous.core_component_id
    from previous
    inner join linkable_core_nodes on linkable_core_nodes.node_id = previous.node_id
    where previous.core_component_id is not null
        and previous.node_id not in (select node_id from core_region)
),

-- Phase 2 for the other values carried by a changed record or by a record of a recomputed core.
recount_other as (
    select changed_links.node_id
    from changed_links
    inner join typed_nodes on typed_nodes.node_id = changed_links.node_id
    where changed_links.is_count_changed and not typed_nodes.is_core
    union
    select usable.node_id
    from usable
    inner join region_records
        on region_records.source_name = usable.source_name and region_records.record_id = usable.record_id
    where not usable.is_core
),

recount_other_records as (
    select distinct usable.source_name, usable.record_id
    from usable
    inner join recount_other on recount_other.node_id = usable.node_id
),

record_cores as (
    select distinct usable.source_name, usable.record_id, core_components.component_id
    from usable
    inner join recount_other_records
        on recount_other_records.source_name = usable.source_name and recount_other_records.record_id = usable.record_id
    inner join linkable_core_nodes on linkable_core_nodes.node_id = usable.node_id
    inner join core_components on core_components.node_id = usable.node_id
),

touched_cores as (
    select distinct usable.node_id, usable.people_counted_by, record_cores.component_id
    from usable
    inner join recount_other on recount_other.node_id = usable.node_id
    inner join record_cores
        on record_cores.source_name = usable.source_name and record_cores.record_id = usable.record_id
    where not usable.is_core
),

core_members as (
    select core_components.component_id, typed_nodes.identifier_type, typed_nodes.node_id
    from core_components
    inner join typed_nodes on typed_nodes.node_id = core_components.node_id
    where core_components.component_id in (select component_id from touched_cores)
),

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

-- Browsers and app installs on the records of the recounted values whose type limits them.
device_counts as (
    select v.node_id, count(distinct device.node_id) as device_count
    from usable as v
    inner join recount_other on recount_other.node_id = v.node_id
    inner join typed_nodes on typed_nodes.node_id = v.node_id and typed_nodes.max_devices_per_value is not null
    inner join usable as device
        on device.source_name = v.source_name and device.record_id = v.record_id
        and device.identifier_type in ('anonymous_id', 'device_id')
    group by v.node_id
),

-- Values that became or stopped being household values (int_identity__household_values is rebuilt whole: a new
-- resident at an address changes the values of records that did not change).
{#- a unit test's `this` is a fixture (a name, not a relation to introspect): it has the current columns #}
{%- if this is string %}
{%- set stored_columns = ['device_count', 'is_household_value'] %}
{%- else %}
{%- set stored_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list %}
{%- endif %}
household_changes as (
    {%- if 'is_household_value' in stored_columns %}
    select node_id from (
        select node_id from household_values
        except
        select node_id from previous where is_household_value
    ) as became
    union
    select node_id from (
        select node_id from previous where is_household_value
        except
        select node_id from household_values
    ) as stopped
    {%- else %}
    {#- a warehouse built before is_household_value existed: every household value is rewritten once #}
    select node_id from household_values
    {%- endif %}
),

-- The values whose rows are written: everything recounted or in a recomputed core, and the household changes.
rewritten as (
    select node_id from recount_core
    union select node_id from core_region
    union select node_id from touched_core_values
    union select node_id from recount_other
    union select node_id from changed_links
    union select node_id from household_changes
),

guard_inputs as (
    select
        typed_nodes.*,
        case
            when typed_nodes.is_core then core_guards.people_count
            when recount_other.node_id is not null then other_people.people_count
            else nullif(previous.people_count, 0)
        end as counted_people,
        case
            when recount_other.node_id is not null then device_counts.device_count
            {#- a warehouse built before device_count existed: recounted values only, until --full-refresh #}
            else {{ 'nullif(previous.device_count, 0)' if 'device_count' in stored_columns else 'null' }}
        end as counted_devices,
        core_components.component_id as core_component_id
    from typed_nodes
    inner join rewritten on rewritten.node_id = typed_nodes.node_id
    left join device_counts on device_counts.node_id = typed_nodes.node_id
    left join core_guards on core_guards.node_id = typed_nodes.node_id
    left join recount_other on recount_other.node_id = typed_nodes.node_id
    left join other_people on other_people.node_id = typed_nodes.node_id
    left join previous on previous.node_id = typed_nodes.node_id
    left join core_components on core_components.node_id = typed_nodes.node_id and typed_nodes.is_core
),

{%- else %}

{%- set core_ctes %}
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
)
{%- endset %}
{{ core_ctes }},

core_components as (
    {{ identity_connected_components('core_edges', 'linkable_core_nodes', ctes=shared_ctes ~ ',' ~ core_ctes) }}
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

-- Browsers and app installs on the records of values whose type limits them.
device_counts as (
    select v.node_id, count(distinct device.node_id) as device_count
    from usable as v
    inner join typed_nodes on typed_nodes.node_id = v.node_id and typed_nodes.max_devices_per_value is not null
    inner join usable as device
        on device.source_name = v.source_name and device.record_id = v.record_id
        and device.identifier_type in ('anonymous_id', 'device_id')
    group by v.node_id
),

guard_inputs as (
    select
        typed_nodes.*,
        coalesce(core_people.people_count, other_people.people_count) as counted_people,
        device_counts.device_count as counted_devices,
        core_components.component_id as core_component_id
    from typed_nodes
    left join device_counts on device_counts.node_id = typed_nodes.node_id
    left join core_people on core_people.node_id = typed_nodes.node_id and typed_nodes.is_core
    left join other_people on other_people.node_id = typed_nodes.node_id and not typed_nodes.is_core
    left join core_components on core_components.node_id = typed_nodes.node_id
),

{%- endif %}

final as (
    select
        node_id,
        identifier_type,
        identifier_value,
        first_seen_at,
        last_seen_at,
        record_count,
        is_core,
        is_placeholder,
        coalesce(counted_people, 0) as people_count,
        max_people_per_value,
        core_component_id,
        case
            when is_placeholder then 'placeholder: ' || placeholder_reason
            when max_people_per_value is not null and coalesce(counted_people, 0) > max_people_per_value
                then 'shared by ' || cast(counted_people as {{ text_type() }})
                    || ' people (max ' || cast(max_people_per_value as {{ text_type() }}) || ')'
            when max_devices_per_value is not null and coalesce(counted_devices, 0) > max_devices_per_value
                then 'carried by ' || cast(counted_devices as {{ text_type() }})
                    || ' browsers or app installs (max ' || cast(max_devices_per_value as {{ text_type() }}) || ')'
            when is_household_value
                then 'household ' || identifier_type || ': on a person record at an address of people with other first names'
        end as block_reason,
        coalesce(counted_devices, 0) as device_count,
        is_household_value
    from (
        select guard_inputs.*, household_values.node_id is not null as is_household_value
        from guard_inputs
        left join household_values on household_values.node_id = guard_inputs.node_id
    ) as guard_inputs
),

guarded as (
    -- device_count and is_household_value last: a table built before they existed appends them there, and rows
    -- compare field by field
    {%- set final_columns = ['node_id', 'identifier_type', 'identifier_value', 'first_seen_at', 'last_seen_at',
        'record_count', 'is_core', 'is_placeholder', 'people_count', 'max_people_per_value', 'core_component_id',
        'block_reason', 'device_count', 'is_household_value'] %}
    select {{ star_except(['device_count', 'is_household_value'], final_columns) }}, block_reason is null as is_linkable,
        device_count, is_household_value
    from final
),

-- `_changed_at` moves only when what the graph reads of the row changes (whether and how the value links, its person
-- core, when it was first seen), not with its counts and last sighting: those change with every record it gains,
-- and int_identity__graph_scope starts from the rows stamped here.
stamped as (
    {{ stamp_changes('guarded', ['node_id'], ignored=['last_seen_at', 'record_count', 'people_count', 'device_count', 'block_reason', 'is_household_value']) }}
)

select * from stamped
