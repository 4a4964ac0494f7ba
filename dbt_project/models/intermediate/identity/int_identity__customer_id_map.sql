-- The persistent customer id of every identifier value ever linked: state that survives every run, so a
-- customer id never changes unless the evidence does. dbt never rebuilds it (full_refresh = false); each run
-- rewrites the rows of the current graph and marks values no longer in it inactive.
-- Rules, per connected component of this run:
--   - every previous customer is inherited by exactly one component (its "heir"): the one holding most of
--     its identifiers (then the oldest identifier, then component id);
--   - a component that inherits several previous customers keeps the oldest one (created first, then first
--     seen, then id): the others are merged into it;
--   - a component that inherits none takes back the id its identifiers were first given, if no component
--     uses it now (a split that undoes an earlier merge restores the original ids);
--   - otherwise it gets a new id keyed from its oldest identifier (and, when it split from a previous customer,
--     that customer's id): 'cus_' + 16 hex digits of HMAC-SHA256 with the customer-id key (macro keyed_customer_id,
--     docs/privacy.md "Customer ids"), so reruns on the same data with the same key reproduce it, and nobody
--     without the key can compute it from an identifier.
-- A map built by an older version holds md5 ids (computable from an identifier): the pre-hooks re-key them before
-- anything else (macro customer_id_map_pre_hook; customer_merges records each as a 'rekey'). customer_id_scheme
-- marks the rows written since ('hmac-sha256'); rekeyed_from keeps the md5 id a row's customer had before.
-- Incremental: a build rewrites the values of int_identity__graph_scope only (whole components as the previous and
-- this build have them); every other component keeps its customer. The rules above still see every component: a
-- previous customer with values outside the scope counts them for its heir, and an id kept outside is not reused.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='node_id',
        incremental_strategy='delete+insert',
        full_refresh=false,
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ customer_id_map_pre_hook('key') }}",
            "{{ customer_id_map_pre_hook('customer_id_scheme') }}",
            "{{ customer_id_map_pre_hook('rekeyed_from') }}",
            "{{ customer_id_map_pre_hook('rekey') }}",
        ],
    )
}}

{%- set run_at = build_started_at() %}
{#- On Spark the previous build is the published generation's map (previous_build), read as DuckDB reads its own. #}

-- depends_on: {{ ref('int_identity__graph_scope') }}

with

components as (
    select * from {{ ref('int_identity__components') }}
    {%- if is_incremental() %}
    where node_id in (select node_id from {{ ref('int_identity__graph_scope') }})
    {%- endif %}
),

previous as (
    {% if is_incremental() %}
    select node_id, customer_id, customer_created_at, first_customer_id, first_assigned_at, changed_at, is_active,
        previous_customer_id, assignment, rekeyed_from
    from {{ previous_build() }}
    where node_id in (select node_id from {{ ref('int_identity__graph_scope') }})
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as node_id,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as timestamp) as customer_created_at,
        cast(null as {{ dbt.type_string() }}) as first_customer_id,
        cast(null as timestamp) as first_assigned_at,
        cast(null as timestamp) as changed_at,
        cast(null as boolean) as is_active,
        cast(null as {{ dbt.type_string() }}) as previous_customer_id,
        cast(null as {{ dbt.type_string() }}) as assignment,
        cast(null as {{ dbt.type_string() }}) as rekeyed_from
    where 1 = 0
    {% endif %}
),

current_nodes as (
    select
        components.node_id,
        components.component_id,
        components.first_seen_at,
        previous.customer_id as previous_customer_id,
        previous.customer_created_at as previous_customer_created_at,
        previous.first_customer_id,
        previous.first_assigned_at,
        previous.changed_at as previous_changed_at,
        previous.previous_customer_id as previous_change_from,
        previous.assignment as previous_assignment,
        previous.rekeyed_from,
        coalesce(previous.is_active, false) as was_active
    from components
    left join previous on previous.node_id = components.node_id
),

-- How much of each previous customer each component holds.
inheritance as (
    select
        component_id,
        previous_customer_id,
        min(previous_customer_created_at) as customer_created_at,
        count(*) as node_count,
        min(first_seen_at) as first_seen_at
    from current_nodes
    where previous_customer_id is not null
    group by component_id, previous_customer_id
    {%- if is_incremental() %}
    union all
    -- the components outside the scope that hold values of a previous customer the scope holds too
    select
        outside.component_id,
        stored.customer_id,
        min(stored.customer_created_at),
        count(*),
        min(outside.first_seen_at)
    from {{ previous_build() }} as stored
    inner join {{ ref('int_identity__components') }} as outside on outside.node_id = stored.node_id
    where stored.is_active
        and stored.node_id not in (select node_id from {{ ref('int_identity__graph_scope') }})
        and stored.customer_id in (select previous_customer_id from current_nodes)
    group by outside.component_id, stored.customer_id
    {%- endif %}
),

heirs as (
    select
        *,
        row_number() over (
            partition by previous_customer_id order by node_count desc, first_seen_at, component_id
        ) as heir_rank
    from inheritance
),

kept_ids as (
    select
        component_id,
        previous_customer_id as customer_id,
        customer_created_at,
        row_number() over (
            partition by component_id order by customer_created_at, first_seen_at, previous_customer_id
        ) as age_rank
    from heirs
    where heir_rank = 1
),

