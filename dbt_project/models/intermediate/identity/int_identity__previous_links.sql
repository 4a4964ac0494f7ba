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
{%- if previous_fuzzy is not none %}

stored_matches as (
    select record_a, record_b, node_a, node_b
    from {{ previous_fuzzy }}
    where is_match
        and (record_a in {{ identity_fuzzy_recompared_records() }}
             or record_b in {{ identity_fuzzy_recompared_records() }})
),
{%- endif %}

final as (
    select
        cast(null as {{ dbt.type_string() }}) as link_kind,
        cast(null as {{ dbt.type_string() }}) as link_id,
        cast(null as {{ dbt.type_string() }}) as node_id
    where 1 = 0
    {%- if previous_fuzzy is not none %}
    union all
    {#- a pair's row names both its nodes (one row per pair: the uniqueness test of int_identity__fuzzy_matches) #}
    select 'fuzzy_match', record_a || ' ~ ' || record_b, node_a from stored_matches
    union all
    select 'fuzzy_match', record_a || ' ~ ' || record_b, node_b from stored_matches
    {%- endif %}
    {%- if previous_stitches is not none %}
    union all
    select 'stitch', rule_name || ' ' || stitch_id, node_id from {{ previous_stitches }}
    {%- endif %}
)

select * from final
