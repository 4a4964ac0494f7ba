-- One row per staged record key (an order or CRM contact with several versions is one record).
with

source_records as (select * from {{ ref('int_identity__source_records') }}),

final as (
    select
        source_name,
        record_id,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as version_count
    from source_records
    group by source_name, record_id
)

select * from final
