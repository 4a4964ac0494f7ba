-- Each touchpoint's own channel and channel group, from seed journey_channel_rules: the matching rule with the
-- lowest rule_priority wins. Rules are matched once per distinct combination of the matched attributes (a few
-- hundred), not once per touchpoint, then joined back.
{{ config(materialized='view') }}

with

touchpoints as (select * from {{ ref('int_journeys__touchpoints_unioned') }}),
channel_rules as (select * from {{ ref('journey_channel_rules') }}),

combinations as (
    select distinct
        source_name,
        touchpoint_type,
        coalesce(lower(traffic_medium), '') as traffic_medium,
        coalesce(lower(traffic_source), '') as traffic_source,
        coalesce(lower(referrer_domain), '') as referrer_domain
    from touchpoints
),

matches as (
    select
        combinations.source_name,
        combinations.touchpoint_type,
        combinations.traffic_medium,
        combinations.traffic_source,
        combinations.referrer_domain,
        channel_rules.rule_priority,
        channel_rules.channel,
        channel_rules.channel_group,
        channel_rules.is_path_channel,
        row_number() over (
            partition by
                combinations.source_name, combinations.touchpoint_type, combinations.traffic_medium,
                combinations.traffic_source, combinations.referrer_domain
            order by channel_rules.rule_priority, channel_rules.channel
        ) as match_rank
    from combinations
    inner join channel_rules
        on (channel_rules.source_name is null or channel_rules.source_name = combinations.source_name)
        and (channel_rules.touchpoint_type is null or channel_rules.touchpoint_type = combinations.touchpoint_type)
        and {{ journey_rule_matches('combinations.traffic_medium', 'channel_rules.traffic_medium') }}
        and {{ journey_rule_matches('combinations.traffic_source', 'channel_rules.traffic_source') }}
        and {{ journey_rule_matches('combinations.referrer_domain', 'channel_rules.referrer_domain') }}
),

final as (
    select
        touchpoints.*,
        matches.channel,
        matches.channel_group,
        coalesce(matches.is_path_channel, true) as is_path_channel,
        matches.rule_priority as channel_rule_priority
    from touchpoints
    left join matches
        on matches.match_rank = 1
        and matches.source_name = touchpoints.source_name
        and matches.touchpoint_type = touchpoints.touchpoint_type
        and matches.traffic_medium = coalesce(lower(touchpoints.traffic_medium), '')
        and matches.traffic_source = coalesce(lower(touchpoints.traffic_source), '')
        and matches.referrer_domain = coalesce(lower(touchpoints.referrer_domain), '')
)

select * from final
