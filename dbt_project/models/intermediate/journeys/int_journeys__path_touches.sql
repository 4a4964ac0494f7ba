-- The marketing touches that paths and attribution are made of (seed journey_stage_rules, is_path_touch):
-- a web or app session counts once, at its start, with its entry channel and campaign (every event of a session
-- carries them), when one of its events is a path touch; any other path touchpoint (an e-mail open or click)
-- counts once, at its own time.
-- Incremental (docs/journeys.md "Incremental builds"): a run rewrites the touches of the visitors of
-- int_journeys__rebuild_scope from their rebuild_from on (a session starting before it ended before it).
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='touch_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['touch_id']) }}"),
        pre_hook="{% if is_incremental() %}{{ delete_rebuild_scope('previous', 'touched_at') }}{% endif %}",
    )
}}
-- depends_on: {{ ref('int_journeys__rebuild_scope') }}
with

all_touchpoints as (select * from {{ ref('fct_touchpoints') }}),

{% if is_incremental() %}

rebuild_scope as (select * from {{ ref('int_journeys__rebuild_scope') }}),

touchpoints as (
    select all_touchpoints.*
    from all_touchpoints
    inner join rebuild_scope on rebuild_scope.visitor_key = all_touchpoints.visitor_key
    where {{ rebuild_scope_reaches('all_touchpoints.occurred_at') }}
),

{% else %}

touchpoints as (select * from all_touchpoints),

{% endif %}

session_touches as (
    select
        session_id as touch_id,
        'session' as touch_kind,
        visitor_key,
        max(customer_id) as customer_id,
        min(occurred_at) as touched_at,
        max(channel) as channel,
        max(channel_group) as channel_group,
        max(campaign) as campaign
    from touchpoints
    where session_id is not null
    group by session_id, visitor_key
    having max(case when is_path_touch then 1 else 0 end) = 1
),

other_touches as (
    select
        touchpoint_id as touch_id,
        'touchpoint' as touch_kind,
        visitor_key,
        customer_id,
        occurred_at as touched_at,
        channel,
        channel_group,
        campaign
    from touchpoints
    where is_path_touch and session_id is null
),

final as (
    select * from session_touches
    union all
    select * from other_touches
)

select * from final
