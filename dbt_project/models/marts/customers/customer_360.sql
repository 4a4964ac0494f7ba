-- One row per customer: the golden record (dim_customers) with behaviour - purchases online and in store, RFM
-- scores, preferred channel/device/hour, sessions, e-mail engagement, support, reviews, abandoned cart, journey
-- stage - and rule-based personalization segments. A customer without personalization consent gets no segments
-- (null), whatever their behaviour. "Now" is var journey_as_of, default the latest touchpoint.
-- Rules: var customer_rfm_buckets, customer_at_risk_days, customer_mobile_first_share,
-- customer_abandoned_cart_hours; purchases are conversions (seed journey_stage_rules), revenue in the reporting
-- currency.
with

customers as (select * from {{ ref('dim_customers') }}),
all_touchpoints as (select * from {{ ref('fct_touchpoints') }}),
sessions as (select * from {{ ref('fct_sessions') }} where customer_id is not null),
journeys as (select * from {{ ref('fct_customer_journeys') }}),
support_tickets as (select * from {{ ref('stg_support__tickets') }}),
reviews as (select * from {{ ref('stg_reviews__reviews') }}),

touchpoints as (
    select * from all_touchpoints where customer_id is not null
),

as_of as (
    select {{ journey_as_of('all_touchpoints') }} as as_of_at
),

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

rfm_inputs as (
    select
        purchases.*,
        {{ journey_days_between('purchases.last_purchase_at', 'as_of.as_of_at') }} as recency_days
    from purchases
    cross join as_of
),

-- Scores 1..buckets, best = buckets; equal values share a score (cumulative distribution, not ntile).
rfm as (
    select
        customer_id,
        recency_days,
        cast(ceil(cume_dist() over (order by recency_days desc) * {{ var('customer_rfm_buckets') }}) as integer)
            as recency_score,
        cast(ceil(cume_dist() over (order by orders_count) * {{ var('customer_rfm_buckets') }}) as integer)
            as frequency_score,
        cast(ceil(cume_dist() over (order by lifetime_revenue_amount) * {{ var('customer_rfm_buckets') }}) as integer)
            as monetary_score
    from rfm_inputs
),

-- Preferences: the most frequent value among the customer's own actions; ties go to the most recent, then the name.
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

-- A cart is abandoned when no conversion of the customer follows within var customer_abandoned_cart_hours
-- (inclusive); a cart younger than that at the as-of time is not abandoned yet.
carts as (
    select
        carts.customer_id,
        carts.touchpoint_id,
        carts.occurred_at,
        max(case when conversions.touchpoint_id is not null then 1 else 0 end) as is_followed_by_conversion
    from touchpoints as carts
    left join touchpoints as conversions
        on conversions.customer_id = carts.customer_id
        and conversions.is_conversion
        and conversions.occurred_at >= carts.occurred_at
        and conversions.occurred_at
            <= {{ dbt.dateadd('hour', var('customer_abandoned_cart_hours'), 'carts.occurred_at') }}
    where carts.touchpoint_type = 'add_to_cart'
    group by carts.customer_id, carts.touchpoint_id, carts.occurred_at
),

cart_stats as (
    select
        carts.customer_id,
        sum(
            case when carts.is_followed_by_conversion = 0
                and {{ dbt.dateadd('hour', var('customer_abandoned_cart_hours'), 'carts.occurred_at') }} < as_of.as_of_at
            then 1 else 0 end
        ) as abandoned_carts_count,
        max(
            case when carts.is_followed_by_conversion = 0
                and {{ dbt.dateadd('hour', var('customer_abandoned_cart_hours'), 'carts.occurred_at') }} < as_of.as_of_at
            then carts.occurred_at end
        ) as last_abandoned_cart_at,
        max(carts.occurred_at) as last_cart_at
    from carts
    cross join as_of
    group by carts.customer_id
),

