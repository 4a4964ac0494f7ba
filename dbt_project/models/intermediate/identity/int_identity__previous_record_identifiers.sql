-- The identifiers the changed records carried before this build (int_identity__record_identifiers as the previous
-- build left it), read before that model rewrites them: an identifier a record no longer carries has one record
-- less, so its node is reworked too (int_identity__changed_nodes). Empty on a first build.
{{ config(materialized='table') }}

{%- set previous = previous_state('int_identity__record_identifiers') %}

-- depends_on: {{ ref('int_identity__changed_records') }}

with

final as (
    {%- if previous is not none %}
    select stored.source_name, stored.record_id, stored.node_id
    from {{ previous }} as stored
    where {{ is_changed_record('stored') }}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as source_name,
        cast(null as {{ dbt.type_string() }}) as record_id,
        cast(null as {{ dbt.type_string() }}) as node_id
    where 1 = 0
    {%- endif %}
)

select * from final
