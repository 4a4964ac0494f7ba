-- In-store point-of-sale transactions: one row per transaction_id (latest delivery wins), typed and normalised.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='transaction_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
    )
}}

with

source as (
    {{ staging_raw_rows('pos_transactions', 'transaction_id') }}
),

renamed as (
    select
        {{ nullif_blank('transaction_id') }} as transaction_id,
        {{ parse_timestamp('occurred_at', source_timezone('pos_transactions')) }} as occurred_at,
        {{ nullif_blank('store_id') }} as store_id,
        {{ nullif_blank('loyalty_id') }} as loyalty_id,
        {{ normalize_phone('phone') }} as phone,
        {{ parse_amount('total_amount') }} as total_amount,
        upper({{ nullif_blank('currency') }}) as currency,
        {{ parse_integer('items_count') }} as items_count,
        _source_file,
        _row_number,
        _export_date,
        _loaded_at
    from source
),

deduplicated as (
    {{ dedupe_latest_delivery('renamed', ['transaction_id']) }}
),

final as (
    select
        transaction_id,
        occurred_at,
        store_id,
        loyalty_id,
        phone,
        total_amount,
        currency,
        items_count,
        _source_file,
        _row_number,
        _export_date,
        _loaded_at
    from deduplicated
),

stamped as (
    {{ stamp_changes('final', ['transaction_id']) }}
)

select * from stamped
