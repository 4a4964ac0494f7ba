-- Carts (add_to_cart touchpoints of customers) that no conversion of the customer followed within
-- var customer_abandoned_cart_hours (inclusive). customer_360 counts those older than that at "now" as abandoned.
-- Incremental: a cart depends on its customer's touchpoints only; a build rewrites the customers of
-- int_customers__changed.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{{ delete_stored_rows('stored', 'stored.customer_id in (select customer_id from ' ~ ref('int_customers__changed') ~ ')') }}",
    )
}}
-- depends_on: {{ ref('int_customers__changed') }}

with

touchpoints as (
    select * from {{ ref('fct_touchpoints') }}
    where customer_id is not null
    {%- if is_incremental() %}
        and customer_id in (select customer_id from {{ ref('int_customers__changed') }})
    {%- endif %}
),

carts as (
    select
        carts.customer_id,
        carts.touchpoint_id,
        carts.occurred_at,
        max(case when conversions.touchpoint_id is not null then 1 else 0 end) as is_followed_by_conversion
    from touchpoints as carts
    left join touchpoints as conversions
        on conversions.customer_id = carts.customer_id
        and conversions.is_conversion
        and conversions.occurred_at >= carts.occurred_at
        and conversions.occurred_at
            <= {{ dbt.dateadd('hour', var('customer_abandoned_cart_hours'), 'carts.occurred_at') }}
    where carts.touchpoint_type = 'add_to_cart'
    group by carts.customer_id, carts.touchpoint_id, carts.occurred_at
),

final as (
    select customer_id, touchpoint_id, occurred_at
    from carts
    where is_followed_by_conversion = 0
)

select * from final
