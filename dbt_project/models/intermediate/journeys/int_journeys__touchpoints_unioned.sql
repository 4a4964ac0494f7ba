-- Every interaction of the eight sources in one shape, with the customer it belongs to. Orders and CRM contacts
-- are versioned: one touchpoint per order (its placement, with the latest version's status and amount) and one
-- per contact (its first version). Channel, session and stage come later (int_journeys__touchpoints_channeled,
-- int_journeys__touchpoints_sessionized, fct_touchpoints).
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
record_customers as (select * from {{ ref('int_identity__record_customers') }}),

-- The placement time of an order: its earliest placed_at over all versions, else its first version's time.
order_placements as (
    select
        order_id,
        coalesce(min(placed_at), min(order_updated_at)) as placed_at
    from orders
    group by order_id
),

latest_orders as (
    select
        orders.order_id,
        order_placements.placed_at,
        orders.status,
        orders.total_amount,
        orders.currency,
        orders.sales_channel
    from orders
    inner join order_placements on order_placements.order_id = orders.order_id
    where orders.is_latest_version
),

crm_first_versions as (
    select
        contact_id,
        min(updated_at) as created_at
    from crm_contacts
    group by contact_id
),

unioned as (
    select
        'web_events' as source_name,
        cast(event_id as {{ dbt.type_string() }}) as record_id,
        occurred_at,
        coalesce(nullif(event_type, 'other'), 'unknown') as touchpoint_type,
        cast(anonymous_id as {{ dbt.type_string() }}) as anonymous_key,
        cast(utm_medium as {{ dbt.type_string() }}) as traffic_medium,
        cast(utm_source as {{ dbt.type_string() }}) as traffic_source,
        cast(referrer_domain as {{ dbt.type_string() }}) as referrer_domain,
        cast(utm_campaign as {{ dbt.type_string() }}) as campaign,
        cast(device_type as {{ dbt.type_string() }}) as device,
        cast(null as {{ dbt.type_string() }}) as device_os,
        cast(page_url as {{ dbt.type_string() }}) as page,
        cast(null as {{ dbt.type_string() }}) as order_status,
        cast(null as decimal(18, 2)) as revenue_amount,
        cast(null as {{ dbt.type_string() }}) as currency
    from web_events

    union all

    select
        'app_events',
        cast(event_id as {{ dbt.type_string() }}),
        occurred_at,
        coalesce(nullif(event_type, 'other'), 'unknown'),
        cast(device_id as {{ dbt.type_string() }}),
        null,
        null,
        null,
        cast(campaign as {{ dbt.type_string() }}),
        '{{ var("journey_app_device_type") }}',
        cast(os as {{ dbt.type_string() }}),
        cast(screen_name as {{ dbt.type_string() }}),
        null,
        null,
        null
    from app_events

    union all

    select
        'orders',
        cast(order_id as {{ dbt.type_string() }}),
        placed_at,
        {{ dbt.concat(["'order_'", "coalesce(nullif(status, 'other'), 'unknown')"]) }},
        null,
        cast(sales_channel as {{ dbt.type_string() }}),
        null,
        null,
        null,
        null,
        null,
        null,
        cast(status as {{ dbt.type_string() }}),
        case
            when status in ({% for s in var('journey_zero_revenue_order_statuses') %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %})
                then cast(0 as decimal(18, 2))
            else cast(total_amount as decimal(18, 2))
        end,
        cast(currency as {{ dbt.type_string() }})
    from latest_orders

    union all

    select
        'pos_transactions',
        cast(transaction_id as {{ dbt.type_string() }}),
        occurred_at,
        'store_purchase',
        null,
        'store',
        cast(store_id as {{ dbt.type_string() }}),
        null,
        null,
        null,
        null,
        null,
        null,
        cast(total_amount as decimal(18, 2)),
        cast(currency as {{ dbt.type_string() }})
    from pos_transactions

    union all

    select
        'email_events',
        cast(event_id as {{ dbt.type_string() }}),
        occurred_at,
        case
            when event_type is null or event_type = 'other' then 'unknown'
            else {{ dbt.concat(["'email_'", "event_type"]) }}
        end,
        null,
        'email',
        cast(campaign_id as {{ dbt.type_string() }}),
        null,
        cast(campaign_id as {{ dbt.type_string() }}),
        null,
        null,
        cast(link_url as {{ dbt.type_string() }}),
        null,
        null,
        null
    from email_events

    union all

    select
        'crm_contacts',
        cast(contact_id as {{ dbt.type_string() }}),
        created_at,
        'contact_created',
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null
    from crm_first_versions

    union all

    select
        'support_tickets',
        cast(ticket_id as {{ dbt.type_string() }}),
        opened_at,
        'support_ticket',
        null,
        cast(contact_channel as {{ dbt.type_string() }}),
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null
    from support_tickets

    union all

    select
        'reviews',
        cast(review_id as {{ dbt.type_string() }}),
        posted_at,
        'review',
        null,
        null,
        cast(platform as {{ dbt.type_string() }}),
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null
    from reviews
),

final as (
    select
        {{ dbt.concat(['unioned.source_name', "':'", 'unioned.record_id']) }} as touchpoint_id,
        unioned.source_name,
        unioned.record_id,
        unioned.occurred_at,
        record_customers.customer_id,
        -- Whom the touchpoint belongs to for sessions and paths: the customer when known, else the cookie or
        -- device it came from, else the record itself (an anonymous till sale is its own one-touch journey).
        coalesce(
            record_customers.customer_id,
            case
                when unioned.source_name = 'web_events' and unioned.anonymous_key is not null
                    then {{ dbt.concat(["'anonymous_id:'", 'unioned.anonymous_key']) }}
                when unioned.source_name = 'app_events' and unioned.anonymous_key is not null
                    then {{ dbt.concat(["'device_id:'", 'unioned.anonymous_key']) }}
            end,
            {{ dbt.concat(["'record:'", 'unioned.source_name', "':'", 'unioned.record_id']) }}
        ) as visitor_key,
        unioned.touchpoint_type,
        unioned.traffic_medium,
        unioned.traffic_source,
        unioned.referrer_domain,
        unioned.campaign,
        unioned.device,
        unioned.device_os,
        unioned.page,
        unioned.order_status,
        unioned.revenue_amount,
        unioned.currency
    from unioned
    left join record_customers
        on record_customers.source_name = unioned.source_name
        and record_customers.record_id = unioned.record_id
    where unioned.record_id is not null and unioned.occurred_at is not null
)

select * from final
