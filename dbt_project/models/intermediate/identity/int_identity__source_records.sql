-- Every staged row of every source, reduced to what identity resolution needs: the record key, when it was
-- seen, and the identifiers it carries (one column per identifier type). Versions of an order or CRM contact
-- are separate rows here; they share the record key.
{{ config(materialized='view') }}

with

web_events as (select * from {{ ref('stg_web__events') }}),
app_events as (select * from {{ ref('stg_app__events') }}),
orders as (select * from {{ ref('stg_shop__orders') }}),
pos_transactions as (select * from {{ ref('stg_pos__transactions') }}),
email_events as (select * from {{ ref('stg_email__events') }}),
crm_contacts as (select * from {{ ref('stg_crm__contacts') }}),
support_tickets as (select * from {{ ref('stg_support__tickets') }}),
reviews as (select * from {{ ref('stg_reviews__reviews') }}),

unioned as (
    select
        'web_events' as source_name, cast(event_id as varchar) as record_id, occurred_at as observed_at,
        cast(null as varchar) as email, cast(null as varchar) as phone,
        cast(anonymous_id as varchar) as anonymous_id, cast(null as varchar) as device_id,
        cast(user_id as varchar) as user_id, cast(null as varchar) as loyalty_id,
        cast(null as varchar) as crm_contact_id
    from web_events
    union all
    select
        'app_events', cast(event_id as varchar), occurred_at,
        null, null, null, cast(device_id as varchar), cast(user_id as varchar), null, null
    from app_events
    union all
    select
        'orders', cast(order_id as varchar), order_updated_at,
        cast(email as varchar), cast(phone as varchar), null, null, cast(user_id as varchar), null, null
    from orders
    union all
    select
        'pos_transactions', cast(transaction_id as varchar), occurred_at,
        null, cast(phone as varchar), null, null, null, cast(loyalty_id as varchar), null
    from pos_transactions
    union all
    select
        'email_events', cast(event_id as varchar), occurred_at,
        cast(email as varchar), null, null, null, null, null, null
    from email_events
    union all
    select
        'crm_contacts', cast(contact_id as varchar), updated_at,
        cast(email as varchar), cast(phone as varchar), null, null, null, cast(loyalty_id as varchar),
        cast(contact_id as varchar)
    from crm_contacts
    union all
    select
        'support_tickets', cast(ticket_id as varchar), opened_at,
        cast(email as varchar), cast(phone as varchar), null, null, null, null, null
    from support_tickets
    union all
    select
        'reviews', cast(review_id as varchar), posted_at,
        cast(email as varchar), null, null, null, cast(user_id as varchar), null, null
    from reviews
),

-- Staging already normalises; this only makes blanks null and trims, so that a staging change cannot
-- silently turn '' into an identifier that links everyone.
final as (
    select
        source_name,
        record_id,
        observed_at,
        nullif(lower(trim(email)), '') as email,
        nullif(replace(trim(phone), ' ', ''), '') as phone,
        nullif(trim(anonymous_id), '') as anonymous_id,
        nullif(trim(device_id), '') as device_id,
        nullif(trim(user_id), '') as user_id,
        nullif(trim(loyalty_id), '') as loyalty_id,
        nullif(trim(crm_contact_id), '') as crm_contact_id
    from unioned
    where record_id is not null
)

select * from final
