-- Every touchpoint; web and app events (var session_sources) are cut into sessions per visitor across both:
-- a new session starts after more than var session_timeout_minutes without an event (a gap of exactly the timeout
-- stays in the session) and, when var session_split_at_midnight is true, at midnight UTC. Events that share a
-- timestamp are ordered by touchpoint_id. A session is named after its first event; its events carry the
-- channel, channel group, campaign and is_path_channel of that first event (the way the visitor arrived).
with

touchpoints as (select * from {{ ref('int_journeys__touchpoints_channeled') }}),

digital as (
    select
        *,
        lag(occurred_at) over (partition by visitor_key order by occurred_at, touchpoint_id) as previous_occurred_at
    from touchpoints
    where source_name in ({% for s in var('session_sources') %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %})
),

flagged as (
    select
        *,
        case
            when previous_occurred_at is null then 1
            when {{ journey_seconds_between('previous_occurred_at', 'occurred_at') }}
                > {{ var('session_timeout_minutes') }} * 60 then 1
            {%- if var('session_split_at_midnight') %}
            when cast(previous_occurred_at as date) <> cast(occurred_at as date) then 1
            {%- endif %}
            else 0
        end as is_session_start
    from digital
),

numbered as (
    select
        *,
        sum(is_session_start) over (
            partition by visitor_key order by occurred_at, touchpoint_id
            rows between unbounded preceding and current row
        ) as session_number
    from flagged
),

sessioned as (
    select
        *,
        first_value(touchpoint_id) over session_window as session_first_touchpoint_id,
        first_value(channel) over session_window as session_channel,
        first_value(channel_group) over session_window as session_channel_group,
        first_value(campaign) over session_window as session_campaign,
        first_value(is_path_channel) over session_window as session_is_path_channel
    from numbered
    window session_window as (
        partition by visitor_key, session_number order by occurred_at, touchpoint_id
        rows between unbounded preceding and unbounded following
    )
),

final as (
    select
        touchpoint_id, source_name, record_id, occurred_at, customer_id, visitor_key, touchpoint_type,
        session_channel as channel,
        session_channel_group as channel_group,
        session_campaign as campaign,
        session_is_path_channel as is_path_channel,
        channel as own_channel,
        channel_rule_priority,
        {{ dbt.concat(["'session:'", 'session_first_touchpoint_id']) }} as session_id,
        is_session_start = 1 as is_session_start,
        traffic_medium, traffic_source, referrer_domain, device, device_os, page, order_status, revenue_amount,
        currency
    from sessioned

    union all

    select
        touchpoint_id, source_name, record_id, occurred_at, customer_id, visitor_key, touchpoint_type,
        channel,
        channel_group,
        campaign,
        is_path_channel,
        channel as own_channel,
        channel_rule_priority,
        cast(null as {{ dbt.type_string() }}) as session_id,
        cast(null as {{ dbt.type_boolean() }}) as is_session_start,
        traffic_medium, traffic_source, referrer_domain, device, device_os, page, order_status, revenue_amount,
        currency
    from touchpoints
    where source_name not in ({% for s in var('session_sources') %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %})
)

select * from final
