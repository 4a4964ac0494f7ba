-- One row per customer and week, from the week of their first own action (seed journey_stage_rules is_active)
-- to the as-of week (var journey_as_of, default the latest touchpoint), at most var journey_max_weeks weeks:
--   new          active, and the first active week
--   returning    active, and active the week before
--   resurrecting active, not active the week before, not new
--   dormant      not active this week
-- Weeks start on Monday (UTC).
-- Incremental: a customer's weeks depend on their own touchpoints and the as-of week only. A build rewrites the
-- customers whose touchpoints it rewrote (the visitors of int_journeys__rebuild_scope; a customer merged away loses
-- its rows), and when the as-of week moved on, every other customer gets the new weeks, dormant (they did nothing
-- new: else they would be in scope), up to their var journey_max_weeks-th week. Weeks past the as-of week (a var
-- journey_as_of set earlier than the last build's) are deleted.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['customer_id', 'week_start']) }}"),
        pre_hook="{{ delete_stored_rows('stored', lifecycle_weeks_rebuilt('stored')) }}",
    )
}}
-- depends_on: {{ ref('int_journeys__rebuild_scope') }}

with

all_touchpoints as {{ journey_inline_cte() }} (select * from {{ ref('fct_touchpoints') }}),

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
    {%- if is_incremental() %}
        and customer_id in (select visitor_key from {{ ref('int_journeys__rebuild_scope') }})
    {%- endif %}
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

{%- if is_incremental() %}

-- The customers out of scope whose stored weeks end before the as-of week and before their last allowed week, and how
-- many weeks they get (the stored table holds no scope customer any more: the pre-hook deleted them).
extended as (
    select
        customer_id,
        last_week,
        cast(least(
            {{ dbt.datediff('last_week', 'as_of_week', 'day') }},
            {{ dbt.datediff('last_week', dbt.dateadd('day', '7 * (' ~ var('journey_max_weeks') ~ ' - 1)', 'first_week'), 'day') }}
        ) / 7 as integer) as new_weeks
    from (
        select customer_id, min(week_start) as first_week, max(week_start) as last_week
        from {{ stored_rows_kept('stored', lifecycle_weeks_rebuilt('stored')) }} as stored
        group by customer_id
    ) as stored
    cross join as_of
    where stored.last_week < as_of.as_of_week
),

new_offsets as (
    select week_offset from offsets
    where week_offset >= 1 and week_offset <= (select max(new_weeks) from extended)
),

{%- endif %}

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
{%- if is_incremental() %}

    union all

    select
        extended.customer_id,
        cast({{ dbt.dateadd('day', '7 * new_offsets.week_offset', 'extended.last_week') }} as date) as week_start,
        'dormant' as lifecycle_status,
        false as is_active,
        0 as active_touchpoints_count,
        0 as purchases_count,
        cast(0 as decimal(18, 2)) as reporting_revenue_amount
    from extended
    inner join new_offsets on new_offsets.week_offset <= extended.new_weeks
{%- endif %}
)

select * from final
