-- Customer id of each component of this run, from the persistent id map. A view: it is one pass over the map.
{{ config(materialized='view') }}

with

id_map as (select * from {{ ref('int_identity__customer_id_map') }}),

final as (
    select distinct
        component_id,
        customer_id,
        customer_created_at
    from id_map
    where is_active
)

select * from final
