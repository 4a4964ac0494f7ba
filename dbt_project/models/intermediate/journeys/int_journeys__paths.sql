-- The touches of every path, one row per path and touch: the one list that fct_conversion_paths,
-- fct_attribution, fct_channel_transitions and the Markov model all read.
-- A conversion's path: the visitor's path touches from var attribution_lookback_days before the conversion up
-- to and including its time (both ends inclusive) and, when var attribution_reset_at_conversion is true, only
-- after the visitor's previous conversion (a touch at the very time of a conversion belongs to that one).
-- A conversion with no touch gets one touch: itself, with its own channel (a till sale: store).
-- A non-converting journey: the visitor's touches after their last conversion (all of them for a visitor who
-- never converted) within the lookback window before their last touch; Markov attribution needs these.
-- Touches at the same time are ordered by touch_id.
-- Incremental (docs/journeys.md "Incremental builds"): a run rewrites, for the visitors of
-- int_journeys__rebuild_scope, the paths of their conversions at or after rebuild_from and their non-converting
-- path; an earlier conversion's touches and previous conversion are all before rebuild_from and unchanged. It
-- reads those visitors' conversions and their touches from attribution_lookback_days before the earlier of
-- rebuild_from and their last touch.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key=['path_id', 'touch_id'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['path_id', 'touch_id', 'touch_position']) }}"),
        pre_hook="{% if is_incremental() %}{{ delete_rebuild_scope('previous', 'conversion_at', also='not previous.is_converted') }}{% endif %}",
    )
}}
-- depends_on: {{ ref('int_journeys__rebuild_scope') }}
with

all_touchpoints as (select * from {{ ref('fct_touchpoints') }}),
path_touches as (select * from {{ ref('int_journeys__path_touches') }}),

{% if is_incremental() %}

rebuild_scope as (select * from {{ ref('int_journeys__rebuild_scope') }}),

touchpoints as (
    select all_touchpoints.*, rebuild_scope.rebuild_from
    from all_touchpoints
    inner join rebuild_scope on rebuild_scope.visitor_key = all_touchpoints.visitor_key
    where all_touchpoints.is_conversion
),

visitor_touches as (
    select
        path_touches.*,
        rebuild_scope.rebuild_from,
        max(path_touches.touched_at) over (partition by path_touches.visitor_key) as last_touched_at
    from path_touches
    inner join rebuild_scope on rebuild_scope.visitor_key = path_touches.visitor_key
),

touches as (
    select touch_id, touch_kind, visitor_key, customer_id, touched_at, channel, channel_group, campaign
    from visitor_touches
    where rebuild_from is null
        or touched_at >= {{ dbt.dateadd(
            'day',
            -1 * var('attribution_lookback_days'),
            'case when last_touched_at < rebuild_from then last_touched_at else rebuild_from end'
        ) }}
),

{% else %}

touchpoints as (
    select all_touchpoints.*, cast(null as {{ dbt.type_timestamp() }}) as rebuild_from
    from all_touchpoints
),

touches as (select * from path_touches),

{% endif %}

conversions as (
    select
        touchpoint_id as conversion_id,
        source_name as conversion_source_name,
        visitor_key,
        customer_id,
        occurred_at as conversion_at,
        reporting_revenue_amount as conversion_value,
        channel,
        channel_group,
        campaign,
        lag(occurred_at) over (partition by visitor_key order by occurred_at, touchpoint_id) as previous_conversion_at,
        rebuild_from
    from touchpoints
    where is_conversion
),

-- The conversions whose paths this build writes (all of them in a full build).
rebuilt_conversions as (
    select * from conversions
    where rebuild_from is null or conversion_at >= rebuild_from
),

conversion_touches as (
    select
        conversions.conversion_id as path_id,
        conversions.conversion_id,
        conversions.conversion_source_name,
        conversions.visitor_key,
        conversions.customer_id,
        true as is_converted,
        conversions.conversion_at,
        conversions.conversion_value,
        touches.touch_id,
        touches.touch_kind,
        touches.touched_at,
        touches.channel,
        touches.channel_group,
        touches.campaign,
        false as is_fallback_touch
    from rebuilt_conversions as conversions
    inner join touches
        on touches.visitor_key = conversions.visitor_key
        and touches.touched_at <= conversions.conversion_at
        and touches.touched_at >= {{ dbt.dateadd('day', -1 * var('attribution_lookback_days'), 'conversions.conversion_at') }}
        {%- if var('attribution_reset_at_conversion') %}
        and (conversions.previous_conversion_at is null or touches.touched_at > conversions.previous_conversion_at)
        {%- endif %}
),

fallback_touches as (
    select
        conversions.conversion_id as path_id,
        conversions.conversion_id,
        conversions.conversion_source_name,
        conversions.visitor_key,
        conversions.customer_id,
        true as is_converted,
        conversions.conversion_at,
        conversions.conversion_value,
        conversions.conversion_id as touch_id,
        'conversion' as touch_kind,
        conversions.conversion_at as touched_at,
        conversions.channel,
        conversions.channel_group,
        conversions.campaign,
        true as is_fallback_touch
    from rebuilt_conversions as conversions
    where not exists (
        select 1 from conversion_touches where conversion_touches.conversion_id = conversions.conversion_id
    )
),

last_conversions as (
    select visitor_key, max(conversion_at) as last_conversion_at
    from conversions
    group by visitor_key
),

open_touches as (
    select
        touches.*,
        max(touches.touched_at) over (partition by touches.visitor_key) as last_touched_at
    from touches
    left join last_conversions on last_conversions.visitor_key = touches.visitor_key
    where last_conversions.last_conversion_at is null or touches.touched_at > last_conversions.last_conversion_at
),

non_converting_touches as (
    select
        {{ dbt.concat(["'no_conversion:'", 'visitor_key']) }} as path_id,
        cast(null as {{ dbt.type_string() }}) as conversion_id,
        cast(null as {{ dbt.type_string() }}) as conversion_source_name,
        visitor_key,
        customer_id,
        false as is_converted,
        cast(null as {{ dbt.type_timestamp() }}) as conversion_at,
        cast(null as decimal(18, 2)) as conversion_value,
        touch_id,
        touch_kind,
        touched_at,
        channel,
        channel_group,
        campaign,
        false as is_fallback_touch
    from open_touches
    where touched_at >= {{ dbt.dateadd('day', -1 * var('attribution_lookback_days'), 'last_touched_at') }}
),

all_touches as (
    select * from conversion_touches
    union all
    select * from fallback_touches
    union all
    select * from non_converting_touches
),

final as (
    select
        path_id,
        conversion_id,
        conversion_source_name,
        visitor_key,
        max(customer_id) over (partition by path_id) as customer_id,
        is_converted,
        conversion_at,
        conversion_value,
        touch_id,
        touch_kind,
        touched_at,
        channel,
        channel_group,
        campaign,
        is_fallback_touch,
        cast(row_number() over (partition by path_id order by touched_at, touch_id) as integer) as touch_position,
        cast(count(*) over (partition by path_id) as integer) as touches_count
    from all_touches
)

select * from final
