-- Every change of customer id, so links held downstream can be followed: merges (two customers became one;
-- the older id survives), splits (new evidence separated part of a customer under a new id) and re-keyings (an
-- md5 id of an older version, computable from an identifier, replaced by a keyed id: one row per old id, logged
-- once, by the build that re-keyed the id map). Appended by each run that changes ids; never rebuilt.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        full_refresh=false,
        on_schema_change='append_new_columns',
    )
}}

{%- set run_at = build_started_at() %}
{#- On Spark the log of the published generation (after an erasure, its copy without the person) is the previous
    build (previous_build()) that the materialization appends this build's rows to. #}

with

id_map as (select * from {{ ref('int_identity__customer_id_map') }}),
edges as (select * from {{ ref('int_identity__edges') }}),
guards as (select * from {{ ref('int_identity__identifier_guards') }}),

changed as (
    select *
    from id_map
    where run_at = {{ run_at }}
        and changed_at = {{ run_at }}
        and assignment in ('merged', 'split')
),

changes as (
    select
        previous_customer_id as old_customer_id,
        customer_id as new_customer_id,
        case when max(assignment) = 'split' then 'split' else 'merge' end as change_type,
        count(*) as identifier_count,
        min(node_id) as example_node_id
    from changed
    group by previous_customer_id, customer_id
),

-- Each edge from both of its ends (two equality joins instead of one join on `node in (src, dst)`, which DuckDB
-- cannot hash: 19 s against 0.7 s on a 500k-people night).
edge_ends as (
    select src_node as node_id, dst_node as other_node, * from edges
    union all
    select dst_node, src_node, * from edges where dst_node <> src_node
),

-- Merge evidence: an edge between an identifier of the old customer and one it was not linked to before.
merge_evidence as (
    select
        changes.old_customer_id,
        changes.new_customer_id,
        min(
            edges.edge_kind || ' ' || edges.example_record || ' links ' || edges.src_node || ' and ' || edges.dst_node
            || coalesce(' (score ' || cast(round(edges.match_score, 3) as {{ text_type() }}) || ')', '')
        ) as evidence
    from changes
    inner join id_map as old_side
        on old_side.previous_customer_id = changes.old_customer_id and old_side.customer_id = changes.new_customer_id
    inner join edge_ends as edges on edges.node_id = old_side.node_id
    inner join id_map as other_side on other_side.node_id = edges.other_node
    where changes.change_type = 'merge'
        and other_side.customer_id = changes.new_customer_id
        and coalesce(other_side.previous_customer_id, '') <> changes.old_customer_id
    group by changes.old_customer_id, changes.new_customer_id
),

-- Split evidence: identifiers of the old customer that no longer link (guards) or are gone.
split_evidence as (
    select
        changes.old_customer_id,
        changes.new_customer_id,
        min(lost.node_id || coalesce(': ' || guards.block_reason, ': no longer in any record')) as evidence
    from changes
    inner join id_map as lost
        on lost.previous_customer_id = changes.old_customer_id and lost.assignment = 'inactive'
        and lost.changed_at = {{ run_at }}
    left join guards on guards.node_id = lost.node_id
    where changes.change_type = 'split'
    group by changes.old_customer_id, changes.new_customer_id
),

-- The md5 ids the id map's pre-hook re-keyed (rekeyed_from), each to the id it became (the same keyed function
-- of the old id) and not logged yet.
rekeys as (
    select
        rekeyed_from as old_customer_id,
        {{ keyed_customer_id("'rekey|' || rekeyed_from") }} as new_customer_id,
        'rekey' as change_type,
        {{ run_at }} as changed_at,
        're-keyed: the md5 id of an older version (computable from an identifier) replaced by a keyed id' as reason,
        count(*) as identifier_count
    from id_map
    where rekeyed_from is not null
    {%- if is_incremental() %}
        and rekeyed_from not in (select old_customer_id from {{ previous_build() }} where change_type = 'rekey')
    {%- endif %}
    group by rekeyed_from
),

final as (
    select
        changes.old_customer_id,
        changes.new_customer_id,
        changes.change_type,
        {{ run_at }} as changed_at,
        case
            when changes.change_type = 'merge'
                then 'merged into the older customer: ' || coalesce(merge_evidence.evidence, 'new linking evidence')
            else 'split: ' || coalesce(split_evidence.evidence, 'the identifiers are no longer connected')
        end as reason,
        changes.identifier_count
    from changes
    left join merge_evidence
        on merge_evidence.old_customer_id = changes.old_customer_id
        and merge_evidence.new_customer_id = changes.new_customer_id
    left join split_evidence
        on split_evidence.old_customer_id = changes.old_customer_id
        and split_evidence.new_customer_id = changes.new_customer_id
    union all
    select * from rekeys
)

select * from final
