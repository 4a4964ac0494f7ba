-- In a funnel no step is reached by more visitors than the step before it (per cohort and entry channel).
select funnel_name, cohort_week, entry_channel, step_order, reached_count, previous_reached_count
from (
    select
        *,
        lag(reached_count) over (
            partition by funnel_name, cohort_week, entry_channel order by step_order
        ) as previous_reached_count
    from {{ ref('fct_funnels') }}
) as steps
where reached_count > previous_reached_count
