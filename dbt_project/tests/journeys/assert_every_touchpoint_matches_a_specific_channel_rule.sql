-- Warn when touchpoints fall through to the catch-all channel rule (channel_group 'other'): the channel mapping
-- seed journey_channel_rules needs a rule for them. Returns the unmapped attribute combinations.
{{ config(severity='warn') }}
select source_name, touchpoint_type, traffic_medium, traffic_source, referrer_domain, count(*) as touchpoints_count
from {{ ref('fct_touchpoints') }}
where channel_group = 'other'
group by source_name, touchpoint_type, traffic_medium, traffic_source, referrer_domain
