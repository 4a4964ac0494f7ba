-- Web analytics events: one row per event_id (latest delivery wins), typed and normalised.
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
    {{ staging_raw_rows('web_events', 'event_id') }}
),

enum_seed as (
    select * from {{ ref('staging_enum_values') }}
),

known_values as (
    {{ enum_values_for('enum_seed', 'web_events') }}
),

renamed as (
    select
        {{ nullif_blank('event_id') }} as event_id,
        {{ parse_timestamp('occurred_at', source_timezone('web_events')) }} as occurred_at,
        {{ nullif_blank('anonymous_id') }} as anonymous_id,
        {{ nullif_blank('user_id') }} as user_id,
        lower({{ nullif_blank('event_type') }}) as event_type_text,
        {{ nullif_blank('page_url') }} as page_url,
        {{ nullif_blank('referrer_url') }} as referrer_url,
        {{ url_domain('referrer_url') }} as referrer_domain,
        {{ nullif_blank('utm_source') }} as utm_source,
        {{ nullif_blank('utm_medium') }} as utm_medium,
        {{ nullif_blank('utm_campaign') }} as utm_campaign,
        lower({{ nullif_blank('device_type') }}) as device_type_text,
        {{ nullif_blank('order_id') }} as order_id,
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
        deduplicated.anonymous_id,
        deduplicated.user_id,
        {{ map_enum('deduplicated.event_type_text', 'event_types.value') }} as event_type,
        deduplicated.page_url,
        deduplicated.referrer_url,
        deduplicated.referrer_domain,
        deduplicated.utm_source,
        deduplicated.utm_medium,
        deduplicated.utm_campaign,
        {{ map_enum('deduplicated.device_type_text', 'device_types.value') }} as device_type,
        deduplicated.order_id,
        deduplicated._source_file,
        deduplicated._row_number,
        deduplicated._export_date,
        deduplicated._loaded_at
    from deduplicated
    left join known_values as event_types
        on event_types.column_name = 'event_type'
        and event_types.value = deduplicated.event_type_text
    left join known_values as device_types
        on device_types.column_name = 'device_type'
        and device_types.value = deduplicated.device_type_text
),

stamped as (
    {{ stamp_changes('final', ['event_id']) }}
)

select * from stamped
