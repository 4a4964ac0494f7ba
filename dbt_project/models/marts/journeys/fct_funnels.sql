-- Funnel conversion by funnel, weekly entry cohort, entry channel and step (per-visitor rows: fct_funnel_progress).
-- Every step of the funnel has a row for every cohort and entry channel, also when no visitor reached it.
with

progress as {{ journey_inline_cte() }} (select * from {{ ref('fct_funnel_progress') }}),
funnel_steps as (select * from {{ ref('journey_funnel_steps') }}),

step_names as (
    select funnel_name, step_order, max(step_name) as step_name
    from funnel_steps
    group by funnel_name, step_order
),

cohorts as (
    select distinct funnel_name, cohort_week, coalesce(entry_channel, '(none)') as entry_channel
    from progress
),

reached as (
    select
        funnel_name,
        cohort_week,
        coalesce(entry_channel, '(none)') as entry_channel,
        step_order,
        count(*) as reached_count,
        -- averaged over whole seconds (an exact integer sum), so reruns are identical to the bit
        round(avg(cast(round(hours_from_previous_step * 3600) as bigint)) / 3600.0, 6) as avg_hours_from_previous_step,
        {{ journey_median('hours_from_previous_step') }} as median_hours_from_previous_step,
        {{ journey_median('hours_from_entry') }} as median_hours_from_entry
    from progress
    group by funnel_name, cohort_week, coalesce(entry_channel, '(none)'), step_order
),

grid as (
    select
        cohorts.funnel_name,
        cohorts.cohort_week,
        cohorts.entry_channel,
        step_names.step_order,
        step_names.step_name,
        coalesce(reached.reached_count, 0) as reached_count,
        reached.avg_hours_from_previous_step,
        reached.median_hours_from_previous_step,
        reached.median_hours_from_entry
    from cohorts
    inner join step_names on step_names.funnel_name = cohorts.funnel_name
    left join reached
        on reached.funnel_name = cohorts.funnel_name
        and reached.cohort_week = cohorts.cohort_week
        and reached.entry_channel = cohorts.entry_channel
        and reached.step_order = step_names.step_order
),

final as (
    select
        funnel_name,
        cohort_week,
        entry_channel,
        cast(step_order as integer) as step_order,
        step_name,
        cast(max(case when step_order = 1 then reached_count end) over (
            partition by funnel_name, cohort_week, entry_channel
        ) as integer) as entrants_count,
        cast(reached_count as integer) as reached_count,
        cast(coalesce(lag(reached_count) over (
            partition by funnel_name, cohort_week, entry_channel order by step_order
        ), reached_count) - reached_count as integer) as dropped_off_count,
        cast(reached_count as {{ journey_type_double() }}) / nullif(lag(reached_count) over (
            partition by funnel_name, cohort_week, entry_channel order by step_order
        ), 0) as conversion_rate_from_previous_step,
        cast(reached_count as {{ journey_type_double() }}) / nullif(max(case when step_order = 1 then reached_count end) over (
            partition by funnel_name, cohort_week, entry_channel
        ), 0) as conversion_rate_from_entry,
        avg_hours_from_previous_step,
        median_hours_from_previous_step,
        median_hours_from_entry
    from grid
)

select * from final
