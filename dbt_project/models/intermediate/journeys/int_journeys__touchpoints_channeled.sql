-- Each touchpoint's own channel and channel group: the rule int_journeys__channel_matches chose for its combination
-- of matched attributes (seed journey_channel_rules; rules are matched once per combination, not per touchpoint).
-- A view: int_journeys__touchpoints_sessionized reads it for the visitors it re-stitches only.
{{ config(materialized='view') }}

with

touchpoints as (select * from {{ ref('int_journeys__touchpoints_unioned') }}),
matches as (select * from {{ ref('int_journeys__channel_matches') }}),

final as (
    select
        touchpoints.*,
        matches.channel,
        matches.channel_group,
        coalesce(matches.is_path_channel, true) as is_path_channel,
        matches.rule_priority as channel_rule_priority
    from touchpoints
    left join matches
        on matches.source_name = touchpoints.source_name
        and matches.touchpoint_type = touchpoints.touchpoint_type
        and matches.traffic_medium = coalesce(lower(touchpoints.traffic_medium), '')
        and matches.traffic_source = coalesce(lower(touchpoints.traffic_source), '')
        and matches.referrer_domain = coalesce(lower(touchpoints.referrer_domain), '')
)

select * from final
