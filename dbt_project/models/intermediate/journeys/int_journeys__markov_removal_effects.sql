-- Data-driven (Markov chain) attribution: the removal effect of each channel.
-- 1. Every path (converting and not, from int_journeys__paths) becomes a walk (start) -> channels -> (conversion)
--    or (null), with repeats collapsed: a self-loop only delays a walk, so dropping it changes no absorption
--    probability and makes the iteration below converge faster.
-- 2. Transition probabilities: transitions from a state / all transitions from that state.
-- 3. For the full chain and for each channel removed (transitions into it go to (null)), the probability to be
--    absorbed in (conversion) from (start): the transition matrix squared var markov_squarings times
--    (2^n steps; 16 squarings are 65,536 steps), with (conversion) and (null) absorbing.
-- 4. removal_effect = 1 - P(conversion without the channel) / P(conversion); never below 0.
-- Probabilities and effects are rounded to 9 decimals, well above the precision of the iteration.
with

{#- the CTEs up to the one-step matrix, kept as text for the engines that square it in statements of their own (Spark:
    macros/journey_markov.sql) #}
{%- set chain_ctes %}
paths as (select * from {{ ref('int_journeys__paths') }}),

flagged as (
    select
        path_id,
        is_converted,
        channel,
        touch_position,
        lag(channel) over (partition by path_id order by touch_position) as previous_channel
    from paths
),

steps as (
    select
        path_id,
        is_converted,
        channel,
        lead(channel) over (partition by path_id order by touch_position) as next_channel,
        row_number() over (partition by path_id order by touch_position) as step_number
    from flagged
    where previous_channel is null or previous_channel <> channel
),

transitions as (
    select '(start)' as from_state, channel as to_state
    from steps
    where step_number = 1

    union all

    select
        channel as from_state,
        case
            when next_channel is not null then next_channel
            when is_converted then '(conversion)'
            else '(null)'
        end as to_state
    from steps
),

transition_counts as (
    select from_state, to_state, count(*) as transitions_count
    from transitions
    group by from_state, to_state
),

probabilities as (
    select
        from_state,
        to_state,
        cast(transitions_count as {{ journey_type_double() }})
            / sum(transitions_count) over (partition by from_state) as probability
    from transition_counts
),

channels as (
    select distinct channel from steps
),

scenarios as (
    select '(none)' as removed_channel
    union all
    select channel from channels
),

matrix_0 as {{ journey_materialized_cte() }} (
    select
        scenarios.removed_channel,
        probabilities.from_state,
        case when probabilities.to_state = scenarios.removed_channel then '(null)' else probabilities.to_state end
            as to_state,
        sum(probabilities.probability) as probability
    from scenarios
    cross join probabilities
    where probabilities.from_state <> scenarios.removed_channel
    group by 1, 2, 3

    union all
    select removed_channel, '(conversion)', '(conversion)', cast(1 as {{ journey_type_double() }}) from scenarios
    union all
    select removed_channel, '(null)', '(null)', cast(1 as {{ journey_type_double() }}) from scenarios
)
{%- endset %}
{{ chain_ctes }},

{{ markov_matrix_squarings('matrix', var('markov_squarings'), chain_ctes) }}

conversion_probabilities as (
    select
        scenarios.removed_channel,
        coalesce(absorbed.probability, 0) as conversion_probability
    from scenarios
    left join matrix_{{ var('markov_squarings') }} as absorbed
        on absorbed.removed_channel = scenarios.removed_channel
        and absorbed.from_state = '(start)'
        and absorbed.to_state = '(conversion)'
),

effects as (
    select
        channels.channel,
        base.conversion_probability,
        without.conversion_probability as conversion_probability_without_channel,
        case
            when base.conversion_probability > 0
                then greatest(0, 1 - without.conversion_probability / base.conversion_probability)
            else 0
        end as removal_effect
    from channels
    cross join conversion_probabilities as base
    inner join conversion_probabilities as without on without.removed_channel = channels.channel
    where base.removed_channel = '(none)'
),

final as (
    select
        channel,
        round(conversion_probability, 9) as conversion_probability,
        round(conversion_probability_without_channel, 9) as conversion_probability_without_channel,
        round(removal_effect, 9) as removal_effect,
        round(
            case when sum(removal_effect) over () > 0 then removal_effect / sum(removal_effect) over () else 0 end, 9
        ) as removal_effect_share
    from effects
)

select * from final
