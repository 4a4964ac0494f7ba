-- One row per resolved person.
with

record_customers as (select * from {{ ref('int_identity__record_customers') }}),
records as (select * from {{ ref('int_identity__records') }}),
identifiers as (select * from {{ ref('customer_identifiers') }}),

record_stats as (
    select
        record_customers.customer_id,
        count(*) as source_record_count,
        min(records.first_seen_at) as first_seen_at,
        max(records.last_seen_at) as last_seen_at
    from record_customers
    inner join records
        on records.source_name = record_customers.source_name and records.record_id = record_customers.record_id
    where record_customers.customer_id is not null
    group by record_customers.customer_id
),

identifier_stats as (
    select customer_id, count(*) as identifier_count
    from identifiers
    group by customer_id
),

-- Most recently seen value per type (full survivorship rules come from a seed; see int_identity__golden_*).
latest_identifier as (
    select
        customer_id,
        identifier_type,
        identifier_value,
        row_number() over (
            partition by customer_id, identifier_type order by last_seen_at desc, identifier_value
        ) as recency_rank
    from identifiers
),

final as (
    select
        record_stats.customer_id,
        max(case when latest_identifier.identifier_type = 'email' then latest_identifier.identifier_value end) as email,
        max(case when latest_identifier.identifier_type = 'phone' then latest_identifier.identifier_value end) as phone,
        max(case when latest_identifier.identifier_type = 'loyalty_id' then latest_identifier.identifier_value end) as loyalty_id,
        record_stats.first_seen_at,
        record_stats.last_seen_at,
        record_stats.source_record_count,
        coalesce(identifier_stats.identifier_count, 0) as identifier_count
    from record_stats
    left join identifier_stats on identifier_stats.customer_id = record_stats.customer_id
    left join latest_identifier
        on latest_identifier.customer_id = record_stats.customer_id and latest_identifier.recency_rank = 1
    group by
        record_stats.customer_id, record_stats.first_seen_at, record_stats.last_seen_at,
        record_stats.source_record_count, identifier_stats.identifier_count
)

select * from final
