-- Candidate pairs of event stitching (int_identity__event_stitches): two records of the same moment that a stitch
-- rule (var identity_stitching) could join, unique or not:
-- - guest_checkout: a web purchase event without an account and a web order placed within window_seconds of it;
-- - email_click_through: a newsletter click and the web page view (utm_medium email) or app open carrying the same
--   campaign within window_seconds after it.
-- One row per pair: the left record (the purchase event, the click) with the identifier it brings, the right record
-- (the order, the landing) with the one it brings (an order brings all of its identifiers: the stitch reads them).
-- Incremental: whether two records are a candidate pair depends on those two records only, so a build drops the
-- pairs of the changed records (int_identity__changed_records) and pairs each changed record with all others again.
-- The window is joined as an equality: each record falls in a time bucket as long as the window (time_bucket), and a
-- pair's buckets are at most one apart, so each left record meets the right records of its own bucket and its
-- neighbours' (a hash join) and the exact window then filters them. A range join alone compared every purchase with
-- the orders around it and every click with every landing of its campaign (a newsletter's thousands with
-- thousands): at 500k people the model took 107 s.
{%- set rules = var('identity_stitching') %}
{%- set checkout = rules.get('guest_checkout', {}) %}
{%- set click = rules.get('email_click_through', {}) %}
{%- set checkout_window = checkout.get('window_seconds', 2) %}
{%- set click_window = click.get('window_seconds', 10) %}
{%- set checkout_bucket = [checkout_window, 1] | max %}
{%- set click_bucket = [click_window, 1] | max %}
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{{ delete_stored_rows('stored', is_changed_record('stored', 'left_source', 'left_id') "
            ~ "~ ' or ' ~ is_changed_record('stored', 'right_source', 'right_id')) }}",
    )
}}

with

web_events as (select * from {{ ref('stg_web__events') }}),
app_events as (select * from {{ ref('stg_app__events') }}),
orders as (select * from {{ ref('stg_shop__orders') }}),
email_events as (select * from {{ ref('stg_email__events') }}),
changed_records as (select * from {{ ref('int_identity__changed_records') }}),

guest_purchases as (
    select 'web_events' as source_name, event_id, occurred_at, anonymous_id,
        {{ time_bucket('occurred_at', checkout_bucket) }} as time_bucket
    from web_events
    where event_type = 'purchase' and user_id is null and anonymous_id is not null
        {%- if not checkout.get('enabled', false) %} and 1 = 0{% endif %}
),

web_orders as (
    select source_name, order_id, placed_at, {{ time_bucket('placed_at', checkout_bucket) }} as time_bucket
    from (
        select 'orders' as source_name, order_id, min(placed_at) as placed_at
        from orders
        where sales_channel = 'web' and placed_at is not null
        group by order_id
    ) as placed
),

clicks as (
    select 'email_events' as source_name, event_id, occurred_at, email, campaign_id,
        {{ time_bucket('occurred_at', click_bucket) }} as time_bucket
    from email_events
    where event_type = 'click' and email is not null and campaign_id is not null
        {%- if not click.get('enabled', false) %} and 1 = 0{% endif %}
),

landings as (
    select *, {{ time_bucket('occurred_at', click_bucket) }} as time_bucket
    from (
        select 'web_events' as source_name, event_id, occurred_at, 'anonymous_id' as identifier_type,
            anonymous_id as identifier_value, utm_campaign as campaign_id
        from web_events
        where event_type = 'page_view' and utm_medium = 'email' and anonymous_id is not null
            and utm_campaign is not null
        union all
        select 'app_events', event_id, occurred_at, 'device_id', device_id, campaign
        from app_events
        where event_type = 'app_open' and device_id is not null and campaign is not null
    ) as landed
),

{%- for name, relation, key in [('guest_purchases', 'guest_purchases', 'event_id'), ('web_orders', 'web_orders', 'order_id'),
                                ('clicks', 'clicks', 'event_id'), ('landings', 'landings', 'event_id')] %}
{{ name }}_flagged as (
    select
        {{ relation }}.*,
        {%- if is_incremental() %}
        exists (
            select 1 from changed_records
            where changed_records.source_name = {{ relation }}.source_name and changed_records.record_id = {{ relation }}.{{ key }}
        ) as is_changed
        {%- else %}
        true as is_changed
        {%- endif %}
    from {{ relation }}
),
{%- endfor %}

-- A pair with a changed record on either side: the changed left records with every right record, and the unchanged
-- left records with the changed right ones (on a full build every record is changed).
{%- set pairings = [('guest_checkout', 'guest_purchases', 'web_orders', 'checkout_candidates'),
                    ('email_click_through', 'clicks', 'landings', 'click_candidates')] %}
{%- for rule_name, left, right, name in pairings %}
{{ name }} as (
    {%- for left_changed in ([true, false] if is_incremental() else [true]) %}
    select
        '{{ rule_name }}' as rule_name,
        {%- if rule_name == 'guest_checkout' %}
        lefts.source_name as left_source,
        lefts.event_id as left_id,
        lefts.occurred_at as left_at,
        'anonymous_id' as left_identifier_type,
        lefts.anonymous_id as left_identifier_value,
        rights.source_name as right_source,
        rights.order_id as right_id,
        cast(null as {{ dbt.type_string() }}) as right_identifier_type,
        cast(null as {{ dbt.type_string() }}) as right_identifier_value
        {%- else %}
        lefts.source_name as left_source,
        lefts.event_id as left_id,
        lefts.occurred_at as left_at,
        'email' as left_identifier_type,
        lefts.email as left_identifier_value,
        rights.source_name as right_source,
        rights.event_id as right_id,
        rights.identifier_type as right_identifier_type,
        rights.identifier_value as right_identifier_value
        {%- endif %}
    from (select * from {{ left }}_flagged where {{ '' if left_changed else 'not ' }}is_changed) as lefts
    {#- the buckets a pair's right record can be in: either side of the purchase, after the click #}
    cross join (
        {%- if rule_name == 'guest_checkout' %}
        select -1 as bucket_offset union all select 0 union all select 1
        {%- else %}
        select 0 as bucket_offset union all select 1
        {%- endif %}
    ) as offsets
    inner join (
        select * from {{ right }}_flagged{% if not left_changed %} where is_changed{% endif %}
    ) as rights
        on rights.time_bucket = lefts.time_bucket + offsets.bucket_offset
        {%- if rule_name == 'guest_checkout' %}
        and rights.placed_at between
            lefts.occurred_at - interval '{{ checkout_window }}' second
            and lefts.occurred_at + interval '{{ checkout_window }}' second
        {%- else %}
        and rights.campaign_id = lefts.campaign_id
        and rights.occurred_at between lefts.occurred_at
            and lefts.occurred_at + interval '{{ click_window }}' second
        {%- endif %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),
{%- endfor %}

final as (
    select * from checkout_candidates
    union all
    select * from click_candidates
)

select * from final
