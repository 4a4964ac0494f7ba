-- One row per resolved person: golden attributes chosen by the survivorship rules (seed
-- identity_survivorship_rules) with the source and record each came from, consent from the latest explicit
-- signal, and activity.
-- Incremental: a build rewrites the customers of int_identity__dirty_customers only.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{{ delete_stored_rows('stored', is_dirty_customer('stored.customer_id')) }}",
    )
}}

-- depends_on: {{ ref('int_identity__dirty_customers') }}

with

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
    {%- if is_incremental() %}
    where {{ is_dirty_customer('customer_id') }}
    {%- endif %}
),
records as (select * from {{ ref('int_identity__records') }}),
{#- the per-customer inputs, read for the dirty customers only: the joins below are left joins from them, so
    DuckDB would otherwise aggregate and join every customer's rows before dropping all but the build's #}
{%- set dirty_only %}
    {%- if is_incremental() %}
    where {{ is_dirty_customer('customer_id') }}
    {%- endif %}
{%- endset %}
customer_ids as (select * from {{ ref('int_identity__customer_ids') }} {{ dirty_only }}),
identifiers as (select * from {{ ref('customer_identifiers') }} {{ dirty_only }}),
golden as (select * from {{ ref('int_identity__golden_attributes') }} {{ dirty_only }}),
consent as (select * from {{ ref('int_identity__customer_consent') }} {{ dirty_only }}),

record_stats as (
    select
        record_customers.customer_id,
        count(*) as source_record_count,
        count(distinct record_customers.source_name) as source_count,
        {{ listagg('distinct record_customers.source_name', "','", 'order by record_customers.source_name') }} as sources,
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

created as (
    select customer_id, min(customer_created_at) as customer_created_at
    from customer_ids
    group by customer_id
),

final as (
    select
        record_stats.customer_id,
        name.first_name,
        name.last_name,
        name.source_name as name_source,
        name.record_id as name_record_id,
        email.email,
        email.source_name as email_source,
        email.record_id as email_record_id,
        phone.phone,
        phone.source_name as phone_source,
        phone.record_id as phone_record_id,
        address.street,
        address.city,
        address.postcode,
        address.country,
        address.source_name as address_source,
        address.record_id as address_record_id,
        birth.birth_date,
        birth.source_name as birth_date_source,
        birth.record_id as birth_date_record_id,
        loyalty.loyalty_id,
        loyalty.source_name as loyalty_id_source,
        loyalty.record_id as loyalty_id_record_id,
        coalesce(marketing.is_granted, false) as marketing_consent,
        marketing.signal_at as marketing_consent_at,
        marketing.signal_kind as marketing_consent_signal,
        marketing.source_name as marketing_consent_source,
        marketing.record_id as marketing_consent_record_id,
        coalesce(personalization.is_granted, false) as personalization_consent,
        personalization.signal_at as personalization_consent_at,
        personalization.signal_kind as personalization_consent_signal,
        personalization.source_name as personalization_consent_source,
        personalization.record_id as personalization_consent_record_id,
        record_stats.first_seen_at,
        record_stats.last_seen_at,
        record_stats.source_record_count,
        record_stats.source_count,
        record_stats.sources,
        coalesce(identifier_stats.identifier_count, 0) as identifier_count,
        created.customer_created_at
    from record_stats
    left join identifier_stats on identifier_stats.customer_id = record_stats.customer_id
    left join created on created.customer_id = record_stats.customer_id
    left join golden as name on name.customer_id = record_stats.customer_id and name.attribute = 'name'
    left join golden as email on email.customer_id = record_stats.customer_id and email.attribute = 'email'
    left join golden as phone on phone.customer_id = record_stats.customer_id and phone.attribute = 'phone'
    left join golden as address on address.customer_id = record_stats.customer_id and address.attribute = 'address'
    left join golden as birth on birth.customer_id = record_stats.customer_id and birth.attribute = 'birth_date'
    left join golden as loyalty on loyalty.customer_id = record_stats.customer_id and loyalty.attribute = 'loyalty_id'
    left join consent as marketing
        on marketing.customer_id = record_stats.customer_id and marketing.consent_type = 'marketing'
    left join consent as personalization
        on personalization.customer_id = record_stats.customer_id and personalization.consent_type = 'personalization'
)

select * from final
