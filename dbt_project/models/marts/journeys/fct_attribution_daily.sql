-- Attributed conversions and revenue by conversion day, attribution model, channel and campaign (the campaign
-- of the touch; '(none)' when it had none). Sums of int_journeys__attribution_credits and, for markov,
-- int_journeys__markov_credits.
with

credits as (
    select {{ attribution_credit_columns() }} from {{ ref('int_journeys__attribution_credits') }}
    union all
    select {{ attribution_credit_columns() }} from {{ ref('int_journeys__markov_credits') }}
),

final as (
    select
        cast(conversion_at as date) as conversion_date,
        model,
        channel,
        max(channel_group) as channel_group,
        coalesce(campaign, '(none)') as campaign,
        -- exact decimal sums, rounded: the same to the bit whatever order the rows are added in
        cast(round(sum(cast(credit as decimal(38, 18))), 9) as {{ journey_type_double() }}) as attributed_conversions,
        cast(round(sum(cast(revenue_credit as decimal(38, 18))), 6) as {{ journey_type_double() }})
            as attributed_revenue_amount,
        cast(count(*) as integer) as touches_count,
        cast(count(distinct conversion_id) as integer) as conversions_touched_count
    from credits
    group by cast(conversion_at as date), model, channel, coalesce(campaign, '(none)')
)

select * from final
