-- Every interaction of the eight sources in one shape, with the customer it belongs to. Orders and CRM contacts
-- are versioned: one touchpoint per order (its placement, with the latest version's status and amount) and one
-- per contact (its first version). Channel, session and stage come later (int_journeys__touchpoints_channeled,
-- int_journeys__touchpoints_sessionized, fct_touchpoints).
-- Incremental (docs/journeys.md "Incremental builds"): this table is the record state of the last build. A run
-- computes again only the records that may have changed - those whose staged content changed in this build
-- (`_changed_at`: new, or delivered again with other content) and those identity resolution gave another customer
-- (int_identity__record_customers._changed_at) - and rewrites the ones whose touchpoint differs from the stored
-- one. It marks them with the build's _build_number, which int_journeys__touchpoints_sessionized reads to find the
-- visitors to re-stitch.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='touchpoint_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
    )
}}

{%- set sources = staged_sources() %}

with

record_customers as {{ journey_inline_cte() }} (select * from {{ ref('int_identity__record_customers') }}),

{% if is_incremental() %}
-- The records this build may change: staged content changed, or another customer.
changed_records as (
    {%- for source_name, model, key in sources %}
    select '{{ source_name }}' as source_name, cast({{ key }} as {{ dbt.type_string() }}) as record_id
    from {{ ref(model) }}
    where _changed_at = {{ build_started_at() }}
    union
    {%- endfor %}
    select source_name, record_id
    from record_customers
    where _changed_at = {{ build_started_at() }}
),
{% endif %}

{% for source_name, model, key in sources -%}
{{ source_name }} as (
    select * from {{ ref(model) }}
    {%- if is_incremental() %}
    where cast({{ key }} as {{ dbt.type_string() }}) in (
        select record_id from changed_records where source_name = '{{ source_name }}'
    )
    {%- endif %}
),

{% endfor -%}
-- The placement time of an order: its earliest placed_at over all versions, else its first version's time.
order_placements as (
    select
        order_id,
        coalesce(min(placed_at), min(order_updated_at)) as placed_at,
        max(_loaded_at) as _loaded_at,
        max(_export_date) as _export_date
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
        orders.sales_channel,
        order_placements._loaded_at,
        order_placements._export_date
    from orders
    inner join order_placements on order_placements.order_id = orders.order_id
    where orders.is_latest_version
),

crm_first_versions as (
    select
        contact_id,
        min(updated_at) as created_at,
        max(_loaded_at) as _loaded_at,
        max(_export_date) as _export_date
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
        cast(null as {{ dbt.type_string() }}) as currency,
        _loaded_at,
        _export_date
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
        null,
        _loaded_at,
        _export_date
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
        cast(currency as {{ dbt.type_string() }}),
        _loaded_at,
        _export_date
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
        cast(currency as {{ dbt.type_string() }}),
        _loaded_at,
        _export_date
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
        null,
        _loaded_at,
        _export_date
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
        null,
        _loaded_at,
        _export_date
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
        null,
        _loaded_at,
        _export_date
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
        null,
        _loaded_at,
        _export_date
    from reviews
),

records as (
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
        unioned.currency,
        -- lineage: when the record's newest raw row was loaded and in which export it came
        unioned._loaded_at,
        unioned._export_date
    from unioned
    left join record_customers
        on record_customers.source_name = unioned.source_name
        and record_customers.record_id = unioned.record_id
    where unioned.record_id is not null and unioned.occurred_at is not null
),

{% if is_incremental() %}

{%- set content_columns = [
    'source_name', 'record_id', 'occurred_at', 'customer_id', 'visitor_key', 'touchpoint_type', 'traffic_medium',
    'traffic_source', 'referrer_domain', 'campaign', 'device', 'device_os', 'page', 'order_status',
    'revenue_amount', 'currency',
] %}

previous as (
    select touchpoint_id, {{ content_columns | join(', ') }} from {{ previous_build() }}
    where touchpoint_id in (select touchpoint_id from records)
),

previous_build as (
    select coalesce(max(_build_number), 0) as build_number from {{ previous_build() }}
),

-- New records, records identity resolution gave another customer, and records whose touchpoint changed (a new order
-- status, a re-delivered event that differs; not a re-delivered copy or a CRM version that leaves the contact's
-- first version as it was).
final as (
    select
        records.touchpoint_id, records.source_name, records.record_id, records.occurred_at, records.customer_id,
        records.visitor_key, records.touchpoint_type, records.traffic_medium, records.traffic_source,
        records.referrer_domain, records.campaign, records.device, records.device_os, records.page,
        records.order_status, records.revenue_amount, records.currency, records._loaded_at, records._export_date,
        cast(previous_build.build_number + 1 as integer) as _build_number
    from records
    cross join previous_build
    left join previous on previous.touchpoint_id = records.touchpoint_id
    where previous.touchpoint_id is null
        {%- for column in content_columns %}
        or records.{{ column }} is distinct from previous.{{ column }}
        {%- endfor %}
)

{% else %}

final as (
    select
        records.*,
        cast(1 as integer) as _build_number
    from records
)

{% endif %}

select * from final
