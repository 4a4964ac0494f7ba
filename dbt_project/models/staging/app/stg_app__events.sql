-- Mobile app events: one row per event_id (latest delivery wins), typed and normalised.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['event_id']) }}"),
    )
}}

with

source as (
    {{ staging_raw_rows('app_events', 'event_id') }}
),

enum_seed as (
    select * from {{ ref('staging_enum_values') }}
),

known_values as (
    {{ enum_values_for('enum_seed', 'app_events') }}
),

renamed as (
    select
        {{ nullif_blank('event_id') }} as event_id,
        {{ parse_timestamp('occurred_at', source_timezone('app_events')) }} as occurred_at,
        {{ nullif_blank('device_id') }} as device_id,
        {{ nullif_blank('user_id') }} as user_id,
        lower({{ nullif_blank('event_type') }}) as event_type_text,
        {{ nullif_blank('screen_name') }} as screen_name,
        {{ nullif_blank('campaign') }} as campaign,
        lower({{ nullif_blank('os') }}) as os_text,
        _source_file,
        _row_number,
        _export_date,
        _loaded_at
    from source
),

deduplicated as (
    {{ dedupe_latest_delivery('renamed', ['event_id']) }}
),

final as (
    select
        deduplicated.event_id,
        deduplicated.occurred_at,
        deduplicated.device_id,
        deduplicated.user_id,
        {{ map_enum('deduplicated.event_type_text', 'event_types.value') }} as event_type,
        deduplicated.screen_name,
        deduplicated.campaign,
        {{ map_enum('deduplicated.os_text', 'operating_systems.value') }} as os,
        deduplicated._source_file,
        deduplicated._row_number,
        deduplicated._export_date,
        deduplicated._loaded_at
    from deduplicated
    left join known_values as event_types
        on event_types.column_name = 'event_type'
        and event_types.value = deduplicated.event_type_text
    left join known_values as operating_systems
        on operating_systems.column_name = 'os'
        and operating_systems.value = deduplicated.os_text
),

stamped as (
    {{ stamp_changes('final', ['event_id']) }}
)

select * from stamped
