-- Digital sessions (web and app, per visitor across both; see int_journeys__touchpoints_sessionized for the
-- rules). A session converted when a conversion of the same visitor (an order or a till sale) happened between
-- its start and var session_timeout_minutes after its last event; a conversion that qualifies for two sessions
-- belongs to the later one.
-- Incremental (docs/journeys.md "Incremental builds"): a run rewrites the sessions of the visitors of
-- int_journeys__rebuild_scope that end less than one session timeout before their rebuild_from (later sessions
-- may have changed; an earlier session's events and conversions cannot have).
{%- set timeout = var('session_timeout_minutes') %}
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='session_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['session_id']) }}"),
        pre_hook="{% if is_incremental() %}{{ delete_rebuild_scope('previous', 'ended_at', minutes_before=var('session_timeout_minutes')) }}{% endif %}",
    )
}}
-- depends_on: {{ ref('int_journeys__rebuild_scope') }}
with

all_touchpoints as {{ journey_inline_cte() }} (select * from {{ ref('fct_touchpoints') }}),

{% if is_incremental() %}

rebuild_scope as (select * from {{ ref('int_journeys__rebuild_scope') }}),

rebuilt_sessions as (
    select distinct all_touchpoints.session_id
    from all_touchpoints
    inner join rebuild_scope on rebuild_scope.visitor_key = all_touchpoints.visitor_key
    where all_touchpoints.session_id is not null
        and {{ rebuild_scope_reaches('all_touchpoints.occurred_at', minutes_before=timeout) }}
),

-- The events of those sessions, and every conversion of their visitors.
touchpoints as (
    select all_touchpoints.*
    from all_touchpoints
    left join rebuilt_sessions on rebuilt_sessions.session_id = all_touchpoints.session_id
    left join rebuild_scope on rebuild_scope.visitor_key = all_touchpoints.visitor_key
    where rebuilt_sessions.session_id is not null
        or (rebuild_scope.visitor_key is not null and all_touchpoints.is_conversion)
),

{% else %}

touchpoints as (select * from all_touchpoints),

{% endif %}

session_events as (
    select
        *,
        row_number() over (partition by session_id order by occurred_at, touchpoint_id) as event_position
    from touchpoints
    where session_id is not null
),

sessions as (
    select
        session_id,
        visitor_key,
        max(customer_id) as customer_id,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        count(*) as events_count,
        sum(case when touchpoint_type in ('page_view', 'screen_view') then 1 else 0 end) as page_views_count,
        sum(case when touchpoint_type in ('product_view') then 1 else 0 end) as product_views_count,
        sum(case when touchpoint_type in ('add_to_cart') then 1 else 0 end) as add_to_carts_count,
        max(case when is_path_touch then 1 else 0 end) = 1 as is_path_touch,
        max(case when event_position = 1 then source_name end) as entry_source_name,
        max(case when event_position = 1 then channel end) as channel,
        max(case when event_position = 1 then channel_group end) as channel_group,
        max(case when event_position = 1 then campaign end) as campaign,
        max(case when event_position = 1 then page end) as landing_page,
        max(case when event_position = 1 then device end) as device,
        max(case when event_position = 1 then device_os end) as device_os
    from session_events
    group by session_id, visitor_key
),

conversions as (
    select touchpoint_id, visitor_key, occurred_at, reporting_revenue_amount
    from touchpoints
    where is_conversion
),

session_conversions as (
    select
        sessions.session_id,
        conversions.touchpoint_id as conversion_id,
        conversions.occurred_at as converted_at,
        conversions.reporting_revenue_amount,
        row_number() over (
            partition by conversions.touchpoint_id order by sessions.started_at desc, sessions.session_id desc
        ) as session_rank
    from conversions
    inner join sessions
        on sessions.visitor_key = conversions.visitor_key
        and conversions.occurred_at >= sessions.started_at
        and conversions.occurred_at <= {{ dbt.dateadd('minute', var('session_timeout_minutes'), 'sessions.ended_at') }}
),

session_conversions_ordered as (
    select
        *,
        row_number() over (partition by session_id order by converted_at, conversion_id) as conversion_position
    from session_conversions
    where session_rank = 1
),

converted as (
    select
        session_id,
        count(*) as conversions_count,
        max(case when conversion_position = 1 then conversion_id end) as first_conversion_id,
        sum(reporting_revenue_amount) as reporting_revenue_amount
    from session_conversions_ordered
    group by session_id
),

final as (
    select
        sessions.session_id,
        sessions.visitor_key,
        sessions.customer_id,
        sessions.started_at,
        sessions.ended_at,
        cast({{ dbt.datediff('sessions.started_at', 'sessions.ended_at', 'second') }} as integer) as duration_seconds,
        cast(sessions.events_count as integer) as events_count,
        cast(sessions.page_views_count as integer) as page_views_count,
        cast(sessions.product_views_count as integer) as product_views_count,
        cast(sessions.add_to_carts_count as integer) as add_to_carts_count,
        sessions.entry_source_name,
        sessions.channel,
        sessions.channel_group,
        sessions.campaign,
        sessions.landing_page,
        sessions.device,
        sessions.device_os,
        sessions.is_path_touch,
        converted.session_id is not null as is_converted,
        cast(coalesce(converted.conversions_count, 0) as integer) as conversions_count,
        converted.first_conversion_id as conversion_id,
        cast(coalesce(converted.reporting_revenue_amount, 0) as decimal(18, 2)) as reporting_revenue_amount
    from sessions
    left join converted on converted.session_id = sessions.session_id
)

select * from final
