-- Everything that links identifiers: each real record with the identifiers it carries, plus each event stitch
-- (a virtual record, source_name 'stitch:<rule>'). Guards and edges read this. A view: a table would copy every
-- record's identifiers each build.
{{ config(materialized='view') }}

with

record_identifiers as (select * from {{ ref('int_identity__record_identifiers') }}),
event_stitches as (select * from {{ ref('int_identity__event_stitches') }}),
identifier_values as (select * from {{ ref('int_identity__identifier_values') }}),

final as (
    select source_name, record_id, identifier_type, identifier_value, node_id, first_seen_at
    from record_identifiers
    union all
    -- a stitch is as old as the newest identifier it joins (only nodes that records carry)
    select
        'stitch:' || event_stitches.rule_name, event_stitches.stitch_id, event_stitches.identifier_type,
        event_stitches.identifier_value, event_stitches.node_id,
        max(identifier_values.first_seen_at) over (partition by event_stitches.stitch_id)
    from event_stitches
    inner join identifier_values on identifier_values.node_id = event_stitches.node_id
)

select * from final
