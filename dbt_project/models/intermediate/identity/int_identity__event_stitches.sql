-- Event stitching: links between an anonymous visitor and a known person that no single record carries,
-- read from two records that describe the same moment. Each stitch is a virtual record carrying the
-- identifiers of both sides, so it goes through the same guards as any record. Rules (var identity_stitching):
-- - guest_checkout: a web purchase event without an account and a web order placed within window_seconds of
--   it; links the visitor cookie to the order's e-mail, phone and account;
-- - email_click_through: a newsletter click and the web page view (utm_medium email) or app open carrying the
--   same campaign within window_seconds after it; links the cookie or device to the e-mail.
-- A stitch is made only when the match is unique both ways: one candidate on each side within the window.
{%- set rules = var('identity_stitching') %}

with

web_events as (select * from {{ ref('stg_web__events') }}),
app_events as (select * from {{ ref('stg_app__events') }}),
orders as (select * from {{ ref('stg_shop__orders') }}),
email_events as (select * from {{ ref('stg_email__events') }}),
record_identifiers as (select * from {{ ref('int_identity__record_identifiers') }}),

{% set checkout = rules.get('guest_checkout', {}) %}
guest_purchases as (
    select event_id, occurred_at, anonymous_id
    from web_events
    where event_type = 'purchase' and user_id is null and anonymous_id is not null
        {%- if not checkout.get('enabled', false) %} and 1 = 0{% endif %}
),

web_orders as (
    select order_id, min(placed_at) as placed_at
    from orders
    where sales_channel = 'web' and placed_at is not null
    group by order_id
),

checkout_candidates as (
    select guest_purchases.event_id, guest_purchases.anonymous_id, web_orders.order_id
    from guest_purchases
    inner join web_orders
        on web_orders.placed_at between
            guest_purchases.occurred_at - interval '{{ checkout.get('window_seconds', 2) }}' second
            and guest_purchases.occurred_at + interval '{{ checkout.get('window_seconds', 2) }}' second
),

checkout_stitches as (
    select
        'guest_checkout' as rule_name,
        'web_events:' || event_id || ' ~ orders:' || order_id as stitch_id,
        anonymous_id,
        order_id
    from (
        select
            *,
            count(*) over (partition by event_id) as orders_per_event,
            count(*) over (partition by order_id) as events_per_order
        from checkout_candidates
    ) as counted
    where orders_per_event = 1 and events_per_order = 1
),

{% set click = rules.get('email_click_through', {}) %}
clicks as (
    select event_id, occurred_at, email, campaign_id
    from email_events
    where event_type = 'click' and email is not null and campaign_id is not null
        {%- if not click.get('enabled', false) %} and 1 = 0{% endif %}
),

landings as (
    select 'web_events' as source_name, event_id, occurred_at, 'anonymous_id' as identifier_type,
        anonymous_id as identifier_value, utm_campaign as campaign_id
    from web_events
    where event_type = 'page_view' and utm_medium = 'email' and anonymous_id is not null and utm_campaign is not null
    union all
    select 'app_events', event_id, occurred_at, 'device_id', device_id, campaign
    from app_events
    where event_type = 'app_open' and device_id is not null and campaign is not null
),

click_candidates as (
    select clicks.event_id as click_id, clicks.email, landings.source_name, landings.event_id as landing_id,
        landings.identifier_type, landings.identifier_value
    from clicks
    inner join landings
        on landings.campaign_id = clicks.campaign_id
        and landings.occurred_at between clicks.occurred_at
            and clicks.occurred_at + interval '{{ click.get('window_seconds', 10) }}' second
),

click_stitches as (
    select
        'email_click_through' as rule_name,
        'email_events:' || click_id || ' ~ ' || source_name || ':' || landing_id as stitch_id,
        email,
        identifier_type,
        identifier_value
    from (
        select
            *,
            count(*) over (partition by click_id) as landings_per_click,
            count(*) over (partition by source_name, landing_id) as clicks_per_landing
        from click_candidates
    ) as counted
    where landings_per_click = 1 and clicks_per_landing = 1
),

final as (
    select rule_name, stitch_id, 'anonymous_id' as identifier_type, anonymous_id as identifier_value
    from checkout_stitches
    union all
    select checkout_stitches.rule_name, checkout_stitches.stitch_id, record_identifiers.identifier_type,
        record_identifiers.identifier_value
    from checkout_stitches
    inner join record_identifiers
        on record_identifiers.source_name = 'orders' and record_identifiers.record_id = checkout_stitches.order_id
    union all
    select rule_name, stitch_id, 'email', email from click_stitches
    union all
    select rule_name, stitch_id, identifier_type, identifier_value from click_stitches
)

select distinct
    rule_name,
    stitch_id,
    identifier_type,
    identifier_value,
    identifier_type || ':' || identifier_value as node_id
from final
