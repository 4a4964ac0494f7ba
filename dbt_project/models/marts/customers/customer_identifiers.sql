-- Every identifier value that belongs to a customer, with its type, the sources it was seen in, and when.
-- Incremental: a build rewrites the customers of int_identity__dirty_customers only.
{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{% if is_incremental() %}delete from {{ this }} where customer_id in (select customer_id from {{ ref('int_identity__dirty_customers') }}){% endif %}",
    )
}}

-- depends_on: {{ ref('int_identity__dirty_customers') }}

with

record_identifiers as (select * from {{ ref('int_identity__record_identifiers') }}),
components as (select * from {{ ref('int_identity__components') }}),
customer_ids as (
    select * from {{ ref('int_identity__customer_ids') }}
    {%- if is_incremental() %}
    where customer_id in (select customer_id from {{ ref('int_identity__dirty_customers') }})
    {%- endif %}
),
id_map as (select * from {{ ref('int_identity__customer_id_map') }}),

final as (
    select
        customer_ids.customer_id,
        components.identifier_type,
        components.identifier_value,
        {{ listagg('distinct record_identifiers.source_name', "','", 'order by record_identifiers.source_name') }} as sources,
        count(*) as record_count,
        min(record_identifiers.first_seen_at) as first_seen_at,
        max(record_identifiers.last_seen_at) as last_seen_at,
        min(id_map.first_assigned_at) as first_assigned_at
    from components
    inner join customer_ids on customer_ids.component_id = components.component_id
    inner join record_identifiers on record_identifiers.node_id = components.node_id
    left join id_map on id_map.node_id = components.node_id
    group by customer_ids.customer_id, components.identifier_type, components.identifier_value
)

select * from final
