-- The channel of every combination of the attributes the channel rules match (source, touchpoint type, medium,
-- source, referrer domain; a few hundred), from seed journey_channel_rules: the matching rule with the lowest
-- rule_priority wins. int_journeys__touchpoints_channeled joins it back to the touchpoints.
-- Incremental: a build matches only the combinations its rewritten touchpoints bring that the table lacks (a
-- combination's channel depends on the rules alone; after changing them, run a full refresh).
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
    )
}}

with

touchpoints as (
    select * from {{ ref('int_journeys__touchpoints_unioned') }}
    {%- if is_incremental() %}
    where _build_number = (select max(_build_number) from {{ ref('int_journeys__touchpoints_unioned') }})
    {%- endif %}
),
channel_rules as (select * from {{ ref('journey_channel_rules') }}),

combinations as (
    select distinct
        source_name,
        touchpoint_type,
        coalesce(lower(traffic_medium), '') as traffic_medium,
        coalesce(lower(traffic_source), '') as traffic_source,
        coalesce(lower(referrer_domain), '') as referrer_domain
    from touchpoints
    {%- if is_incremental() %}
    except
    select source_name, touchpoint_type, traffic_medium, traffic_source, referrer_domain from {{ previous_build() }}
    {%- endif %}
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
        coalesce(channel_rules.is_path_channel, true) as is_path_channel,
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
        source_name, touchpoint_type, traffic_medium, traffic_source, referrer_domain, rule_priority, channel,
        channel_group, is_path_channel
    from matches
    where match_rank = 1
)

select * from final
