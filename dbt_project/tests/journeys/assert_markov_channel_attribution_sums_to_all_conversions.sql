-- The standard Markov model distributes all conversions and all conversion value: fct_markov_channel_attribution's
-- attributed conversions sum to the converting paths of fct_conversion_paths (within 1e-6) and its attributed
-- revenue to their value (within a cent), whenever any path converted. Returns a row when they do not.
-- It references several models; Dagster shows it as a check of the one it asserts about (meta dagster.ref).
{{ config(meta={'dagster': {'ref': {'name': 'fct_markov_channel_attribution'}}}) }}
with

totals as (
    select
        count(*) as conversions_count,
        coalesce(sum(conversion_value), 0) as conversion_value
    from {{ ref('fct_conversion_paths') }}
    where is_converted
),

attributed as (
    select
        coalesce(sum(attributed_conversions), 0) as attributed_conversions,
        coalesce(sum(attributed_revenue), 0) as attributed_revenue
    from {{ ref('fct_markov_channel_attribution') }}
)

select *
from totals
cross join attributed
where totals.conversions_count > 0
    and (
        abs(attributed.attributed_conversions - totals.conversions_count) > 1e-6
        or abs(attributed.attributed_revenue - totals.conversion_value) > 0.01
    )