behaviour as (
    select
        customers.customer_id,
        customers.first_name,
        customers.last_name,
        customers.email,
        customers.phone,
        customers.city,
        customers.country,
        customers.loyalty_id,
        coalesce(customers.marketing_consent, false) as marketing_consent,
        coalesce(customers.personalization_consent, false) as personalization_consent,
        customers.first_seen_at,
        customers.last_seen_at,
        cast(coalesce(purchases.orders_count, 0) as integer) as orders_count,
        cast(coalesce(purchases.online_orders_count, 0) as integer) as online_orders_count,
        cast(coalesce(purchases.store_purchases_count, 0) as integer) as store_purchases_count,
        cast(coalesce(purchases.lifetime_revenue_amount, 0) as decimal(18, 2)) as lifetime_revenue_amount,
        purchases.first_purchase_at,
        purchases.last_purchase_at,
        cast(purchases.lifetime_revenue_amount / nullif(purchases.orders_count, 0) as decimal(18, 2))
            as average_order_value_amount,
        rfm.recency_days,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        preferred.preferred_channel,
        preferred.preferred_device,
        preferred.preferred_hour_utc,
        cast(coalesce(session_stats.sessions_count, 0) as integer) as sessions_count,
        cast(coalesce(session_stats.converted_sessions_count, 0) as integer) as converted_sessions_count,
        session_stats.last_session_at,
        cast(coalesce(email_stats.emails_sent_count, 0) as integer) as emails_sent_count,
        cast(coalesce(email_stats.email_opens_count, 0) as integer) as email_opens_count,
        cast(coalesce(email_stats.email_clicks_count, 0) as integer) as email_clicks_count,
        cast(email_stats.email_opens_count as {{ journey_type_double() }})
            / nullif(email_stats.emails_sent_count, 0) as email_open_rate,
        cast(email_stats.email_clicks_count as {{ journey_type_double() }})
            / nullif(email_stats.emails_sent_count, 0) as email_click_rate,
        email_stats.last_email_engagement_at,
        cast(coalesce(support_stats.support_tickets_count, 0) as integer) as support_tickets_count,
        support_stats.average_satisfaction_score,
        cast(coalesce(review_stats.reviews_count, 0) as integer) as reviews_count,
        review_stats.average_rating,
        cast(coalesce(cart_stats.abandoned_carts_count, 0) as integer) as abandoned_carts_count,
        cart_stats.last_abandoned_cart_at,
        coalesce(
            cart_stats.last_abandoned_cart_at is not null and cart_stats.last_abandoned_cart_at = cart_stats.last_cart_at,
            false
        ) as has_abandoned_cart,
        journeys.current_stage,
        journeys.highest_stage,
        coalesce(session_stats.first_session_channel, journeys.first_touch_channel) as acquisition_channel,
        cast(session_stats.mobile_sessions_count as {{ journey_type_double() }})
            / nullif(session_stats.sessions_count, 0) as mobile_sessions_share
    from customers
    left join purchases on purchases.customer_id = customers.customer_id
    left join rfm on rfm.customer_id = customers.customer_id
    left join preferred on preferred.customer_id = customers.customer_id
    left join session_stats on session_stats.customer_id = customers.customer_id
    left join email_stats on email_stats.customer_id = customers.customer_id
    left join support_stats on support_stats.customer_id = customers.customer_id
    left join review_stats on review_stats.customer_id = customers.customer_id
    left join cart_stats on cart_stats.customer_id = customers.customer_id
    left join journeys on journeys.customer_id = customers.customer_id
),

final as (
    select
        behaviour.*,
        case when behaviour.recency_score is not null then {{ dbt.concat([
            'cast(behaviour.recency_score as ' ~ dbt.type_string() ~ ')',
            'cast(behaviour.frequency_score as ' ~ dbt.type_string() ~ ')',
            'cast(behaviour.monetary_score as ' ~ dbt.type_string() ~ ')',
        ]) }} end as rfm_segment,
        -- Personalization segments: only with consent.
        case
            when not behaviour.personalization_consent then null
            when behaviour.sessions_count = 0 then null
            when behaviour.sessions_count = 1 then 'first_time_visitor'
            else 'repeat_visitor'
        end as visitor_segment,
        case
            when not behaviour.personalization_consent or behaviour.sessions_count = 0 then null
            else behaviour.mobile_sessions_share >= {{ var('customer_mobile_first_share') }}
        end as is_mobile_first,
        case when behaviour.personalization_consent then behaviour.acquisition_channel end as referral_source,
        case
            when not behaviour.personalization_consent then null
            else coalesce(behaviour.orders_count > 0 and behaviour.recency_days > {{ var('customer_at_risk_days') }}, false)
        end as is_at_risk
    from behaviour
)

select * from final
