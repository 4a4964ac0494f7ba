-- Retention by weekly first-purchase cohort: for each cohort week and each week after it (period_number 0 is the
-- cohort week itself) up to the as-of week (var journey_as_of, default the latest touchpoint), how many of the
-- cohort's customers were active (any touchpoint that is their own action, seed journey_stage_rules is_active)
-- and how many purchased, with their revenue. Periods beyond var journey_max_weeks are not shown.
with

all_touchpoints as {{ journey_inline_cte() }} (select * from {{ ref('fct_touchpoints') }}),

touchpoints as (
    select * from all_touchpoints where customer_id is not null
),

as_of as (
    select {{ journey_week(journey_as_of('all_touchpoints')) }} as as_of_week
),

cohorts as (
    select
        customer_id,
        {{ journey_week('min(occurred_at)') }} as cohort_week
    from touchpoints
    where is_conversion
    group by customer_id
),

cohort_sizes as (
    select cohort_week, count(*) as cohort_customers_count
    from cohorts
    group by cohort_week
),

periods as (
    select generated_number - 1 as period_number
    from ({{ dbt.generate_series(var('journey_max_weeks')) }}) as series
),

grid as (
    select
        cohort_sizes.cohort_week,
        periods.period_number,
        cohort_sizes.cohort_customers_count
    from cohort_sizes
    cross join periods
    cross join as_of
    where {{ dbt.dateadd('day', '7 * periods.period_number', 'cohort_sizes.cohort_week') }} <= as_of.as_of_week
),

activity as (
    select
        cohorts.cohort_week,
        cast({{ dbt.datediff('cohorts.cohort_week', journey_week('touchpoints.occurred_at'), 'day') }} / 7 as integer)
            as period_number,
        touchpoints.customer_id,
        max(case when touchpoints.is_active then 1 else 0 end) as is_active,
        max(case when touchpoints.is_conversion then 1 else 0 end) as is_purchasing,
        sum(case when touchpoints.is_conversion then touchpoints.reporting_revenue_amount end) as revenue_amount
    from touchpoints
    inner join cohorts on cohorts.customer_id = touchpoints.customer_id
    where touchpoints.occurred_at >= cohorts.cohort_week
    group by 1, 2, 3
),

period_activity as (
    select
        cohort_week,
        period_number,
        sum(is_active) as active_customers_count,
        sum(is_purchasing) as purchasing_customers_count,
        sum(revenue_amount) as revenue_amount
    from activity
    group by cohort_week, period_number
),

final as (
    select
        grid.cohort_week,
        cast(grid.period_number as integer) as period_number,
        cast({{ dbt.dateadd('day', '7 * grid.period_number', 'grid.cohort_week') }} as date) as period_week,
        cast(grid.cohort_customers_count as integer) as cohort_customers_count,
        cast(coalesce(period_activity.active_customers_count, 0) as integer) as active_customers_count,
        cast(coalesce(period_activity.purchasing_customers_count, 0) as integer) as purchasing_customers_count,
        cast(coalesce(period_activity.active_customers_count, 0) as {{ journey_type_double() }})
            / grid.cohort_customers_count as active_retention_rate,
        cast(coalesce(period_activity.purchasing_customers_count, 0) as {{ journey_type_double() }})
            / grid.cohort_customers_count as purchase_retention_rate,
        cast(coalesce(period_activity.revenue_amount, 0) as decimal(18, 2)) as reporting_revenue_amount
    from grid
    left join period_activity
        on period_activity.cohort_week = grid.cohort_week and period_activity.period_number = grid.period_number
)

select * from final