-- Every customer id a component keeps in this build (outside the scope: the customers that stay as they were).
kept_customer_ids as (
    select customer_id from kept_ids where age_rank = 1
    {%- if is_incremental() %}
    union
    select customer_id from {{ previous_build() }}
    where is_active and node_id not in (select node_id from {{ ref('int_identity__graph_scope') }})
    {%- endif %}
),

-- Ids first given to the identifiers of components that inherit none, and that no component keeps.
reclaimable as (
    select
        current_nodes.component_id,
        current_nodes.first_customer_id as customer_id,
        count(*) as node_count,
        min(current_nodes.first_seen_at) as first_seen_at,
        min(current_nodes.first_assigned_at) as customer_created_at
    from current_nodes
    where current_nodes.first_customer_id is not null
        and not exists (select 1 from kept_ids where kept_ids.component_id = current_nodes.component_id and kept_ids.age_rank = 1)
        and not exists (select 1 from kept_customer_ids where kept_customer_ids.customer_id = current_nodes.first_customer_id)
    group by current_nodes.component_id, current_nodes.first_customer_id
),

reclaimed_ids as (
    select
        component_id,
        customer_id,
        customer_created_at,
        row_number() over (partition by component_id order by customer_created_at, first_seen_at, customer_id) as age_rank
    from (
        select
            *,
            row_number() over (partition by customer_id order by node_count desc, first_seen_at, component_id) as heir_rank
        from reclaimable
    ) as ranked
    where heir_rank = 1
),

oldest_nodes as (
    select
        component_id,
        node_id,
        row_number() over (partition by component_id order by first_seen_at, node_id) as age_rank
    from current_nodes
),

split_from as (
    select component_id, min(previous_customer_id) as previous_customer_id
    from current_nodes
    group by component_id
),

component_customers as (
    select
        oldest_nodes.component_id,
        coalesce(
            kept_ids.customer_id,
            reclaimed_ids.customer_id,
            {{ keyed_customer_id(
                "oldest_nodes.node_id || coalesce('|split from ' || split_from.previous_customer_id, '')"
            ) }}
        ) as customer_id,
        coalesce(kept_ids.customer_created_at, reclaimed_ids.customer_created_at, {{ run_at }}) as customer_created_at
    from oldest_nodes
    left join kept_ids on kept_ids.component_id = oldest_nodes.component_id and kept_ids.age_rank = 1
    left join reclaimed_ids
        on reclaimed_ids.component_id = oldest_nodes.component_id and reclaimed_ids.age_rank = 1
    left join split_from on split_from.component_id = oldest_nodes.component_id
    where oldest_nodes.age_rank = 1
),

active_rows as (
    select
        current_nodes.node_id,
        current_nodes.component_id,
        component_customers.customer_id,
        component_customers.customer_created_at,
        -- a value that stays with its customer keeps the record of its last change (what, from whom, when)
        case when is_unchanged then current_nodes.previous_change_from else current_nodes.previous_customer_id end
            as previous_customer_id,
        case
            when is_unchanged then current_nodes.previous_assignment
            when current_nodes.previous_customer_id is null then 'new'
            when current_nodes.previous_customer_id = component_customers.customer_id then 'kept'
            when exists (
                select 1 from kept_customer_ids
                where kept_customer_ids.customer_id = current_nodes.previous_customer_id
            ) then 'split'
            else 'merged'
        end as assignment,
        coalesce(current_nodes.first_customer_id, component_customers.customer_id) as first_customer_id,
        true as is_active,
        coalesce(current_nodes.first_assigned_at, {{ run_at }}) as first_assigned_at,
        case when is_unchanged then current_nodes.previous_changed_at else {{ run_at }} end as changed_at,
        'hmac-sha256' as customer_id_scheme,
        current_nodes.rekeyed_from
    from (
        select
            current_nodes.*,
            component_customers.customer_id as new_customer_id,
            current_nodes.was_active and current_nodes.previous_customer_id = component_customers.customer_id
                as is_unchanged
        from current_nodes
        inner join component_customers on component_customers.component_id = current_nodes.component_id
    ) as current_nodes
    inner join component_customers on component_customers.component_id = current_nodes.component_id
),

-- Values linked before but not in this run's graph (now blocked by a guard, or their records are gone).
inactive_rows as (
    select
        previous.node_id,
        cast(null as {{ dbt.type_string() }}) as component_id,
        previous.customer_id,
        previous.customer_created_at,
        case when previous.is_active then previous.customer_id else previous.previous_customer_id end
            as previous_customer_id,
        case when previous.is_active then 'inactive' else previous.assignment end as assignment,
        previous.first_customer_id,
        false as is_active,
        previous.first_assigned_at,
        case when previous.is_active then {{ run_at }} else previous.changed_at end as changed_at,
        'hmac-sha256' as customer_id_scheme,
        previous.rekeyed_from
    from previous
    where not exists (select 1 from components where components.node_id = previous.node_id)
),

final as (
    select *, {{ run_at }} as run_at from active_rows
    union all
    select *, {{ run_at }} as run_at from inactive_rows
)

select * from final
