-- Online shop orders: one row per order version (order_id, order_updated_at); exact re-deliveries removed.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
    )
}}

with

source as (
    {{ staging_raw_rows('orders', 'order_id') }}
),

enum_seed as (
    select * from {{ ref('staging_enum_values') }}
),

known_values as (
    {{ enum_values_for('enum_seed', 'orders') }}
),

renamed as (
    select
        {{ nullif_blank('order_id') }} as order_id,
        {{ parse_timestamp('order_updated_at', source_timezone('orders')) }} as order_updated_at,
        {{ parse_timestamp('placed_at', source_timezone('orders')) }} as placed_at,
        {{ nullif_blank('user_id') }} as user_id,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        {{ nullif_blank('first_name') }} as first_name,
        {{ nullif_blank('last_name') }} as last_name,
        {{ nullif_blank('street') }} as street,
        {{ nullif_blank('city') }} as city,
        upper({{ nullif_blank('postcode') }}) as postcode,
        {{ nullif_blank('country') }} as country,
        lower({{ nullif_blank('status') }}) as status_text,
        {{ parse_amount('total_amount') }} as total_amount,
        upper({{ nullif_blank('currency') }}) as currency,
        lower({{ nullif_blank('sales_channel') }}) as sales_channel_text,
        _source_file,
        _row_number,
        _export_date,
        _loaded_at
    from source
),

deduplicated as (
    {{ dedupe_latest_delivery('renamed', ['order_id', 'order_updated_at']) }}
),

final as (
    select
        deduplicated.order_id,
        deduplicated.order_updated_at,
        {{ dbt.concat([
            'deduplicated.order_id', "'@'",
            'cast(deduplicated.order_updated_at as ' ~ dbt.type_string() ~ ')'
        ]) }} as order_version_id,
        deduplicated.placed_at,
        deduplicated.user_id,
        deduplicated.email,
        deduplicated.phone,
        deduplicated.first_name,
        deduplicated.last_name,
        deduplicated.street,
        deduplicated.city,
        deduplicated.postcode,
        deduplicated.country,
        {{ map_enum('deduplicated.status_text', 'statuses.value') }} as status,
        deduplicated.total_amount,
        deduplicated.currency,
        {{ map_enum('deduplicated.sales_channel_text', 'sales_channels.value') }} as sales_channel,
        {{ is_latest_version('deduplicated.order_id', 'deduplicated.order_updated_at') }} as is_latest_version,
        deduplicated._source_file,
        deduplicated._row_number,
        deduplicated._export_date,
        deduplicated._loaded_at
    from deduplicated
    left join known_values as statuses
        on statuses.column_name = 'status'
        and statuses.value = deduplicated.status_text
    left join known_values as sales_channels
        on sales_channels.column_name = 'sales_channel'
        and sales_channels.value = deduplicated.sales_channel_text
),

stamped as (
    {{ stamp_changes('final', ['order_id', 'order_updated_at']) }}
)

select * from stamped
