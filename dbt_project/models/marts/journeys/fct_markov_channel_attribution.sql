-- The standard Markov attribution (Anderl, Becker, von Wangenheim and Schumann 2016): one row per channel, the
-- total conversions and revenue of all paths distributed over the channels in proportion to their removal effects
-- (int_journeys__markov_removal_effects: a first-order chain over every path, converting or not, from (start)
-- to (conversion) or (null)).
--   attributed_conversions = all conversions * removal_effect / the sum of the removal effects
--   attributed_revenue     = all conversion value * the same share
-- Beside them, for comparison, the channel's sums of the per-conversion markov credits of fct_attribution. Those
-- share each conversion among its own path's channels only, so a channel that many conversions have as their
-- only channel (store: till sales without touches) gets more there than here, and other channels less;
-- docs/journeys.md "Markov attribution: two allocations".
-- A global model (every path moves every removal effect): rebuilt in full each run, a few rows.
with

paths as (select * from {{ ref('int_journeys__paths') }}),
removal_effects as (select * from {{ ref('int_journeys__markov_removal_effects') }}),
markov_credits as (select * from {{ ref('fct_attribution') }} where model = 'markov'),

conversions as (
    select
        cast(count(*) as integer) as conversions_count,
        sum(conversion_value) as conversion_value
    from (select distinct path_id, conversion_value from paths where is_converted) as converted_paths
),

channel_paths as (
    select
        channel,
        cast(count(distinct path_id) as integer) as paths,
        cast(count(distinct case when is_converted then path_id end) as integer) as conversions_on_paths
    from paths
    group by channel
),

-- The data the model was estimated on reaches up to here: the latest touch or conversion of any path.
as_of as (
    select max(coalesce(conversion_at, touched_at)) as as_of
    from paths
),

-- Exact decimal sums: the same to the bit whatever order the rows are added in (incremental build = full build).
effect_total as (
    select sum(cast(removal_effect as decimal(38, 18))) as removal_effect_sum
    from removal_effects
),

per_conversion as (
    select
        channel,
        sum(cast(credit as decimal(38, 18))) as credits,
        sum(cast(revenue_credit as decimal(38, 18))) as revenue_credits
    from markov_credits
    group by channel
),

shares as (
    select
        removal_effects.channel,
        removal_effects.removal_effect,
        removal_effects.removal_effect_share,
        case
            when effect_total.removal_effect_sum > 0
                {#- in double, as DuckDB divides decimals; Spark's decimal(38, 18) quotient keeps 6 decimals #}
                then cast(cast(removal_effects.removal_effect as decimal(38, 18)) as {{ journey_type_double() }})
                    / cast(effect_total.removal_effect_sum as {{ journey_type_double() }})
            else 0
        end as exact_share
    from removal_effects
    cross join effect_total
),

final as (
    select
        shares.channel,
        cast(shares.removal_effect as {{ journey_type_double() }}) as removal_effect,
        cast(shares.removal_effect_share as {{ journey_type_double() }}) as removal_effect_share,
        cast(round(shares.exact_share * coalesce(conversions.conversions_count, 0), 9) as {{ journey_type_double() }})
            as attributed_conversions,
        cast(round(shares.exact_share * coalesce(conversions.conversion_value, 0), 6) as {{ journey_type_double() }})
            as attributed_revenue,
        coalesce(channel_paths.paths, 0) as paths,
        coalesce(channel_paths.conversions_on_paths, 0) as conversions_on_paths,
        cast(round(coalesce(per_conversion.credits, 0), 9) as {{ journey_type_double() }}) as per_conversion_credits,
        cast(round(coalesce(per_conversion.revenue_credits, 0), 6) as {{ journey_type_double() }})
            as per_conversion_revenue_credits,
        as_of.as_of
    from shares
    cross join conversions
    cross join as_of
    left join channel_paths on channel_paths.channel = shares.channel
    left join per_conversion on per_conversion.channel = shares.channel
)

select * from final
