-- Every identifier value (graph node) whose links may have changed in this build, and how:
-- - is_count_changed: the set of records carrying it changed (int_identity__changed_nodes), or an event stitch
--   carrying it appeared or disappeared: its people count is worked out again (int_identity__identifier_guards);
-- - is_link_changed: an event stitch or a fuzzy match of a changed record (or of a record sharing its name and
--   address) that links it appeared or disappeared (old
--   or new state): its component is worked out again (int_identity__graph_scope). A value that only gained records
--   is not here as a link change: whether those records change the graph is the graph scope's question.
{{ config(materialized='table') }}

with

changed_nodes as (select * from {{ ref('int_identity__changed_nodes') }}),
previous_links as (select * from {{ ref('int_identity__previous_links') }}),
fuzzy_matches as (select * from {{ ref('int_identity__fuzzy_matches') }}),
event_stitches as (select * from {{ ref('int_identity__event_stitches') }}),
-- the changed records and the records sharing a name and address with one: their matches were compared again
recompared_records as (select * from {{ identity_fuzzy_recompared_records() }} as recompared (record_key)),

current_links as (
    select 'fuzzy_match' as link_kind, record_a || ' ~ ' || record_b as link_id, node_a as node_id
    from fuzzy_matches
    where is_match and (
        record_a in (select record_key from recompared_records)
        or record_b in (select record_key from recompared_records))
    union all
    select 'fuzzy_match', record_a || ' ~ ' || record_b, node_b
    from fuzzy_matches
    where is_match and (
        record_a in (select record_key from recompared_records)
        or record_b in (select record_key from recompared_records))
    union all
    select 'stitch', rule_name || ' ' || stitch_id, node_id from event_stitches
),

-- links in one state and not the other (a stitch whose nodes or uniqueness changed, a new or lost match)
changed as (
    (select * from current_links except select * from previous_links)
    union all
    (select * from previous_links except select * from current_links)
),

final as (
    select node_id, true as is_count_changed, false as is_link_changed from changed_nodes
    union all
    select node_id, true, true from changed where link_kind = 'stitch'
    union all
    select node_id, false, true from changed where link_kind = 'fuzzy_match'
)

select node_id, bool_or(is_count_changed) as is_count_changed, bool_or(is_link_changed) as is_link_changed
from final
group by node_id
