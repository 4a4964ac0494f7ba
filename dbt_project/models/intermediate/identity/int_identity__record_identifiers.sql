-- One row per (record, identifier): the identifier values each record carries, typed, across all its versions.
-- node_id ('email:ann@x.com') is the identifier's node in the identity graph. Subscriber ids also come from the
-- tracked URL parameters (seed identity_tracked_url_parameters: mc_eid, _kx, ...) of landing, referrer and e-mail
-- link URLs, percent-decoded; a parameter repeated in one URL gives each value.
-- Incremental: a build rewrites the rows of int_identity__changed_records only (after
-- int_identity__previous_record_identifiers kept what they carried before).
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{{ delete_stored_rows('stored', is_changed_record('stored')) }}",
    )
}}

-- depends_on: {{ ref('int_identity__previous_record_identifiers') }}

-- depends_on: {{ ref('int_identity__changed_records') }}
{% for source_name, model, key in staged_sources() %}-- depends_on: {{ ref(model) }}
{% endfor %}
with

source_records as (
    {%- if is_incremental() %}
    {{ identity_source_records(changed_only=true) }}
    {%- else %}
    select * from {{ ref('int_identity__source_records') }}
    {%- endif %}
),

tracked_parameters as (
    select distinct lower(trim(parameter_name)) as parameter_name
    from {{ ref('identity_tracked_url_parameters') }}
    where nullif(trim(parameter_name), '') is not null
),

-- every name=value of the query strings: the text between a URL's first '?' and its '#' (RFC 3986), split on '&'
-- (only URLs with a '?' and a '=' are looked at; splitting costs a quarter of a regular expression's extraction)
url_parameters as (
    select
        source_name, record_id, observed_at,
        lower(split_part(parameter, '=', 1)) as parameter_name,
        substr(parameter, instr(parameter, '=') + 1) as parameter_value
    from (
        select source_name, record_id, observed_at,
            {{ explode_list(split_text("split_part(substr(url, instr(url, '?') + 1), '#', 1)", '&')) }} as parameter
        from (
            select source_name, record_id, observed_at, tracked_url as url from source_records
            where tracked_url like '%?%=%'
            union all
            select source_name, record_id, observed_at, tracked_url_2 from source_records
            where tracked_url_2 like '%?%=%'
        ) as urls
    ) as parameters
    where instr(parameter, '=') > 1
),

unpivoted as (
    select source_name, record_id, observed_at, 'email' as identifier_type, email as identifier_value
    from source_records where email is not null
    union all
    select source_name, record_id, observed_at, 'phone', phone from source_records where phone is not null
    union all
    select source_name, record_id, observed_at, 'anonymous_id', anonymous_id
    from source_records where anonymous_id is not null
    union all
    select source_name, record_id, observed_at, 'device_id', device_id from source_records where device_id is not null
    union all
    select source_name, record_id, observed_at, 'user_id', user_id from source_records where user_id is not null
    union all
    select source_name, record_id, observed_at, 'loyalty_id', loyalty_id from source_records where loyalty_id is not null
    union all
    select source_name, record_id, observed_at, 'crm_contact_id', crm_contact_id
    from source_records where crm_contact_id is not null
    union all
    select source_name, record_id, observed_at, 'order_id', order_id from source_records where order_id is not null
    union all
    select source_name, record_id, observed_at, 'subscriber_id', subscriber_id
    from source_records where subscriber_id is not null
    union all
    select url_parameters.source_name, url_parameters.record_id, url_parameters.observed_at, 'subscriber_id',
        nullif(trim(coalesce({{ try_url_decode('url_parameters.parameter_value') }}, url_parameters.parameter_value)), '')
    from url_parameters
    inner join tracked_parameters on tracked_parameters.parameter_name = url_parameters.parameter_name
),

final as (
    select
        source_name,
        record_id,
        identifier_type,
        identifier_value,
        identifier_type || ':' || identifier_value as node_id,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at
    from unpivoted
    where identifier_value is not null
    group by source_name, record_id, identifier_type, identifier_value
)

select * from final
