-- fct_attribution is computed from the same touches as fct_conversion_paths.path_channels: for every conversion
-- and model the touches over its channels add up to the path length, the channels are the path's distinct
-- channels, and first/last touch credit the path's first/last channel. Returns the conversions that disagree.
-- It references several models; Dagster shows it as a check of the one it asserts about (meta dagster.ref).
-- An incremental build checks the conversions whose path or credits it wrote (macros/test_scope.sql `built_tonight`);
-- the credits the Markov post-hook updates in place change no touches or channels.
{{ config(meta={'dagster': {'ref': {'name': 'fct_attribution'}}}) }}
{%- set in_scope -%}
    ({{ built_tonight(ref('fct_conversion_paths'), 'conversion_id') }}
     or {{ built_tonight(ref('fct_attribution'), 'conversion_id') }})
{%- endset %}
with

paths as (
    select conversion_id, path_length, distinct_channels_count, first_touch_channel, last_touch_channel
    from {{ ref('fct_conversion_paths') }}
    where is_converted and {{ in_scope }}
),

attribution as (
    select
        conversion_id,
        model,
        sum(touches_count) as touches_count,
        count(*) as channels_count,
        max(case when credit = 1 then channel end) as full_credit_channel
    from {{ ref('fct_attribution') }}
    where {{ in_scope }}
    group by conversion_id, model
)

select paths.conversion_id, attribution.model, paths.path_length, attribution.touches_count,
    paths.distinct_channels_count, attribution.channels_count
from paths
left join attribution on attribution.conversion_id = paths.conversion_id
where attribution.conversion_id is null
    or attribution.touches_count <> paths.path_length
    or attribution.channels_count <> paths.distinct_channels_count
    or (attribution.model = 'first_touch' and attribution.full_credit_channel <> paths.first_touch_channel)
    or (attribution.model = 'last_touch' and attribution.full_credit_channel <> paths.last_touch_channel)
