-- Consent per customer and type (marketing, personalization): the latest explicit signal wins; at the same
-- moment a withdrawal beats a grant. A customer without any signal has no consent row (not consented).
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

signals as (
    select * from {{ ref('int_identity__consent_signals') }}
    {%- if is_incremental() %}
    where {{ is_dirty_customer('customer_id') }}
    {%- endif %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id, consent_type
            order by signal_at desc, case when is_granted then 1 else 0 end, source_name, record_id
        ) as signal_rank
    from signals
),

final as (
    select customer_id, consent_type, is_granted, signal_at, signal_kind, source_name, record_id
    from ranked
    where signal_rank = 1
)

select * from final
