-- Credit per conversion, attribution model and channel of its path (the same touches as
-- fct_conversion_paths.path_channels; rules in int_journeys__attribution_credits). One row for every channel of
-- the path under every model, also when that model gives it no credit; per conversion and model the credits sum
-- to 1 and the revenue credits to the conversion value.
with

credits as (select * from {{ ref('int_journeys__attribution_credits') }}),

final as (
    select
        conversion_id,
        model,
        channel,
        max(channel_group) as channel_group,
        max(visitor_key) as visitor_key,
        max(customer_id) as customer_id,
        max(conversion_source_name) as conversion_source_name,
        max(conversion_at) as conversion_at,
        cast(max(conversion_at) as date) as conversion_date,
        max(conversion_value) as conversion_value,
        cast(count(*) as integer) as touches_count,
        -- rounded so that reruns and incremental builds are identical to the bit (float sums depend on order)
        round(sum(credit), 12) as credit,
        round(sum(revenue_credit), 8) as revenue_credit
    from credits
    group by conversion_id, model, channel
)

select * from final
