-- customer_360 counts every purchase of a known customer once: its orders and revenue add up to the conversions
-- of fct_touchpoints that carry a customer_id. Returns a row when they differ.
-- It references several models; Dagster shows it as a check of the one it asserts about (meta dagster.ref).
{{ config(meta={'dagster': {'ref': {'name': 'customer_360'}}}) }}
with

touchpoints as (
    select count(*) as orders_count, coalesce(sum(reporting_revenue_amount), 0) as revenue_amount
    from {{ ref('fct_touchpoints') }}
    where is_conversion and customer_id is not null
),

customers as (
    select coalesce(sum(orders_count), 0) as orders_count, coalesce(sum(lifetime_revenue_amount), 0) as revenue_amount
    from {{ ref('customer_360') }}
)

select touchpoints.orders_count, customers.orders_count as customer_orders_count,
    touchpoints.revenue_amount, customers.revenue_amount as customer_revenue_amount
from touchpoints
cross join customers
where touchpoints.orders_count <> customers.orders_count or touchpoints.revenue_amount <> customers.revenue_amount
