-- The visitors whose journey rows the latest build of int_journeys__touchpoints_sessionized rewrote, and from
-- when: every incremental journey model deletes and recomputes exactly these visitors' rows from rebuild_from
-- on (sessions ending within one session timeout before it, paths converting at or after it plus the visitor's
-- non-converting path). rebuild_from is null when the whole visitor was rebuilt (a full build).
-- A visitor is here because one of its records changed, or because a record left it for another visitor
-- (identity resolution merged or split customers, or linked a cookie to a customer).
with

sessionized as {{ journey_inline_cte() }} (select * from {{ ref('int_journeys__touchpoints_sessionized') }}),

latest_build as (
    select max(_build_number) as build_number from sessionized
),

rebuilt as (
    select sessionized.*
    from sessionized
    inner join latest_build on latest_build.build_number = sessionized._build_number
),

points as (
    select visitor_key, _rebuild_from as rebuild_from
    from rebuilt

    union all

    select _previous_visitor_key, _previous_rebuild_from
    from rebuilt
    where _previous_visitor_key is not null
),

final as (
    select
        visitor_key,
        case
            when max(case when rebuild_from is null then 1 else 0 end) = 1 then null
            else min(rebuild_from)
        end as rebuild_from
    from points
    group by visitor_key
)

select * from final
