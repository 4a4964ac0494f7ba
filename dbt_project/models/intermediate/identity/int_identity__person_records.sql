-- Records that describe a person (CRM contact versions, order versions), with the keys fuzzy matching compares:
-- names reduced to letters, birth date, street key (house number + first word of the street name), postcode,
-- phone and e-mail. One row per distinct description of a record; anchor_node_id is the record's graph node a
-- fuzzy link attaches to (the contact id; for an order its account, else its e-mail, else its phone).
-- Incremental: a build rewrites the rows of the changed records (int_identity__changed_records) only.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{{ delete_stored_rows('stored', is_changed_record('stored')) }}",
    )
}}

-- depends_on: {{ ref('int_identity__changed_records') }}

with

crm_contacts as (
    select * from {{ ref('stg_crm__contacts') }}
    {%- if is_incremental() %}
    where contact_id in (select record_id from {{ ref('int_identity__changed_records') }} where source_name = 'crm_contacts')
    {%- endif %}
),
orders as (
    select * from {{ ref('stg_shop__orders') }}
    {%- if is_incremental() %}
    where order_id in (select record_id from {{ ref('int_identity__changed_records') }} where source_name = 'orders')
    {%- endif %}
),
record_identifiers as (
    select * from {{ ref('int_identity__record_identifiers') }} as record_identifiers
    {%- if is_incremental() %}
    where {{ is_changed_record('record_identifiers') }}
    {%- endif %}
),
identifier_values as (select * from {{ ref('int_identity__identifier_values') }}),

described as (
    select
        'crm_contacts' as source_name, cast(contact_id as {{ dbt.type_string() }}) as record_id, updated_at as observed_at,
        first_name, last_name, birth_date, street, postcode, phone, email
    from crm_contacts
    where contact_id is not null
    union all
    select
        'orders', cast(order_id as {{ dbt.type_string() }}), order_updated_at,
        first_name, last_name, cast(null as date), street, postcode, phone, email
    from orders
    where order_id is not null
),

keyed as (
    select
        source_name,
        record_id,
        observed_at,
        case when {{ identity_is_placeholder_name('first_name') }} then null
            else {{ identity_name_key('first_name') }} end as first_name_key,
        case when {{ identity_is_placeholder_name('last_name') }} then null
            else {{ identity_name_key('last_name') }} end as last_name_key,
        birth_date,
        {{ regexp_extract_group("lower(street)", '^[^0-9]*([0-9]+[a-z]?[ ]+[a-z]+)') }} as street_key,
        case
            when {{ regexp_like("trim(postcode)", '^[0-9]{5}(-?[0-9]{4})?$') }} then substr(trim(postcode), 1, 5)
            else nullif(upper({{ regexp_replace_all('postcode', '[^A-Za-z0-9]', '') }}), '')
        end as postcode_key,
        phone,
        email
    from described
),

placeholders as (
    select identifier_value, identifier_type from identifier_values where is_placeholder
),

-- The node a fuzzy link attaches to: the record's best identifier by type priority (placeholders skipped).
anchors as (
    select source_name, record_id, node_id as anchor_node_id
    from (
        select
            record_identifiers.source_name,
            record_identifiers.record_id,
            record_identifiers.node_id,
            row_number() over (
                partition by record_identifiers.source_name, record_identifiers.record_id
                order by case record_identifiers.identifier_type
                    when 'crm_contact_id' then 1 when 'user_id' then 2 when 'email' then 3 when 'phone' then 4 else 9 end,
                    record_identifiers.node_id
            ) as anchor_rank
        from record_identifiers
        inner join identifier_values on identifier_values.node_id = record_identifiers.node_id
        where record_identifiers.source_name in ('crm_contacts', 'orders')
            and not identifier_values.is_placeholder
    ) as ranked
    where anchor_rank = 1
),

final as (
    select
        keyed.source_name,
        keyed.record_id,
        anchors.anchor_node_id,
        min(keyed.observed_at) as first_seen_at,
        keyed.first_name_key,
        keyed.last_name_key,
        keyed.birth_date,
        keyed.street_key,
        keyed.postcode_key,
        case when phone_placeholders.identifier_value is null then keyed.phone end as phone,
        case when email_placeholders.identifier_value is null then keyed.email end as email
    from keyed
    left join placeholders as phone_placeholders
        on phone_placeholders.identifier_type = 'phone' and phone_placeholders.identifier_value = keyed.phone
    left join placeholders as email_placeholders
        on email_placeholders.identifier_type = 'email' and email_placeholders.identifier_value = keyed.email
    inner join anchors on anchors.source_name = keyed.source_name and anchors.record_id = keyed.record_id
    where keyed.first_name_key is not null and keyed.last_name_key is not null
    group by
        keyed.source_name, keyed.record_id, anchors.anchor_node_id, keyed.first_name_key, keyed.last_name_key,
        keyed.birth_date, keyed.street_key, keyed.postcode_key,
        case when phone_placeholders.identifier_value is null then keyed.phone end,
        case when email_placeholders.identifier_value is null then keyed.email end
)

select * from final
