-- Credit of every touch of every conversion path under each attribution model; for each conversion and model
-- the credits sum to 1 and the revenue credits to the conversion value.
--   first_touch, last_touch: all credit to the first / last touch.
--   linear: 1 / touches.
--   time_decay: weight 0.5 ^ (time from touch to conversion / var attribution_time_decay_half_life_days),
--     normalised over the path.
--   position_based: var attribution_position_first_weight to the first touch, ..._last_weight to the last, the
--     rest shared by the touches between; a two-touch path splits first:last in that ratio; one touch gets 1.
--   markov: not stored here (int_journeys__markov_credits works it out from these linear rows when read: the
--     removal effects move every night, and stored Markov credits were the largest nightly rewrite).
-- Incremental (docs/journeys.md "Incremental builds"): a run rewrites every model's credits of the conversions
-- int_journeys__paths rewrote (visitors of int_journeys__rebuild_scope, conversions at or after rebuild_from); the
-- five models never depend on other conversions. Rows written in a build carry its _build_number (fct_attribution
-- rolls those up). A table written by an older version, which stored Markov rows, loses them in the first build.
{%- set first_weight = var('attribution_position_first_weight') %}
{%- set last_weight = var('attribution_position_last_weight') %}
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key=['conversion_id', 'model'],
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['conversion_id', 'model', 'touch_id']) }}"),
        pre_hook=[
            "{% if is_incremental() %}{{ delete_rebuild_scope('credit_rows', 'conversion_at') }}{% endif %}",
            "{{ delete_stored_rows('credit_rows', 'credit_rows.model = ' ~ dbt.string_literal('markov')) }}",
        ],
    )
}}
-- depends_on: {{ ref('int_journeys__rebuild_scope') }}
with

converted_paths as (select * from {{ ref('int_journeys__paths') }} where is_converted),

current_build as (
    select max(_build_number) as build_number from {{ ref('int_journeys__touchpoints_sessionized') }}
),

{% if is_incremental() %}

paths as (
    select credit_rows.*
    from converted_paths as credit_rows
    inner join {{ ref('int_journeys__rebuild_scope') }} as rebuild_scope
        on rebuild_scope.visitor_key = credit_rows.visitor_key
    where {{ rebuild_scope_reaches('credit_rows.conversion_at') }}
),

{% else %}

paths as (select * from converted_paths),

{% endif %}

touches as (
    select
        paths.*,
        power(
            0.5,
            {{ journey_seconds_between('paths.touched_at', 'paths.conversion_at') }}
                / ({{ var('attribution_time_decay_half_life_days') }} * 86400.0)
        ) as decay_weight
    from paths
),

-- Path totals summed as exact decimals: a float sum depends on the order the engine adds the rows in, and the
-- credits must come out the same to the bit in every build (incremental or full, rerun or not).
weighted as (
    select
        *,
        cast(sum(cast(decay_weight as decimal(38, 18))) over (partition by path_id) as {{ journey_type_double() }})
            as path_decay_weight
    from touches
),

credits as (
    select
        weighted.*,
        'first_touch' as model,
        cast(case when touch_position = 1 then 1 else 0 end as {{ journey_type_double() }}) as credit
    from weighted

    union all

    select
        weighted.*,
        'last_touch',
        cast(case when touch_position = touches_count then 1 else 0 end as {{ journey_type_double() }})
    from weighted

    union all

    select
        weighted.*,
        'linear',
        1.0 / touches_count
    from weighted

    union all

    select
        weighted.*,
        'time_decay',
        decay_weight / path_decay_weight
    from weighted

    union all

    select
        weighted.*,
        'position_based',
        case
            when touches_count = 1 then 1
            when touches_count = 2 and touch_position = 1
                then cast({{ first_weight }} as {{ journey_type_double() }})
                    / cast({{ first_weight }} + {{ last_weight }} as {{ journey_type_double() }})
            when touches_count = 2
                then 1 - cast({{ first_weight }} as {{ journey_type_double() }})
                    / cast({{ first_weight }} + {{ last_weight }} as {{ journey_type_double() }})
            when touch_position = 1 then cast({{ first_weight }} as {{ journey_type_double() }})
            when touch_position = touches_count then cast({{ last_weight }} as {{ journey_type_double() }})
            else cast(1 - {{ first_weight }} - {{ last_weight }} as {{ journey_type_double() }}) / (touches_count - 2)
        end
    from weighted

),

final as (
    select
        conversion_id,
        model,
        {{ attribution_touch_columns() }},
        cast(credit as {{ journey_type_double() }}) as credit,
        cast(credit as {{ journey_type_double() }}) * conversion_value as revenue_credit,
        current_build.build_number as _build_number
    from credits
    cross join current_build
)

select * from final
