-- Customer support tickets: one row per ticket_id (latest delivery wins), typed and normalised.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='ticket_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
    )
}}

with

source as (
    {{ staging_raw_rows('support_tickets', 'ticket_id') }}
),

enum_seed as (
    select * from {{ ref('staging_enum_values') }}
),

known_values as (
    {{ enum_values_for('enum_seed', 'support_tickets') }}
),

renamed as (
    select
        {{ nullif_blank('ticket_id') }} as ticket_id,
        {{ parse_timestamp('opened_at', source_timezone('support_tickets')) }} as opened_at,
        {{ parse_timestamp('closed_at', source_timezone('support_tickets')) }} as closed_at,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        lower({{ nullif_blank('contact_channel') }}) as contact_channel_text,
        lower({{ nullif_blank('category') }}) as category_text,
        {{ parse_integer('satisfaction_score') }} as satisfaction_score,
        _source_file,
        _row_number,
        _export_date,
        _loaded_at
    from source
),

deduplicated as (
    {{ dedupe_latest_delivery('renamed', ['ticket_id']) }}
),

final as (
    select
        deduplicated.ticket_id,
        deduplicated.opened_at,
        deduplicated.closed_at,
        deduplicated.email,
        deduplicated.phone,
        {{ map_enum('deduplicated.contact_channel_text', 'contact_channels.value') }} as contact_channel,
        {{ map_enum('deduplicated.category_text', 'categories.value') }} as category,
        deduplicated.satisfaction_score,
        deduplicated._source_file,
        deduplicated._row_number,
        deduplicated._export_date,
        deduplicated._loaded_at
    from deduplicated
    left join known_values as contact_channels
        on contact_channels.column_name = 'contact_channel'
        and contact_channels.value = deduplicated.contact_channel_text
    left join known_values as categories
        on categories.column_name = 'category'
        and categories.value = deduplicated.category_text
),

stamped as (
    {{ stamp_changes('final', ['ticket_id']) }}
)

select * from stamped
