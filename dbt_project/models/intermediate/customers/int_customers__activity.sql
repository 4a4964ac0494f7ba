-- One row per customer with activity: the per-customer parts of customer_360 that do not depend on "now" or on
-- other customers - purchases, preferred channel/device/hour, sessions, e-mail engagement, support, reviews, the
-- latest cart. customer_360 adds the golden record, RFM scores (ranked among all buyers), recency and abandoned
-- carts (both as of now) in one pass over these narrow rows.
-- Preferences: the most frequent value among the customer's own actions; ties go to the most recent, then the name.
-- Incremental: a customer's row reads only their own touchpoints, sessions, tickets and reviews, so a build rewrites
-- the customers of int_customers__changed.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{{ delete_stored_rows('stored', 'stored.customer_id in (select customer_id from ' ~ ref('int_customers__changed') ~ ')') }}",
    )
}}
-- depends_on: {{ ref('int_customers__changed') }}

with

touchpoints as (
    select * from {{ ref('fct_touchpoints') }}
    where customer_id is not null
    {%- if is_incremental() %}
        and customer_id in (select customer_id from {{ ref('int_customers__changed') }})
    {%- endif %}
),
sessions as (
    select * from {{ ref('fct_sessions') }}
    where customer_id is not null
    {%- if is_incremental() %}
        and customer_id in (select customer_id from {{ ref('int_customers__changed') }})
    {%- endif %}
),
support_tickets as (select * from {{ ref('stg_support__tickets') }}),
reviews as (select * from {{ ref('stg_reviews__reviews') }}),

purchases as (
    select
        customer_id,
        count(*) as orders_count,
        sum(case when source_name = 'orders' then 1 else 0 end) as online_orders_count,
        sum(case when source_name = 'pos_transactions' then 1 else 0 end) as store_purchases_count,
        coalesce(sum(reporting_revenue_amount), 0) as lifetime_revenue_amount,
        min(occurred_at) as first_purchase_at,
        max(occurred_at) as last_purchase_at
    from touchpoints
    where is_conversion
    group by customer_id
),

channel_counts as (
    select customer_id, channel as value, count(*) as uses_count, max(occurred_at) as last_used_at
    from touchpoints
    where is_active
    group by customer_id, channel
),

device_counts as (
    select customer_id, device as value, count(*) as uses_count, max(started_at) as last_used_at
    from sessions
    where device is not null
    group by customer_id, device
),

hour_counts as (
    select
        customer_id,
        cast(extract(hour from occurred_at) as integer) as value,
        count(*) as uses_count,
        max(occurred_at) as last_used_at
    from touchpoints
    where is_active
    group by customer_id, cast(extract(hour from occurred_at) as integer)
),

preferences as (
    select 'channel' as preference, customer_id, cast(value as {{ dbt.type_string() }}) as value,
        row_number() over (partition by customer_id order by uses_count desc, last_used_at desc, value) as preference_rank
    from channel_counts
    union all
    select 'device', customer_id, cast(value as {{ dbt.type_string() }}),
        row_number() over (partition by customer_id order by uses_count desc, last_used_at desc, value)
    from device_counts
    union all
    select 'hour', customer_id, cast(value as {{ dbt.type_string() }}),
        row_number() over (partition by customer_id order by uses_count desc, last_used_at desc, value)
    from hour_counts
),

preferred as (
    select
        customer_id,
        max(case when preference = 'channel' then value end) as preferred_channel,
        max(case when preference = 'device' then value end) as preferred_device,
        cast(max(case when preference = 'hour' then value end) as integer) as preferred_hour_utc
    from preferences
    where preference_rank = 1
    group by customer_id
),

ranked_sessions as (
    select
        *,
        row_number() over (partition by customer_id order by started_at, session_id) as session_rank
    from sessions
),

session_stats as (
    select
        customer_id,
        count(*) as sessions_count,
        sum(case when is_converted then 1 else 0 end) as converted_sessions_count,
        sum(case when device = 'mobile' then 1 else 0 end) as mobile_sessions_count,
        max(started_at) as last_session_at,
        max(case when session_rank = 1 then channel end) as first_session_channel
    from ranked_sessions
    group by customer_id
),

email_stats as (
    select
        customer_id,
        sum(case when touchpoint_type = 'email_sent' then 1 else 0 end) as emails_sent_count,
        sum(case when touchpoint_type = 'email_open' then 1 else 0 end) as email_opens_count,
        sum(case when touchpoint_type = 'email_click' then 1 else 0 end) as email_clicks_count,
        max(case when touchpoint_type in ('email_open', 'email_click') then occurred_at end) as last_email_engagement_at
    from touchpoints
    where source_name = 'email_events'
    group by customer_id
),

support_stats as (
    select
        touchpoints.customer_id,
        count(*) as support_tickets_count,
        avg(cast(support_tickets.satisfaction_score as {{ journey_type_double() }})) as average_satisfaction_score
    from touchpoints
    inner join support_tickets on cast(support_tickets.ticket_id as {{ dbt.type_string() }}) = touchpoints.record_id
    where touchpoints.source_name = 'support_tickets'
    group by touchpoints.customer_id
),

review_stats as (
    select
        touchpoints.customer_id,
        count(*) as reviews_count,
        avg(cast(reviews.rating as {{ journey_type_double() }})) as average_rating
    from touchpoints
    inner join reviews on cast(reviews.review_id as {{ dbt.type_string() }}) = touchpoints.record_id
    where touchpoints.source_name = 'reviews'
    group by touchpoints.customer_id
),

cart_stats as (
    select customer_id, max(occurred_at) as last_cart_at
    from touchpoints
    where touchpoint_type = 'add_to_cart'
    group by customer_id
),

customers as (
    select customer_id from touchpoints
    union
    select customer_id from sessions
),

final as (
    select
        customers.customer_id,
        purchases.orders_count,
        purchases.online_orders_count,
        purchases.store_purchases_count,
        purchases.lifetime_revenue_amount,
        purchases.first_purchase_at,
        purchases.last_purchase_at,
        preferred.preferred_channel,
        preferred.preferred_device,
        preferred.preferred_hour_utc,
        session_stats.sessions_count,
        session_stats.converted_sessions_count,
        session_stats.mobile_sessions_count,
        session_stats.last_session_at,
        session_stats.first_session_channel,
        email_stats.emails_sent_count,
        email_stats.email_opens_count,
        email_stats.email_clicks_count,
        email_stats.last_email_engagement_at,
        support_stats.support_tickets_count,
        support_stats.average_satisfaction_score,
        review_stats.reviews_count,
        review_stats.average_rating,
        cart_stats.last_cart_at
    from customers
    left join purchases on purchases.customer_id = customers.customer_id
    left join preferred on preferred.customer_id = customers.customer_id
    left join session_stats on session_stats.customer_id = customers.customer_id
    left join email_stats on email_stats.customer_id = customers.customer_id
    left join support_stats on support_stats.customer_id = customers.customer_id
    left join review_stats on review_stats.customer_id = customers.customer_id
    left join cart_stats on cart_stats.customer_id = customers.customer_id
)

select * from final
