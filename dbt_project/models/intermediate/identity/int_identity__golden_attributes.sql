-- Survivorship: for each customer and golden attribute, the one observation its rule picks (seed
-- identity_survivorship_rules), with the source and record it came from.
--   source_priority  lowest priority number in seed identity_source_priority, then most recent
--   most_recent      latest observation, then source priority
--   most_frequent    the value on most records (value_key), then most recent, then source priority
--   first_non_empty  earliest observation, then source priority
-- Remaining ties: record id, so the choice is deterministic.
-- Incremental: a build rewrites the rows of int_identity__dirty_customers only.
{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{% if is_incremental() %}delete from {{ this }} where customer_id in (select customer_id from {{ ref('int_identity__dirty_customers') }}){% endif %}",
    )
}}

-- depends_on: {{ ref('int_identity__dirty_customers') }}

with

observations as (
    select * from {{ ref('int_identity__attribute_observations') }}
    {%- if is_incremental() %}
    where customer_id in (select customer_id from {{ ref('int_identity__dirty_customers') }})
    {%- endif %}
),
rules as (select * from {{ ref('identity_survivorship_rules') }}),
source_priority as (select * from {{ ref('identity_source_priority') }}),

frequencies as (
    select customer_id, attribute, value_key, count(distinct source_name || ':' || record_id) as record_count
    from observations
    group by customer_id, attribute, value_key
),

ranked as (
    select
        observations.*,
        rules.rule as survivorship_rule,
        frequencies.record_count as value_record_count,
        row_number() over (
            partition by observations.customer_id, observations.attribute
            order by
                case when rules.rule = 'source_priority' then coalesce(source_priority.priority, 999) end,
                case when rules.rule = 'most_frequent' then frequencies.record_count end desc,
                case when rules.rule = 'first_non_empty' then observations.observed_at end,
                case when rules.rule <> 'first_non_empty' then observations.observed_at end desc,
                coalesce(source_priority.priority, 999),
                observations.source_name,
                observations.record_id,
                observations.value_key
        ) as survivor_rank
    from observations
    inner join rules on rules.attribute = observations.attribute
    left join source_priority
        on source_priority.attribute = observations.attribute and source_priority.source_name = observations.source_name
    left join frequencies
        on frequencies.customer_id = observations.customer_id
        and frequencies.attribute = observations.attribute
        and frequencies.value_key = observations.value_key
),

final as (
    select
        customer_id, attribute, survivorship_rule, source_name, record_id, observed_at, value_key, value_record_count,
        first_name, last_name, email, phone, street, city, postcode, country, birth_date, loyalty_id
    from ranked
    where survivor_rank = 1
)

select * from final
