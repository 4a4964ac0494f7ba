-- One row per (record, identifier): the identifier values each record carries, typed, across all its versions.
-- node_id ('email:ann@x.com') is the identifier's node in the identity graph.
with

source_records as (select * from {{ ref('int_identity__source_records') }}),

unpivoted as (
    select source_name, record_id, observed_at, 'email' as identifier_type, email as identifier_value
    from source_records where email is not null
    union all
    select source_name, record_id, observed_at, 'phone', phone from source_records where phone is not null
    union all
    select source_name, record_id, observed_at, 'anonymous_id', anonymous_id
    from source_records where anonymous_id is not null
    union all
    select source_name, record_id, observed_at, 'device_id', device_id from source_records where device_id is not null
    union all
    select source_name, record_id, observed_at, 'user_id', user_id from source_records where user_id is not null
    union all
    select source_name, record_id, observed_at, 'loyalty_id', loyalty_id from source_records where loyalty_id is not null
    union all
    select source_name, record_id, observed_at, 'crm_contact_id', crm_contact_id
    from source_records where crm_contact_id is not null
),

final as (
    select
        source_name,
        record_id,
        identifier_type,
        identifier_value,
        identifier_type || ':' || identifier_value as node_id,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at
    from unpivoted
    group by source_name, record_id, identifier_type, identifier_value
)

select * from final
