-- One row per customer and week, from the week of their first own action (seed journey_stage_rules is_active)
-- to the as-of week (var journey_as_of, default the latest touchpoint), at most var journey_max_weeks weeks:
--   new          active, and the first active week
--   returning    active, and active the week before
--   resurrecting active, not active the week before, not new
--   dormant      not active this week
-- Weeks start on Monday (UTC).
with

all_touchpoints as (select * from {{ ref('fct_touchpoints') }}),

as_of as (
    select {{ journey_week(journey_as_of('all_touchpoints')) }} as as_of_week
),

active_weeks as (
    select
        customer_id,
        {{ journey_week('occurred_at') }} as week_start,
        count(*) as active_touchpoints_count,
        sum(case when is_conversion then 1 else 0 end) as purchases_count,
        sum(case when is_conversion then reporting_revenue_amount end) as revenue_amount
    from all_touchpoints
    where customer_id is not null and is_active
    group by customer_id, {{ journey_week('occurred_at') }}
),

first_weeks as (
    select customer_id, min(week_start) as first_week
    from active_weeks
    group by customer_id
),

offsets as (
    select generated_number - 1 as week_offset
    from ({{ dbt.generate_series(var('journey_max_weeks')) }}) as series
),

customer_weeks as (
    select
        first_weeks.customer_id,
        first_weeks.first_week,
        cast({{ dbt.dateadd('day', '7 * offsets.week_offset', 'first_weeks.first_week') }} as date) as week_start
    from first_weeks
    cross join offsets
    cross join as_of
    where {{ dbt.dateadd('day', '7 * offsets.week_offset', 'first_weeks.first_week') }} <= as_of.as_of_week
),

flagged as (
    select
        customer_weeks.customer_id,
        customer_weeks.week_start,
        customer_weeks.first_week,
        active_weeks.customer_id is not null as is_active,
        lag(case when active_weeks.customer_id is not null then 1 else 0 end) over (
            partition by customer_weeks.customer_id order by customer_weeks.week_start
        ) = 1 as was_active_previous_week,
        coalesce(active_weeks.active_touchpoints_count, 0) as active_touchpoints_count,
        coalesce(active_weeks.purchases_count, 0) as purchases_count,
        coalesce(active_weeks.revenue_amount, 0) as revenue_amount
    from customer_weeks
    left join active_weeks
        on active_weeks.customer_id = customer_weeks.customer_id
        and active_weeks.week_start = customer_weeks.week_start
),

final as (
    select
        customer_id,
        week_start,
        case
            when is_active and week_start = first_week then 'new'
            when is_active and was_active_previous_week then 'returning'
            when is_active then 'resurrecting'
            else 'dormant'
        end as lifecycle_status,
        is_active,
        cast(active_touchpoints_count as integer) as active_touchpoints_count,
        cast(purchases_count as integer) as purchases_count,
        cast(revenue_amount as decimal(18, 2)) as reporting_revenue_amount
    from flagged
)

select * from final
