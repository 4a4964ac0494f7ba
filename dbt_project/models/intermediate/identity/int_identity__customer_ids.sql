-- Customer id of each component, derived deterministically from its oldest member: the identifier seen
-- first (ties broken by node id). The same evidence always yields the same id.
with

components as (select * from {{ ref('int_identity__components') }}),

ranked as (
    select
        component_id,
        node_id,
        row_number() over (partition by component_id order by first_seen_at, node_id) as age_rank
    from components
),

final as (
    select
        component_id,
        node_id as anchor_node_id,
        'cus_' || substr(md5(node_id), 1, 16) as customer_id
    from ranked
    where age_rank = 1
)

select * from final
