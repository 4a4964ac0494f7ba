-- One row per conversion and one per non-converting journey (see int_journeys__paths for the window rules),
-- with the ordered channels of its touches in three transforms: raw (path_channels, one per touch), repeats
-- collapsed (a channel repeated in a row counts once) and first occurrences only.
-- Incremental (docs/journeys.md "Incremental builds"): a run rewrites the paths int_journeys__paths rewrote -
-- for the visitors of int_journeys__rebuild_scope, conversions at or after rebuild_from and the non-converting
-- path.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='path_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['path_id', 'conversion_id']) }}"),
        pre_hook="{% if is_incremental() %}{{ delete_rebuild_scope('path_rows', 'conversion_at', also='not path_rows.is_converted') }}{% endif %}",
    )
}}
-- depends_on: {{ ref('int_journeys__rebuild_scope') }}
with

{% if is_incremental() %}

paths as (
    select path_rows.*
    from {{ ref('int_journeys__paths') }} as path_rows
    inner join {{ ref('int_journeys__rebuild_scope') }} as rebuild_scope
        on rebuild_scope.visitor_key = path_rows.visitor_key
    where {{ rebuild_scope_reaches('path_rows.conversion_at', also='not path_rows.is_converted') }}
),

{% else %}

paths as (select * from {{ ref('int_journeys__paths') }}),

{% endif %}

flagged as (
    select
        *,
        lag(channel) over (partition by path_id order by touch_position) as previous_channel,
        row_number() over (partition by path_id, channel order by touch_position) as channel_occurrence
    from paths
),

final as (
    select
        path_id,
        max(conversion_id) as conversion_id,
        visitor_key,
        max(customer_id) as customer_id,
        is_converted,
        max(conversion_source_name) as conversion_source_name,
        max(conversion_at) as conversion_at,
        min(touched_at) as path_started_at,
        max(touched_at) as path_ended_at,
        {{ journey_ordered_list('channel', 'touch_position') }} as path_channels,
        {{ journey_ordered_list(
            'channel', 'touch_position', 'previous_channel is null or previous_channel <> channel'
        ) }} as path_channels_collapsed,
        {{ journey_ordered_list('channel', 'touch_position', 'channel_occurrence = 1') }}
            as path_channels_first_occurrence,
        {{ dbt.listagg('channel', "' > '", 'order by touch_position') }} as path_string,
        cast(count(*) as integer) as path_length,
        cast(count(distinct channel) as integer) as distinct_channels_count,
        max(case when touch_position = 1 then channel end) as first_touch_channel,
        max(case when touch_position = touches_count then channel end) as last_touch_channel,
        max(case when is_fallback_touch then 1 else 0 end) = 1 as is_without_touches,
        case
            when is_converted then {{ journey_days_between('min(touched_at)', 'max(conversion_at)') }}
        end as days_to_convert,
        cast(coalesce(max(conversion_value), 0) as decimal(18, 2)) as conversion_value
    from flagged
    group by path_id, visitor_key, is_converted
)

select * from final
