-- One row per customer: the golden record with behaviour, RFM scores, personalization segments
-- (int_customers__profiles) and the purchase predictions with what follows from them: p_alive,
-- expected_revenue_365d, value_tier, value_segment.
-- A view: the predictions come from marts.customer_predictions, which the prediction step writes after the dbt build
-- (docs/prediction.md); the view shows each night's predictions as soon as they are written, without a second dbt
-- build. Tiers: seed customer_value_tiers; segments: seed customer_prediction_segments (only with personalization
-- consent).
{{ config(materialized='view') }}

with

profiles as (select * from {{ ref('int_customers__profiles') }}),
predictions as (select * from {{ source('predictions', 'customer_predictions') }}),
value_tiers as (select * from {{ ref('customer_value_tiers') }}),
prediction_segments as (select * from {{ ref('customer_prediction_segments') }}),

-- The share of buyers whose expected revenue is at least the customer's (ties share it), and the tier that holds it.
revenue_ranks as (
    select
        customer_id,
        p_alive,
        expected_revenue_365d,
        cume_dist() over (order by expected_revenue_365d desc) as top_share
    from predictions
),

tiered as (
    select
        revenue_ranks.customer_id,
        revenue_ranks.p_alive,
        revenue_ranks.expected_revenue_365d,
        min_by(value_tiers.value_tier, value_tiers.top_share) as value_tier
    from revenue_ranks
    left join value_tiers on revenue_ranks.top_share <= value_tiers.top_share
    group by revenue_ranks.customer_id, revenue_ranks.p_alive, revenue_ranks.expected_revenue_365d
),

-- The first rule of seed customer_prediction_segments (by priority) whose conditions all hold; only with consent.
value_segments as (
    select
        profiles.customer_id,
        min_by(prediction_segments.segment, prediction_segments.priority) as value_segment
    from profiles
    inner join tiered on tiered.customer_id = profiles.customer_id
    inner join prediction_segments
        on (prediction_segments.min_monetary_score is null
            or profiles.monetary_score >= prediction_segments.min_monetary_score)
        and (prediction_segments.value_tier is null or tiered.value_tier = prediction_segments.value_tier)
        and (prediction_segments.min_p_alive is null or tiered.p_alive >= prediction_segments.min_p_alive)
        and (prediction_segments.max_p_alive is null or tiered.p_alive < prediction_segments.max_p_alive)
    where profiles.personalization_consent and tiered.p_alive is not null
    group by profiles.customer_id
),

final as (
    select
        profiles.customer_id,
        profiles.first_name,
        profiles.last_name,
        profiles.email,
        profiles.phone,
        profiles.city,
        profiles.country,
        profiles.loyalty_id,
        profiles.marketing_consent,
        profiles.personalization_consent,
        profiles.first_seen_at,
        profiles.last_seen_at,
        profiles.orders_count,
        profiles.online_orders_count,
        profiles.store_purchases_count,
        profiles.lifetime_revenue_amount,
        profiles.first_purchase_at,
        profiles.last_purchase_at,
        profiles.average_order_value_amount,
        profiles.recency_days,
        profiles.recency_score,
        profiles.frequency_score,
        profiles.monetary_score,
        profiles.preferred_channel,
        profiles.preferred_device,
        profiles.preferred_hour_utc,
        profiles.sessions_count,
        profiles.converted_sessions_count,
        profiles.last_session_at,
        profiles.emails_sent_count,
        profiles.email_opens_count,
        profiles.email_clicks_count,
        profiles.email_open_rate,
        profiles.email_click_rate,
        profiles.last_email_engagement_at,
        profiles.support_tickets_count,
        profiles.average_satisfaction_score,
        profiles.reviews_count,
        profiles.average_rating,
        profiles.abandoned_carts_count,
        profiles.last_abandoned_cart_at,
        profiles.has_abandoned_cart,
        profiles.current_stage,
        profiles.highest_stage,
        profiles.acquisition_channel,
        profiles.mobile_sessions_share,
        profiles.rfm_segment,
        profiles.visitor_segment,
        profiles.is_mobile_first,
        profiles.referral_source,
        profiles.is_at_risk,
        tiered.p_alive,
        cast(tiered.expected_revenue_365d as decimal(18, 2)) as expected_revenue_365d,
        tiered.value_tier,
        value_segments.value_segment
    from profiles
    left join tiered on tiered.customer_id = profiles.customer_id
    left join value_segments on value_segments.customer_id = profiles.customer_id
)

select * from final
