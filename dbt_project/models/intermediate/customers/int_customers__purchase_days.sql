-- One row per customer and day with a purchase: the input of the purchase predictions (orchestration/lib/prediction.py,
-- docs/prediction.md). Purchases are conversions (online orders and till sales, seed journey_stage_rules) of a
-- resolved customer; several on one day are one purchase with their revenue summed (in the reporting currency), as
-- the repeat-buying literature counts them. A day whose purchases sum to no revenue (every order of it returned) is
-- no purchase. as_of_at is "now" as every mart reads it (var journey_as_of, default the latest touchpoint); purchases
-- after it are left out.
with

all_touchpoints as {{ journey_inline_cte() }} (select * from {{ ref('fct_touchpoints') }}),

as_of as (
    select {{ journey_as_of('all_touchpoints') }} as as_of_at
),

purchase_days as (
    select
        all_touchpoints.customer_id,
        cast(all_touchpoints.occurred_at as date) as purchase_date,
        count(*) as purchases_count,
        cast(sum(coalesce(all_touchpoints.reporting_revenue_amount, 0)) as decimal(18, 2)) as revenue_amount
    from all_touchpoints
    cross join as_of
    where all_touchpoints.is_conversion
        and all_touchpoints.customer_id is not null
        and all_touchpoints.occurred_at <= as_of.as_of_at
    group by all_touchpoints.customer_id, cast(all_touchpoints.occurred_at as date)
)

select
    purchase_days.customer_id,
    purchase_days.purchase_date,
    purchase_days.purchases_count,
    purchase_days.revenue_amount,
    as_of.as_of_at
from purchase_days
cross join as_of
where purchase_days.revenue_amount > 0
