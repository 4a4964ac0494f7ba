-- Seed journey_stage_rules must cover every (source, touchpoint type) that occurs; a type without a rule would
-- silently get no stage and no conversion/path/activity flag. Returns the uncovered combinations.
-- It references several models; Dagster shows it as a check of the one it asserts about (meta dagster.ref).
{{ config(meta={'dagster': {'ref': {'name': 'fct_touchpoints'}}}) }}
select touchpoints.source_name, touchpoints.touchpoint_type, count(*) as touchpoints_count
from {{ ref('fct_touchpoints') }} as touchpoints
left join {{ ref('journey_stage_rules') }} as rules
    on rules.touchpoint_type = touchpoints.touchpoint_type
    and (rules.source_name is null or rules.source_name = touchpoints.source_name)
where rules.touchpoint_type is null
group by touchpoints.source_name, touchpoints.touchpoint_type
