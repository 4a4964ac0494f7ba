-- One row per staged record key (an order or CRM contact with several versions is one record).
-- Incremental: a build rewrites the rows of int_identity__changed_records only.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['source_name', 'record_id']) }}"),
        pre_hook="{{ delete_stored_rows('stored', is_changed_record('stored')) }}",
    )
}}

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

final as (
    select
        source_name,
        record_id,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as version_count
    from source_records
    group by source_name, record_id
)

select * from final
