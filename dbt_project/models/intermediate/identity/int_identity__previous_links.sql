-- What the previous build linked that this build may change, read before this build rewrites it: the fuzzy
-- matches of the changed records and of the records sharing a name and address with one (identity_fuzzy.sql) (int_identity__fuzzy_matches as the previous build left it) and every event stitch
-- (int_identity__event_stitches). One row per (kind, node): int_identity__changed_links compares them with this
-- build's. Empty on a first build.
{{ config(materialized='table') }}

{%- set previous_fuzzy = previous_state('int_identity__fuzzy_matches') %}
{%- set previous_stitches = previous_state('int_identity__event_stitches') %}

-- depends_on: {{ ref('int_identity__changed_records') }}
-- depends_on: {{ ref('int_identity__person_records') }}

with

final as (
    select
        cast(null as {{ dbt.type_string() }}) as link_kind,
        cast(null as {{ dbt.type_string() }}) as link_id,
        cast(null as {{ dbt.type_string() }}) as node_id
    where 1 = 0
    {%- if previous_fuzzy is not none %}
    union all
    select 'fuzzy_match', stored.record_a || ' ~ ' || stored.record_b, side.node_id
    from {{ previous_fuzzy }} as stored
    inner join (
        select record_a, record_b, node_a as node_id from {{ previous_fuzzy }}
        union all
        select record_a, record_b, node_b from {{ previous_fuzzy }}
    ) as side on side.record_a = stored.record_a and side.record_b = stored.record_b
    where stored.is_match
        and (stored.record_a in {{ identity_fuzzy_recompared_records() }}
             or stored.record_b in {{ identity_fuzzy_recompared_records() }})
    {%- endif %}
    {%- if previous_stitches is not none %}
    union all
    select 'stitch', rule_name || ' ' || stitch_id, node_id from {{ previous_stitches }}
    {%- endif %}
)

select * from final
