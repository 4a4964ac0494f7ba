-- customer_360 before the predictions, one row per customer: the golden record (dim_customers) with behaviour -
-- purchases online and in store, RFM scores, preferred channel/device/hour, sessions, e-mail engagement, support,
-- reviews, abandoned cart, journey stage - and rule-based personalization segments. A customer without
-- personalization consent gets no segments (null), whatever their behaviour. "Now" is var journey_as_of, default the
-- latest touchpoint.
-- Rules: var customer_rfm_buckets, customer_at_risk_days, customer_mobile_first_share,
-- customer_abandoned_cart_hours; purchases are conversions (seed journey_stage_rules), revenue in the reporting
-- currency.
-- The per-customer activity comes from int_customers__activity and int_customers__open_carts (incremental: a night
-- reworks the customers it touched); this model adds what depends on "now" or on all customers (recency, RFM scores,
-- abandoned carts, at risk) in one pass over one row per customer.
-- marts.customer_360 is this table with the predictions, as a view: the prediction step writes
-- marts.customer_predictions after the dbt build, and the view shows them at once (docs/prediction.md).

with

customers as (select * from {{ ref('dim_customers') }}),
activity as (select * from {{ ref('int_customers__activity') }}),
open_carts as (select * from {{ ref('int_customers__open_carts') }}),
journeys as (select * from {{ ref('fct_customer_journeys') }}),
all_touchpoints as (select * from {{ ref('fct_touchpoints') }}),

as_of as (
    select {{ journey_as_of('all_touchpoints') }} as as_of_at
),

rfm_inputs as (
    select
        activity.customer_id,
        activity.orders_count,
        activity.lifetime_revenue_amount,
        {{ journey_days_between('activity.last_purchase_at', 'as_of.as_of_at') }} as recency_days
    from activity
    cross join as_of
    where activity.orders_count > 0
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

-- A cart is abandoned when no conversion of the customer followed within var customer_abandoned_cart_hours
-- (int_customers__open_carts) and that time has passed at the as-of time.
cart_stats as (
    select
        open_carts.customer_id,
        count(*) as abandoned_carts_count,
        max(open_carts.occurred_at) as last_abandoned_cart_at
    from open_carts
    cross join as_of
    where {{ dbt.dateadd('hour', var('customer_abandoned_cart_hours'), 'open_carts.occurred_at') }} < as_of.as_of_at
    group by open_carts.customer_id
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
        cast(coalesce(activity.orders_count, 0) as integer) as orders_count,
        cast(coalesce(activity.online_orders_count, 0) as integer) as online_orders_count,
        cast(coalesce(activity.store_purchases_count, 0) as integer) as store_purchases_count,
        cast(coalesce(activity.lifetime_revenue_amount, 0) as decimal(18, 2)) as lifetime_revenue_amount,
        activity.first_purchase_at,
        activity.last_purchase_at,
        {{ money_average('activity.lifetime_revenue_amount', 'activity.orders_count') }} as average_order_value_amount,
        rfm.recency_days,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        activity.preferred_channel,
        activity.preferred_device,
        activity.preferred_hour_utc,
        cast(coalesce(activity.sessions_count, 0) as integer) as sessions_count,
        cast(coalesce(activity.converted_sessions_count, 0) as integer) as converted_sessions_count,
        activity.last_session_at,
        cast(coalesce(activity.emails_sent_count, 0) as integer) as emails_sent_count,
        cast(coalesce(activity.email_opens_count, 0) as integer) as email_opens_count,
        cast(coalesce(activity.email_clicks_count, 0) as integer) as email_clicks_count,
        cast(activity.email_opens_count as {{ journey_type_double() }})
            / nullif(activity.emails_sent_count, 0) as email_open_rate,
        cast(activity.email_clicks_count as {{ journey_type_double() }})
            / nullif(activity.emails_sent_count, 0) as email_click_rate,
        activity.last_email_engagement_at,
        cast(coalesce(activity.support_tickets_count, 0) as integer) as support_tickets_count,
        activity.average_satisfaction_score,
        cast(coalesce(activity.reviews_count, 0) as integer) as reviews_count,
        activity.average_rating,
        cast(coalesce(cart_stats.abandoned_carts_count, 0) as integer) as abandoned_carts_count,
        cart_stats.last_abandoned_cart_at,
        coalesce(
            cart_stats.last_abandoned_cart_at is not null and cart_stats.last_abandoned_cart_at = activity.last_cart_at,
            false
        ) as has_abandoned_cart,
        journeys.current_stage,
        journeys.highest_stage,
        coalesce(activity.first_session_channel, journeys.first_touch_channel) as acquisition_channel,
        cast(activity.mobile_sessions_count as {{ journey_type_double() }})
            / nullif(activity.sessions_count, 0) as mobile_sessions_share
    from customers
    left join activity on activity.customer_id = customers.customer_id
    left join rfm on rfm.customer_id = customers.customer_id
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
