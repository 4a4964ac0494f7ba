-- Every value a source record offers for a golden attribute (name, email, phone, address, birth_date,
-- loyalty_id), with the customer the record belongs to. Placeholders and identifier values blocked by the
-- guards (a family landline) are not offered; a name that is a placeholder ('unknown') is not either.
-- value_key is the value normalised for counting (most_frequent): case, accents and punctuation ignored.
-- Incremental: a row belongs to one record, so a build rewrites the rows of the changed records and of every record of
-- a regrouped customer (int_identity__dirty_customers.is_regrouped: their records may have changed customer), reading
-- only those staged rows. Every other record keeps its customer, its content and the guards of its values.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{{ delete_stored_rows('stored', 'stored.customer_id in (select customer_id from ' ~ ref('int_identity__dirty_customers')
            ~ ' where is_regrouped) or ' ~ is_changed_record('stored')) }}",
    )
}}

-- depends_on: {{ ref('int_identity__dirty_customers') }}
-- depends_on: {{ ref('int_identity__changed_records') }}

with

record_customers as (
    select * from {{ ref('int_identity__record_customers') }} as record_customers
    {%- if is_incremental() %}
    where record_customers.customer_id in (select customer_id from {{ ref('int_identity__dirty_customers') }} where is_regrouped)
        or {{ is_changed_record('record_customers') }}
    {%- endif %}
),
guards as (select * from {{ ref('int_identity__identifier_guards') }}),
crm_contacts as (select * from {{ ref('stg_crm__contacts') }}),
orders as (select * from {{ ref('stg_shop__orders') }}),
support_tickets as (select * from {{ ref('stg_support__tickets') }}),
reviews as (select * from {{ ref('stg_reviews__reviews') }}),
email_events as (select * from {{ ref('stg_email__events') }}),
pos_transactions as (select * from {{ ref('stg_pos__transactions') }}),

person_rows as (
    select 'crm_contacts' as source_name, cast(contact_id as {{ dbt.type_string() }}) as record_id, updated_at as observed_at,
        first_name, last_name, email, phone, street, city, postcode, country, birth_date, loyalty_id
    from crm_contacts
    {%- if is_incremental() %}
    where cast(contact_id as {{ dbt.type_string() }}) in (select record_id from record_customers where source_name = 'crm_contacts')
    {%- endif %}
    union all
    select 'orders', cast(order_id as {{ dbt.type_string() }}), order_updated_at,
        first_name, last_name, email, phone, street, city, postcode, country, null, null
    from orders
    {%- if is_incremental() %}
    where cast(order_id as {{ dbt.type_string() }}) in (select record_id from record_customers where source_name = 'orders')
    {%- endif %}
    union all
    select 'support_tickets', cast(ticket_id as {{ dbt.type_string() }}), opened_at,
        null, null, email, phone, null, null, null, null, null, null
    from support_tickets
    {%- if is_incremental() %}
    where cast(ticket_id as {{ dbt.type_string() }}) in (select record_id from record_customers where source_name = 'support_tickets')
    {%- endif %}
    union all
    select 'reviews', cast(review_id as {{ dbt.type_string() }}), posted_at,
        null, null, email, null, null, null, null, null, null, null
    from reviews
    {%- if is_incremental() %}
    where cast(review_id as {{ dbt.type_string() }}) in (select record_id from record_customers where source_name = 'reviews')
    {%- endif %}
    union all
    select 'email_events', cast(event_id as {{ dbt.type_string() }}), occurred_at,
        null, null, email, null, null, null, null, null, null, null
    from email_events
    {%- if is_incremental() %}
    where cast(event_id as {{ dbt.type_string() }}) in (select record_id from record_customers where source_name = 'email_events')
    {%- endif %}
    union all
    select 'pos_transactions', cast(transaction_id as {{ dbt.type_string() }}), occurred_at,
        null, null, null, phone, null, null, null, null, null, loyalty_id
    from pos_transactions
    {%- if is_incremental() %}
    where cast(transaction_id as {{ dbt.type_string() }}) in (select record_id from record_customers where source_name = 'pos_transactions')
    {%- endif %}
),

with_customer as (
    select person_rows.*, record_customers.customer_id
    from person_rows
    inner join record_customers
        on record_customers.source_name = person_rows.source_name and record_customers.record_id = person_rows.record_id
    where record_customers.customer_id is not null
),

observations as (
    select customer_id, 'name' as attribute, source_name, record_id, observed_at,
        {{ identity_name_key('first_name') }} || '|' || {{ identity_name_key('last_name') }} as value_key,
        first_name, last_name,
        cast(null as {{ dbt.type_string() }}) as email, cast(null as {{ dbt.type_string() }}) as phone,
        cast(null as {{ dbt.type_string() }}) as street, cast(null as {{ dbt.type_string() }}) as city,
        cast(null as {{ dbt.type_string() }}) as postcode, cast(null as {{ dbt.type_string() }}) as country,
        cast(null as date) as birth_date, cast(null as {{ dbt.type_string() }}) as loyalty_id
    from with_customer
    where first_name is not null and last_name is not null
        and not {{ identity_is_placeholder_name('first_name') }}
        and not {{ identity_is_placeholder_name('last_name') }}
    union all
    select customer_id, 'email', source_name, record_id, observed_at, email,
        null, null, email, null, null, null, null, null, null, null
    from with_customer
    where email is not null
        and exists (select 1 from guards where guards.node_id = 'email:' || with_customer.email and guards.is_linkable)
    union all
    select customer_id, 'phone', source_name, record_id, observed_at, phone,
        null, null, null, phone, null, null, null, null, null, null
    from with_customer
    where phone is not null
        and exists (select 1 from guards where guards.node_id = 'phone:' || with_customer.phone and guards.is_linkable)
    union all
    select customer_id, 'address', source_name, record_id, observed_at,
        lower({{ regexp_replace_all("coalesce(street, '') || '|' || coalesce(postcode, '')", '[^A-Za-z0-9|]', '') }}),
        null, null, null, null, street, city, postcode, country, null, null
    from with_customer
    where street is not null
    union all
    select customer_id, 'birth_date', source_name, record_id, observed_at, cast(birth_date as {{ dbt.type_string() }}),
        null, null, null, null, null, null, null, null, birth_date, null
    from with_customer
    where birth_date is not null
    union all
    select customer_id, 'loyalty_id', source_name, record_id, observed_at, loyalty_id,
        null, null, null, null, null, null, null, null, null, loyalty_id
    from with_customer
    where loyalty_id is not null
        and exists (select 1 from guards where guards.node_id = 'loyalty_id:' || with_customer.loyalty_id and guards.is_linkable)
)

select * from observations
