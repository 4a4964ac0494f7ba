-- Email marketing events: one row per event_id (latest delivery wins), typed and normalised.
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
    {{ staging_raw_rows('email_events', 'event_id') }}
),

enum_seed as (
    select * from {{ ref('staging_enum_values') }}
),

known_values as (
    {{ enum_values_for('enum_seed', 'email_events') }}
),

renamed as (
    select
        {{ nullif_blank('event_id') }} as event_id,
        {{ parse_timestamp('occurred_at', source_timezone('email_events')) }} as occurred_at,
        {{ normalize_email('email') }} as email,
        {{ nullif_blank('campaign_id') }} as campaign_id,
        lower({{ nullif_blank('event_type') }}) as event_type_text,
        {{ nullif_blank('link_url') }} as link_url,
        {{ nullif_blank('subscriber_id') }} as subscriber_id,
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
        deduplicated.email,
        deduplicated.campaign_id,
        {{ map_enum('deduplicated.event_type_text', 'event_types.value') }} as event_type,
        deduplicated.link_url,
        deduplicated.subscriber_id,
        deduplicated._source_file,
        deduplicated._row_number,
        deduplicated._export_date,
        deduplicated._loaded_at
    from deduplicated
    left join known_values as event_types
        on event_types.column_name = 'event_type'
        and event_types.value = deduplicated.event_type_text
),

stamped as (
    {{ stamp_changes('final', ['event_id']) }}
)

select * from stamped
