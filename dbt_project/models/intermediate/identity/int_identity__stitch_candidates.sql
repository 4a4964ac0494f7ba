-- Candidate pairs of event stitching (int_identity__event_stitches): two records of the same moment that a stitch
-- rule (var identity_stitching) could join, unique or not:
-- - guest_checkout: a web purchase event without an account and a web order placed within window_seconds of it;
-- - email_click_through: a newsletter click and the web page view (utm_medium email) or app open carrying the same
--   campaign within window_seconds after it.
-- One row per pair: the left record (the purchase event, the click) with the identifier it brings, the right record
-- (the order, the landing) with the one it brings (an order brings all of its identifiers: the stitch reads them).
-- Incremental: whether two records are a candidate pair depends on those two records only, so a build drops the
-- pairs of the changed records (int_identity__changed_records) and pairs each changed record with all others again.
{%- set rules = var('identity_stitching') %}
{%- set checkout = rules.get('guest_checkout', {}) %}
{%- set click = rules.get('email_click_through', {}) %}
{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{% if is_incremental() %}delete from {{ this }} as stored where "
            ~ "{{ is_changed_record('stored', 'left_source', 'left_id') }} "
            ~ "or {{ is_changed_record('stored', 'right_source', 'right_id') }}{% endif %}",
    )
}}

with

web_events as (select * from {{ ref('stg_web__events') }}),
app_events as (select * from {{ ref('stg_app__events') }}),
orders as (select * from {{ ref('stg_shop__orders') }}),
email_events as (select * from {{ ref('stg_email__events') }}),
changed_records as (select * from {{ ref('int_identity__changed_records') }}),

guest_purchases as (
    select 'web_events' as source_name, event_id, occurred_at, anonymous_id
    from web_events
    where event_type = 'purchase' and user_id is null and anonymous_id is not null
        {%- if not checkout.get('enabled', false) %} and 1 = 0{% endif %}
),

web_orders as (
    select 'orders' as source_name, order_id, min(placed_at) as placed_at
    from orders
    where sales_channel = 'web' and placed_at is not null
    group by order_id
),

clicks as (
    select 'email_events' as source_name, event_id, occurred_at, email, campaign_id
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
    inner join (
        select * from {{ right }}_flagged{% if not left_changed %} where is_changed{% endif %}
    ) as rights
        {%- if rule_name == 'guest_checkout' %}
        on rights.placed_at between
            lefts.occurred_at - interval '{{ checkout.get('window_seconds', 2) }}' second
            and lefts.occurred_at + interval '{{ checkout.get('window_seconds', 2) }}' second
        {%- else %}
        on rights.campaign_id = lefts.campaign_id
        and rights.occurred_at between lefts.occurred_at
            and lefts.occurred_at + interval '{{ click.get('window_seconds', 10) }}' second
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
