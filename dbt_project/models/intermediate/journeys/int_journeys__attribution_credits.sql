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
-- Incremental (docs/journeys.md "Incremental builds"): a run rewrites every model's credits of the conversions
-- int_journeys__paths rewrote (visitors of int_journeys__rebuild_scope, conversions at or after rebuild_from),
-- and the Markov credits of any other conversion whose channels' removal effects changed since its credits
-- were written (channel_removal_effect keeps the effect used). Removal effects are data-driven over all paths, so
-- in practice every night's new paths move them and most Markov credits are rewritten; the five rule-based
-- models never depend on other conversions. Rows written in a build carry its _build_number (fct_attribution
-- rolls those up).
{%- set first_weight = var('attribution_position_first_weight') %}
{%- set last_weight = var('attribution_position_last_weight') %}
{{
    config(
        materialized=incremental_materialization(),
        unique_key=['conversion_id', 'model'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{% if is_incremental() %}{{ delete_rebuild_scope('credit_rows', 'conversion_at') }}{% endif %}",
    )
}}
-- depends_on: {{ ref('int_journeys__rebuild_scope') }}
{#- A table written before credits kept their removal effect (an older version) has all its Markov credits redone. #}
{%- set previous_has_effects = true %}
{#- (in a unit test `this` is the name of the given rows, and they say what they hold) #}
{%- if execute and is_incremental() and this is not string %}
    {%- set previous_relation = adapter.get_relation(this.database, this.schema, this.identifier) %}
    {%- if previous_relation is not none %}
        {%- set previous_columns = adapter.get_columns_in_relation(previous_relation) | map(attribute='name') | map('lower') | list %}
        {%- set previous_has_effects = 'channel_removal_effect' in previous_columns %}
    {%- endif %}
{%- endif %}
with

converted_paths as (select * from {{ ref('int_journeys__paths') }} where is_converted),
removal_effects as (select * from {{ ref('int_journeys__markov_removal_effects') }}),

current_build as (
    select max(_build_number) as build_number from {{ ref('int_journeys__touchpoints_sessionized') }}
),

{% if is_incremental() %}

rebuilt_paths as (
    select credit_rows.*
    from converted_paths as credit_rows
    inner join {{ ref('int_journeys__rebuild_scope') }} as rebuild_scope
        on rebuild_scope.visitor_key = credit_rows.visitor_key
    where {{ rebuild_scope_reaches('credit_rows.conversion_at') }}
),

-- Markov credits written with a removal effect that has changed since (rebuilt conversions were deleted before).
stale_markov_conversions as (
    select distinct previous.conversion_id
    from {{ this }} as previous
    left join removal_effects on removal_effects.channel = previous.channel
    where previous.model = 'markov'
        {%- if previous_has_effects %}
        and (
            previous.channel_removal_effect is null
            or previous.channel_removal_effect <> coalesce(removal_effects.removal_effect, 0)
        )
        {%- endif %}
),

paths as (
    select rebuilt_paths.*, true as is_all_models
    from rebuilt_paths

    union all

    select converted_paths.*, false as is_all_models
    from converted_paths
    inner join stale_markov_conversions on stale_markov_conversions.conversion_id = converted_paths.conversion_id
),

{% else %}

paths as (select converted_paths.*, true as is_all_models from converted_paths),

{% endif %}

touches as (
    select
        paths.*,
        coalesce(removal_effects.removal_effect, 0) as channel_removal_effect,
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

-- Path totals summed as exact decimals: a float sum depends on the order the engine adds the rows in, and the
-- credits must come out the same to the bit in every build (incremental or full, rerun or not).
weighted as (
    select
        *,
        cast(sum(cast(decay_weight as decimal(38, 18))) over (partition by path_id) as {{ journey_type_double() }})
            as path_decay_weight,
        cast(sum(cast(markov_weight as decimal(38, 18))) over (partition by path_id) as {{ journey_type_double() }})
            as path_markov_weight
    from touches
),

credits as (
    select
        weighted.*,
        'first_touch' as model,
        cast(case when touch_position = 1 then 1 else 0 end as {{ journey_type_double() }}) as credit
    from weighted
    where is_all_models

    union all

    select
        weighted.*,
        'last_touch',
        cast(case when touch_position = touches_count then 1 else 0 end as {{ journey_type_double() }})
    from weighted
    where is_all_models

    union all

    select
        weighted.*,
        'linear',
        1.0 / touches_count
    from weighted
    where is_all_models

    union all

    select
        weighted.*,
        'time_decay',
        decay_weight / path_decay_weight
    from weighted
    where is_all_models

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
    where is_all_models

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
        cast(credit as {{ journey_type_double() }}) * conversion_value as revenue_credit,
        -- the removal effect a Markov credit was computed with (null for the other models)
        case when model = 'markov' then channel_removal_effect end as channel_removal_effect,
        current_build.build_number as _build_number
    from credits
    cross join current_build
)

select * from final
