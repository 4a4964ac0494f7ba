-- Markov credit of every touch of every conversion path, worked out when read (a view): each channel of the path
-- gets its removal effect (int_journeys__markov_removal_effects) divided by the sum of the removal effects of the
-- path's channels, shared equally by that channel's touches; linear when all those removal effects are 0.
-- Removal effects are data-driven over all paths, so every night's new paths move them and with them the Markov
-- credit of nearly every conversion. Stored, these credits were the largest nightly rewrite of the warehouse
-- (every conversion's rows, spread over every row group of the credit tables: dead space that the publish step
-- then compacts); computed from the stored linear rows of int_journeys__attribution_credits (one per touch, the
-- path as it is) and the removal effects, they cost a read. fct_attribution and fct_attribution_daily add them to
-- the five rule-based models' stored credits.
{{ config(materialized='view') }}

with

linear_touches as (
    select * from {{ ref('int_journeys__attribution_credits') }} where model = 'linear'
),

removal_effects as (select * from {{ ref('int_journeys__markov_removal_effects') }}),

touches as (
    select
        linear_touches.*,
        coalesce(removal_effects.removal_effect, 0) as channel_removal_effect,
        coalesce(removal_effects.removal_effect, 0)
            / count(*) over (partition by linear_touches.conversion_id, linear_touches.channel) as markov_weight
    from linear_touches
    left join removal_effects on removal_effects.channel = linear_touches.channel
),

-- Path totals summed as exact decimals: a float sum depends on the order the engine adds the rows in, and the
-- credits must come out the same to the bit in every build and every read.
weighted as (
    select
        *,
        cast(sum(cast(markov_weight as decimal(38, 18))) over (partition by conversion_id) as {{ journey_type_double() }})
            as path_markov_weight
    from touches
),

credits as (
    select
        *,
        cast(
            case
                when path_markov_weight > 0 then markov_weight / path_markov_weight
                else 1.0 / touches_count
            end as {{ journey_type_double() }}
        ) as markov_credit
    from weighted
),

final as (
    select
        conversion_id,
        'markov' as model,
        {{ attribution_touch_columns() }},
        markov_credit as credit,
        markov_credit * conversion_value as revenue_credit,
        -- the removal effect the credit is computed with
        channel_removal_effect
    from credits
)

select * from final
