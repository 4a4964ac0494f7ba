-- One row per funnel, visitor and step reached (funnels and their steps: seed journey_funnel_steps; a step
-- matches a touchpoint when every filled column of one of its rows matches). A visitor enters a funnel at their
-- first touchpoint matching step 1; step k is reached at the first matching touchpoint at or after step k-1 and
-- at most var funnel_conversion_window_days after the entry (inclusive). Funnels have at most
-- var funnel_max_steps steps.
-- Incremental: a visitor's rows depend on their touchpoints only, so a build rewrites the visitors whose touchpoints
-- it rewrote (int_journeys__rebuild_scope).
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['funnel_name', 'visitor_key', 'step_order']) }}"),
        pre_hook="{{ delete_stored_rows('stored', 'stored.visitor_key in (select visitor_key from ' ~ ref('int_journeys__rebuild_scope') ~ ')') }}",
    )
}}
-- depends_on: {{ ref('int_journeys__rebuild_scope') }}

with

touchpoints as (
    select * from {{ ref('fct_touchpoints') }}
    {%- if is_incremental() %}
    where visitor_key in (select visitor_key from {{ ref('int_journeys__rebuild_scope') }})
    {%- endif %}
),
funnel_steps as (select * from {{ ref('journey_funnel_steps') }}),

matches as (
    select
        funnel_steps.funnel_name,
        funnel_steps.step_order,
        touchpoints.visitor_key,
        touchpoints.customer_id,
        touchpoints.touchpoint_id,
        touchpoints.occurred_at,
        touchpoints.channel
    from touchpoints
    inner join funnel_steps
        on (funnel_steps.source_name is null or funnel_steps.source_name = touchpoints.source_name)
        and (funnel_steps.touchpoint_type is null or funnel_steps.touchpoint_type = touchpoints.touchpoint_type)
        and (funnel_steps.journey_stage is null or funnel_steps.journey_stage = touchpoints.journey_stage)
        and (funnel_steps.is_conversion is null or funnel_steps.is_conversion = touchpoints.is_conversion)
),

ranked_entries as (
    select
        *,
        row_number() over (partition by funnel_name, visitor_key order by occurred_at, touchpoint_id) as entry_rank
    from matches
    where step_order = 1
),

entries as (
    select
        funnel_name,
        visitor_key,
        customer_id,
        occurred_at as entered_at,
        channel as entry_channel,
        {{ journey_week('occurred_at') }} as cohort_week
    from ranked_entries
    where entry_rank = 1
),

step_1 as (
    select funnel_name, visitor_key, entered_at as reached_at
    from entries
),

{% for k in range(2, var('funnel_max_steps') + 1) %}
step_{{ k }} as (
    select
        matches.funnel_name,
        matches.visitor_key,
        min(matches.occurred_at) as reached_at
    from matches
    inner join step_{{ k - 1 }} as previous_step
        on previous_step.funnel_name = matches.funnel_name and previous_step.visitor_key = matches.visitor_key
    inner join entries
        on entries.funnel_name = matches.funnel_name and entries.visitor_key = matches.visitor_key
    where matches.step_order = {{ k }}
        and matches.occurred_at >= previous_step.reached_at
        and matches.occurred_at <= {{ dbt.dateadd('day', var('funnel_conversion_window_days'), 'entries.entered_at') }}
    group by matches.funnel_name, matches.visitor_key
),
{% endfor %}

reached as (
{%- for k in range(1, var('funnel_max_steps') + 1) %}
    select funnel_name, visitor_key, {{ k }} as step_order, reached_at from step_{{ k }}
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
),

step_names as (
    select funnel_name, step_order, max(step_name) as step_name
    from funnel_steps
    group by funnel_name, step_order
),

final as (
    select
        reached.funnel_name,
        reached.visitor_key,
        entries.customer_id,
        cast(reached.step_order as integer) as step_order,
        step_names.step_name,
        reached.reached_at,
        entries.entered_at,
        entries.entry_channel,
        entries.cohort_week,
        {{ journey_seconds_between('entries.entered_at', 'reached.reached_at') }} / 3600.0 as hours_from_entry,
        {{ journey_seconds_between(
            'lag(reached.reached_at) over (partition by reached.funnel_name, reached.visitor_key order by reached.step_order)',
            'reached.reached_at'
        ) }} / 3600.0 as hours_from_previous_step
    from reached
    inner join entries
        on entries.funnel_name = reached.funnel_name and entries.visitor_key = reached.visitor_key
    inner join step_names
        on step_names.funnel_name = reached.funnel_name and step_names.step_order = reached.step_order
)

select * from final
