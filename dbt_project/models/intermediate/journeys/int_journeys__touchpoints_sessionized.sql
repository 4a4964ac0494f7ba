-- Every touchpoint; web and app events (var session_sources) are cut into sessions per visitor across both:
-- a new session starts after more than var session_timeout_minutes without an event (a gap of exactly the timeout
-- stays in the session) and, when var session_split_at_midnight is true, at midnight UTC. Events that share a
-- timestamp are ordered by touchpoint_id. A session is named after its first event; its events carry the
-- channel, channel group, campaign and is_path_channel of that first event (the way the visitor arrived).
-- Incremental (docs/journeys.md "Incremental builds"): a run re-stitches only the visitors of the records that
-- int_journeys__touchpoints_unioned rewrote in this build (their visitor now and the one they belonged to), from
-- the start of the session in progress at the earliest such record's time (old or new): nothing of a visitor
-- before that point can change. Those rows carry the build's _build_number, the point they were rebuilt from
-- (_rebuild_from) and, for a record that moved to another visitor, the one it left (_previous_visitor_key,
-- _previous_rebuild_from); int_journeys__rebuild_scope reads them.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='touchpoint_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['touchpoint_id']) }}"),
    )
}}

{%- set session_sources -%}
    ({% for s in var('session_sources') %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %})
{%- endset %}

with

all_touchpoints as (select * from {{ ref('int_journeys__touchpoints_channeled') }}),

current_build as (
    select max(_build_number) as build_number from {{ ref('int_journeys__touchpoints_unioned') }}
),

{% if is_incremental() %}

-- Records rewritten upstream in this build, where they are now and where they were. (Each part reads only the
-- rows it needs of the 10-million-row tables: a CTE over a whole table that several parts read is materialised.)
changed_records as (
    select records.touchpoint_id, records.visitor_key, records.occurred_at
    from {{ ref('int_journeys__touchpoints_unioned') }} as records
    inner join current_build on current_build.build_number = records._build_number
),

moved_from as (
    select stored.visitor_key, stored.occurred_at
    from {{ previous_build() }} as stored
    where stored.touchpoint_id in (select touchpoint_id from changed_records)
),

changed_points as (
    select visitor_key, occurred_at from changed_records
    union all
    select visitor_key, occurred_at from moved_from
),

changed_visitors as (
    select visitor_key, min(occurred_at) as changed_from
    from changed_points
    group by visitor_key
),

-- The stored rows of those visitors, and of the changed records wherever they were.
previous as (
    select touchpoint_id, visitor_key, occurred_at, is_session_start from {{ previous_build() }}
    where visitor_key in (select visitor_key from changed_visitors)
        or touchpoint_id in (select touchpoint_id from changed_records)
),

-- Rebuild from the start of the visitor's session in progress at the change (events before it stay as they were).
rebuild_scope as (
    select
        changed_visitors.visitor_key,
        coalesce(max(previous.occurred_at), min(changed_visitors.changed_from)) as rebuild_from
    from changed_visitors
    left join previous
        on previous.visitor_key = changed_visitors.visitor_key
        and previous.is_session_start
        and previous.occurred_at <= changed_visitors.changed_from
    group by changed_visitors.visitor_key
),

touchpoints as (
    select
        all_touchpoints.*,
        rebuild_scope.rebuild_from as rebuild_from
    from all_touchpoints
    inner join rebuild_scope on rebuild_scope.visitor_key = all_touchpoints.visitor_key
    where all_touchpoints.occurred_at >= rebuild_scope.rebuild_from
),

{% else %}

touchpoints as (
    select
        all_touchpoints.*,
        cast(null as {{ dbt.type_timestamp() }}) as rebuild_from
    from all_touchpoints
),

{% endif %}

digital as (
    select
        *,
        lag(occurred_at) over (partition by visitor_key order by occurred_at, touchpoint_id) as previous_occurred_at
    from touchpoints
    where source_name in {{ session_sources }}
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

stitched as (
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
        currency, rebuild_from
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
        currency, rebuild_from
    from touchpoints
    where source_name not in {{ session_sources }}
),

final as (
    select
        stitched.touchpoint_id, stitched.source_name, stitched.record_id, stitched.occurred_at,
        stitched.customer_id, stitched.visitor_key, stitched.touchpoint_type, stitched.channel,
        stitched.channel_group, stitched.campaign, stitched.is_path_channel, stitched.own_channel,
        stitched.channel_rule_priority, stitched.session_id, stitched.is_session_start, stitched.traffic_medium,
        stitched.traffic_source, stitched.referrer_domain, stitched.device, stitched.device_os, stitched.page,
        stitched.order_status, stitched.revenue_amount, stitched.currency,
        -- build bookkeeping (see the header); not business columns
        current_build.build_number as _build_number,
        stitched.rebuild_from as _rebuild_from,
        {% if is_incremental() -%}
        case when previous.visitor_key <> stitched.visitor_key then previous.visitor_key end
            as _previous_visitor_key,
        case when previous.visitor_key <> stitched.visitor_key then previous_scope.rebuild_from end
            as _previous_rebuild_from
        {%- else -%}
        cast(null as {{ dbt.type_string() }}) as _previous_visitor_key,
        cast(null as {{ dbt.type_timestamp() }}) as _previous_rebuild_from
        {%- endif %}
    from stitched
    cross join current_build
    {%- if is_incremental() %}
    left join previous on previous.touchpoint_id = stitched.touchpoint_id
    left join rebuild_scope as previous_scope on previous_scope.visitor_key = previous.visitor_key
    {%- endif %}
)

select * from final
