-- Credit per conversion, attribution model and channel of its path (the same touches as
-- fct_conversion_paths.path_channels; rules in int_journeys__attribution_credits). One row for every channel of
-- the path under every model, also when that model gives it no credit; per conversion and model the credits sum
-- to 1 and the revenue credits to the conversion value.
-- Incremental (docs/journeys.md "Incremental builds"): a run deletes the conversions of the visitors of
-- int_journeys__rebuild_scope at or after their rebuild_from, and rolls up again every (conversion, model)
-- whose credits the latest build of int_journeys__attribution_credits wrote, the Markov credits of those
-- conversions with them. The Markov credits of every other conversion move with the removal effects
-- (int_journeys__markov_credits: every night's new paths move them), its channels do not: the post-hook
-- fct_attribution_update_markov_credits sets their two credit columns where they changed, instead of deleting and
-- inserting every conversion's Markov rows each night (about 511,000 rows at 500k people). Where stored rows do not change in place
-- (Spark, whose build writes the whole table anew every night anyway), the night's batch holds every conversion's
-- Markov credits instead, and they replace the stored ones by key.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key=['conversion_id', 'model'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=["{% if is_incremental() and stored_rows_change_in_place() %}{{ fct_attribution_update_markov_credits() }}{% endif %}",
                   after_commit("{{ record_keys_built(['conversion_id', 'model', 'channel']) }}")],
        pre_hook="{% if is_incremental() %}{{ delete_rebuild_scope('previous', 'conversion_at') }}{% endif %}",
    )
}}
-- depends_on: {{ ref('int_journeys__rebuild_scope') }}
with

{% if is_incremental() %}

rule_credits as (
    select * from {{ ref('int_journeys__attribution_credits') }}
    where _build_number = (select max(_build_number) from {{ ref('int_journeys__attribution_credits') }})
),

markov_credits as (
    select * from {{ ref('int_journeys__markov_credits') }}
    {%- if stored_rows_change_in_place() %}
    where conversion_id in (select conversion_id from rule_credits)
    {%- endif %}
),

{% else %}

rule_credits as (select * from {{ ref('int_journeys__attribution_credits') }}),

markov_credits as (select * from {{ ref('int_journeys__markov_credits') }}),

{% endif %}

credits as (
    select {{ attribution_credit_columns() }} from rule_credits
    union all
    select {{ attribution_credit_columns() }} from markov_credits
),

final as (
    select
        conversion_id,
        model,
        channel,
        max(channel_group) as channel_group,
        max(visitor_key) as visitor_key,
        max(customer_id) as customer_id,
        max(conversion_source_name) as conversion_source_name,
        max(conversion_at) as conversion_at,
        cast(max(conversion_at) as date) as conversion_date,
        max(conversion_value) as conversion_value,
        cast(count(*) as integer) as touches_count,
        {{ fct_attribution_credit_sums() }}
    from credits
    group by conversion_id, model, channel
)

select * from final
