-- Product reviews from review platforms: one row per review_id (latest delivery wins), typed and normalised.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='review_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
    )
}}

with

source as (
    {{ staging_raw_rows('reviews', 'review_id') }}
),

enum_seed as (
    select * from {{ ref('staging_enum_values') }}
),

known_values as (
    {{ enum_values_for('enum_seed', 'reviews') }}
),

renamed as (
    select
        {{ nullif_blank('review_id') }} as review_id,
        {{ parse_timestamp('posted_at', source_timezone('reviews')) }} as posted_at,
        {{ normalize_email('email') }} as email,
        {{ nullif_blank('user_id') }} as user_id,
        lower({{ nullif_blank('platform') }}) as platform_text,
        {{ parse_integer('rating') }} as rating,
        {{ nullif_blank('product_id') }} as product_id,
        _source_file,
        _row_number,
        _export_date,
        _loaded_at
    from source
),

deduplicated as (
    {{ dedupe_latest_delivery('renamed', ['review_id']) }}
),

final as (
    select
        deduplicated.review_id,
        deduplicated.posted_at,
        deduplicated.email,
        deduplicated.user_id,
        {{ map_enum('deduplicated.platform_text', 'platforms.value') }} as platform,
        deduplicated.rating,
        deduplicated.product_id,
        deduplicated._source_file,
        deduplicated._row_number,
        deduplicated._export_date,
        deduplicated._loaded_at
    from deduplicated
    left join known_values as platforms
        on platforms.column_name = 'platform'
        and platforms.value = deduplicated.platform_text
),

stamped as (
    {{ stamp_changes('final', ['review_id']) }}
)

select * from stamped
