-- CRM contacts: one row per contact version (contact_id, updated_at); exact re-deliveries removed.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='contact_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
    )
}}

with

source as (
    {{ staging_raw_rows('crm_contacts', 'contact_id') }}
),

renamed as (
    select
        {{ nullif_blank('contact_id') }} as contact_id,
        {{ parse_timestamp('updated_at', source_timezone('crm_contacts')) }} as updated_at,
        {{ nullif_blank('first_name') }} as first_name,
        {{ nullif_blank('last_name') }} as last_name,
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        {{ parse_date('birth_date') }} as birth_date,
        {{ nullif_blank('street') }} as street,
        {{ nullif_blank('city') }} as city,
        upper({{ nullif_blank('postcode') }}) as postcode,
        {{ nullif_blank('country') }} as country,
        {{ nullif_blank('loyalty_id') }} as loyalty_id,
        {{ parse_boolean('marketing_consent') }} as marketing_consent,
        {{ parse_boolean('personalization_consent') }} as personalization_consent,
        {{ nullif_blank('account_id') }} as account_id,
        _source_file,
        _row_number,
        _export_date,
        _loaded_at
    from source
),

deduplicated as (
    {{ dedupe_latest_delivery('renamed', ['contact_id', 'updated_at']) }}
),

final as (
    select
        contact_id,
        updated_at,
        {{ dbt.concat([
            'contact_id', "'@'",
            'cast(updated_at as ' ~ dbt.type_string() ~ ')'
        ]) }} as contact_version_id,
        first_name,
        last_name,
        email,
        phone,
        birth_date,
        street,
        city,
        postcode,
        country,
        loyalty_id,
        marketing_consent,
        personalization_consent,
        {{ is_latest_version('contact_id', 'updated_at') }} as is_latest_version,
        -- an optional column, last of the content columns: a warehouse staged before it had it appends it there
        account_id,
        _source_file,
        _row_number,
        _export_date,
        _loaded_at
    from deduplicated
),

stamped as (
    {{ stamp_changes('final', ['contact_id', 'updated_at']) }}
)

select * from stamped
