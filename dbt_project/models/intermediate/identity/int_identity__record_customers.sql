-- The interface other models join on: one row per staged record key with the customer it belongs to
-- (null when the record carries no linkable identifier: an anonymous till sale, a placeholder e-mail only).
-- `_changed_at` is the build that last gave the record another customer (or first saw it): the journey models
-- rework those records. An incremental build looks at the changed records and the records carrying a linking value
-- of int_identity__graph_scope or a value whose guard changed (no other record's customer can change) and writes
-- those whose customer changed.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key=['source_name', 'record_id'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['source_name', 'record_id']) }}"),
    )
}}

-- depends_on: {{ ref('int_identity__changed_records') }}
-- depends_on: {{ ref('int_identity__graph_scope') }}
-- depends_on: {{ ref('int_identity__identifier_guards') }}

with

{%- if is_incremental() %}
-- The identifiers the build reads: every identifier of a changed record; and the values of the graph scope that link
-- now, with the values whose guard changed. A record carrying a linking value of the scope has every value it links
-- in the scope (no edge leaves it), and a record carrying a value whose guard changed has its linking values there
-- too (the scope holds that value's record neighbours), so those rows give such a record its component. A record
-- carrying only values outside the scope (or non-linking ones that stayed so) keeps its customer.
scoped_identifiers as (
    select record_identifiers.source_name, record_identifiers.record_id, record_identifiers.node_id
    from {{ ref('int_identity__record_identifiers') }} as record_identifiers
    where record_identifiers.node_id in (
            select node_id from {{ ref('int_identity__components') }}
            where node_id in (select node_id from {{ ref('int_identity__graph_scope') }})
            union all
            select node_id from {{ ref('int_identity__identifier_guards') }} where _changed_at = {{ build_started_at() }}
        )
        or {{ is_changed_record('record_identifiers') }}
),

-- The records whose customer can have changed.
candidates as (
    select source_name, record_id from {{ ref('int_identity__changed_records') }}
    union
    select source_name, record_id from scoped_identifiers
),
{%- endif %}

records as (
    select records.* from {{ ref('int_identity__records') }} as records
    {%- if is_incremental() %}
    inner join candidates on candidates.source_name = records.source_name and candidates.record_id = records.record_id
    {%- endif %}
),
record_identifiers as (
    {%- if is_incremental() %}
    select * from scoped_identifiers
    {%- else %}
    select * from {{ ref('int_identity__record_identifiers') }}
    {%- endif %}
),
components as (select * from {{ ref('int_identity__components') }}),
customer_ids as (select * from {{ ref('int_identity__customer_ids') }}),

record_components as (
    select
        record_identifiers.source_name,
        record_identifiers.record_id,
        min(components.component_id) as component_id
    from record_identifiers
    inner join components on components.node_id = record_identifiers.node_id
    group by record_identifiers.source_name, record_identifiers.record_id
),

final as (
    select
        records.source_name,
        records.record_id,
        customer_ids.customer_id
    from records
    left join record_components
        on record_components.source_name = records.source_name and record_components.record_id = records.record_id
    left join customer_ids on customer_ids.component_id = record_components.component_id
),

stamped as (
    {{ stamp_changes('final', ['source_name', 'record_id'], ignored=[]) }}
)

select * from stamped
{%- if is_incremental() %}
where _changed_at = {{ build_started_at() }}
{%- endif %}
