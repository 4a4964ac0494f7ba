-- Explicit consent signals per customer: a CRM contact version that sets or changes a consent flag (a version
-- repeating the flag it already had is not a new signal, so an older CRM state cannot undo a later
-- unsubscribe), and every e-mail unsubscribe (marketing consent withdrawn).
-- Incremental: a build rewrites the rows of int_identity__dirty_customers only.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{{ delete_stored_rows('stored', is_dirty_customer('stored.customer_id')) }}",
    )
}}

-- depends_on: {{ ref('int_identity__dirty_customers') }}

with

crm_contacts as (select * from {{ ref('stg_crm__contacts') }}),
email_events as (select * from {{ ref('stg_email__events') }}),
record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
    {%- if is_incremental() %}
    where {{ is_dirty_customer('customer_id') }}
    {%- endif %}
),

crm_flags as (
    select contact_id, updated_at, 'marketing' as consent_type, marketing_consent as is_granted
    from crm_contacts where marketing_consent is not null
    union all
    select contact_id, updated_at, 'personalization', personalization_consent
    from crm_contacts where personalization_consent is not null
),

crm_changes as (
    select
        *,
        lag(is_granted) over (partition by contact_id, consent_type order by updated_at) as previous_is_granted
    from crm_flags
),

signals as (
    select
        'crm_contacts' as source_name,
        cast(contact_id as {{ dbt.type_string() }}) as record_id,
        updated_at as signal_at,
        consent_type,
        is_granted,
        case when is_granted then 'crm_consent_given' else 'crm_consent_withdrawn' end as signal_kind
    from crm_changes
    where previous_is_granted is null or previous_is_granted <> is_granted
    union all
    select
        'email_events', cast(event_id as {{ dbt.type_string() }}), occurred_at, 'marketing', false, 'email_unsubscribe'
    from email_events
    where event_type = 'unsubscribe'
),

final as (
    select record_customers.customer_id, signals.*
    from signals
    inner join record_customers
        on record_customers.source_name = signals.source_name and record_customers.record_id = signals.record_id
    where record_customers.customer_id is not null
)

select * from final
