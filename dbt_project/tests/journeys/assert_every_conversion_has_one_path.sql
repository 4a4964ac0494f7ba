-- Every conversion of fct_touchpoints has exactly one converting path, and every converting path is one.
-- It references several models; Dagster shows it as a check of the one it asserts about (meta dagster.ref).
{{ config(meta={'dagster': {'ref': {'name': 'fct_conversion_paths'}}}) }}
select touchpoints.touchpoint_id, paths.conversion_id
from (select touchpoint_id from {{ ref('fct_touchpoints') }} where is_conversion) as touchpoints
full outer join (select conversion_id from {{ ref('fct_conversion_paths') }} where is_converted) as paths
    on paths.conversion_id = touchpoints.touchpoint_id
where touchpoints.touchpoint_id is null or paths.conversion_id is null
