-- Credit of every touch of every conversion path under each attribution model; for each conversion and model
-- the credits sum to 1 and the revenue credits to the conversion value.
--   first_touch, last_touch: all credit to the first / last touch.
--   linear: 1 / touches.
--   time_decay: weight 0.5 ^ (time from touch to conversion / var attribution_time_decay_half_life_days),
--     normalised over the path.
--   position_based: var attribution_position_first_weight to the first touch, ..._last_weight to the last, the
--     rest shared by the touches between; a two-touch path splits first:last in that ratio; one touch gets 1.
--   markov: each channel of the path gets its removal effect (int_journeys__markov_removal_effects) divided by
--     the sum of the removal effects of the path's channels, shared equally by that channel's touches; linear
--     when all those removal effects are 0.
{%- set first_weight = var('attribution_position_first_weight') %}
{%- set last_weight = var('attribution_position_last_weight') %}
with

paths as (select * from {{ ref('int_journeys__paths') }} where is_converted),
removal_effects as (select * from {{ ref('int_journeys__markov_removal_effects') }}),

touches as (
    select
        paths.*,
        power(
            0.5,
            {{ journey_seconds_between('paths.touched_at', 'paths.conversion_at') }}
                / ({{ var('attribution_time_decay_half_life_days') }} * 86400.0)
        ) as decay_weight,
        coalesce(removal_effects.removal_effect, 0)
            / count(*) over (partition by paths.path_id, paths.channel) as markov_weight
    from paths
    left join removal_effects on removal_effects.channel = paths.channel
),

weighted as (
    select
        *,
        sum(decay_weight) over (partition by path_id) as path_decay_weight,
        sum(markov_weight) over (partition by path_id) as path_markov_weight
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

    union all

    select
        weighted.*,
        'markov',
        case
            when path_markov_weight > 0 then markov_weight / path_markov_weight
            else 1.0 / touches_count
        end
    from weighted
),

final as (
    select
        conversion_id,
        model,
        touch_id,
        touch_kind,
        touch_position,
        touches_count,
        touched_at,
        channel,
        channel_group,
        campaign,
        visitor_key,
        customer_id,
        conversion_source_name,
        conversion_at,
        conversion_value,
        is_fallback_touch,
        cast(credit as {{ journey_type_double() }}) as credit,
        cast(credit as {{ journey_type_double() }}) * conversion_value as revenue_credit
    from credits
)

select * from final
