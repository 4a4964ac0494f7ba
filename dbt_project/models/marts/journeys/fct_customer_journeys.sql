-- One row per customer: when each journey stage was first reached, the days between stages, the current and
-- the highest stage, and how often the journey went back to an earlier stage (journeys are not linear).
-- Stage order: var journey_stage_order. First purchase and repeat purchase are the customer's first and second
-- conversions. The current stage and the regressions read only the customer's own actions (is_active): an
-- e-mail sent to them moves nothing. Touchpoints at the same time are read in stage order (a tie is never a
-- regression) and the latest of them sets the current stage.
-- Incremental: a customer's row depends on their touchpoints only, so a build rewrites the customers whose
-- touchpoints it rewrote (the visitors of int_journeys__rebuild_scope; a customer merged away loses its row).
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{{ delete_stored_rows('stored', 'stored.customer_id in (select visitor_key from ' ~ ref('int_journeys__rebuild_scope') ~ ')') }}",
    )
}}
-- depends_on: {{ ref('int_journeys__rebuild_scope') }}

with

touchpoints as (
    select
        *,
        {{ journey_stage_order('journey_stage') }} as stage_order
    from {{ ref('fct_touchpoints') }}
    where customer_id is not null
    {%- if is_incremental() %}
        and customer_id in (select visitor_key from {{ ref('int_journeys__rebuild_scope') }})
    {%- endif %}
),

firsts as (
    select
        customer_id,
        min(occurred_at) as first_touch_at,
        max(occurred_at) as last_touch_at,
        cast(count(*) as integer) as touchpoints_count,
        cast(sum(case when is_conversion then 1 else 0 end) as integer) as conversions_count,
        min(case when journey_stage = 'awareness' then occurred_at end) as awareness_at,
        min(case when journey_stage = 'consideration' then occurred_at end) as consideration_at,
        min(case when is_conversion and conversion_number = 1 then occurred_at end) as first_purchase_at,
        min(case when is_conversion and conversion_number = 2 then occurred_at end) as repeat_purchase_at,
        min(case when journey_stage = 'retention' then occurred_at end) as retention_at,
        min(case when journey_stage = 'advocacy' then occurred_at end) as advocacy_at,
        max(stage_order) as highest_stage_order,
        -- the first touch (by time, then touchpoint id): one aggregate instead of a row_number over every touch
        min_by(
            {{ journey_struct([('channel', 'channel'), ('channel_group', 'channel_group')]) }},
            {{ journey_struct([('occurred_at', 'occurred_at'), ('touchpoint_id', 'touchpoint_id')]) }}
        ) as first_touch
    from touchpoints
    group by customer_id
),

active_stages as (
    select
        customer_id,
        occurred_at,
        touchpoint_id,
        journey_stage,
        stage_order,
        lag(stage_order) over (
            partition by customer_id order by occurred_at, stage_order, touchpoint_id
        ) as previous_stage_order
    from touchpoints
    where is_active and stage_order is not null
),

progressions as (
    select
        customer_id,
        cast(sum(case when stage_order < previous_stage_order then 1 else 0 end) as integer)
            as stage_regressions_count,
        -- the latest active touch (by time, then stage order, then touchpoint id)
        max_by(
            {{ journey_struct([('journey_stage', 'journey_stage'), ('stage_order', 'stage_order')]) }},
            {{ journey_struct([('occurred_at', 'occurred_at'), ('stage_order', 'stage_order'), ('touchpoint_id', 'touchpoint_id')]) }}
        ) as latest_active
    from active_stages
    group by customer_id
),

final as (
    select
        firsts.customer_id,
        firsts.first_touch_at,
        firsts.last_touch_at,
        firsts.first_touch.channel as first_touch_channel,
        firsts.first_touch.channel_group as first_touch_channel_group,
        firsts.touchpoints_count,
        firsts.conversions_count,
        firsts.awareness_at,
        firsts.consideration_at,
        firsts.first_purchase_at,
        firsts.repeat_purchase_at,
        firsts.retention_at,
        firsts.advocacy_at,
        {{ journey_days_between('firsts.first_touch_at', 'firsts.first_purchase_at') }}
            as days_first_touch_to_first_purchase,
        {{ journey_days_between('firsts.awareness_at', 'firsts.consideration_at') }}
            as days_awareness_to_consideration,
        {{ journey_days_between('firsts.consideration_at', 'firsts.first_purchase_at') }}
            as days_consideration_to_first_purchase,
        {{ journey_days_between('firsts.first_purchase_at', 'firsts.repeat_purchase_at') }}
            as days_first_to_repeat_purchase,
        {{ journey_days_between('firsts.first_purchase_at', 'firsts.advocacy_at') }}
            as days_first_purchase_to_advocacy,
        cast(
            case when firsts.awareness_at is not null then 1 else 0 end
            + case when firsts.consideration_at is not null then 1 else 0 end
            + case when firsts.first_purchase_at is not null then 1 else 0 end
            + case when firsts.retention_at is not null then 1 else 0 end
            + case when firsts.advocacy_at is not null then 1 else 0 end
            as integer
        ) as stages_reached_count,
        case firsts.highest_stage_order
        {%- for name in var('journey_stage_order') %}
            when {{ loop.index }} then '{{ name }}'
        {%- endfor %}
        end as highest_stage,
        progressions.latest_active.journey_stage as current_stage,
        coalesce(progressions.stage_regressions_count, 0) as stage_regressions_count,
        coalesce(progressions.latest_active.stage_order < firsts.highest_stage_order, false) as is_regressed
    from firsts
    left join progressions on progressions.customer_id = firsts.customer_id
)

select * from final
