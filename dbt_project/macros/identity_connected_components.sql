-- Connected components of an undirected graph by min-label propagation: every node ends up labelled with the
-- smallest node id of its component. `edges` is a relation (or CTE name) with columns src_node, dst_node;
-- `nodes` is a relation with column node_id (isolated nodes included). Returns (node_id, component_id).
-- `ctes`: the text of the caller's CTEs that `edges` and `nodes` name (`a as (...), b as (...)`), for engines that
-- compute the components in statements of their own before the caller's query (Spark); DuckDB does not need it.
{% macro identity_connected_components(edges, nodes, ctes=none) -%}
    {{ return(adapter.dispatch('identity_connected_components', 'customer_journey')(edges, nodes, ctes)) }}
{%- endmacro %}

-- DuckDB: a recursive CTE keyed on the node (`using key`): each round only revisits nodes whose label dropped
-- in the previous round, and stops by itself when no label changes (no round count to tune). Besides passing
-- a dropped label to the neighbours, a node takes the label of its label and the nodes labelled with it follow
-- it (pointer jumping), so a long chain needs about log2(length) rounds instead of one per hop.
{% macro duckdb__identity_connected_components(edges, nodes, ctes=none) -%}
    select node_id, component_id from (
        with recursive
        undirected as (
            select src_node, dst_node from {{ edges }}
            union
            select dst_node as src_node, src_node as dst_node from {{ edges }}
        ),
        labels(node_id, component_id) using key (node_id) as (
            select node_id, node_id as component_id from {{ nodes }}
            union
            select candidates.node_id, min(candidates.component_id) as component_id
            from (
                -- the neighbours of a node whose label dropped
                select e.dst_node as node_id, changed.component_id
                from labels as changed
                inner join undirected as e on e.src_node = changed.node_id
                union all
                -- a node whose label dropped takes the label of its label
                select changed.node_id, via.component_id
                from labels as changed
                inner join recurring.labels as via on via.node_id = changed.component_id
                union all
                -- the nodes labelled with a node whose label dropped follow it
                select follower.node_id, changed.component_id
                from labels as changed
                inner join recurring.labels as follower on follower.component_id = changed.node_id
            ) as candidates
            inner join recurring.labels as current_label on current_label.node_id = candidates.node_id
            group by candidates.node_id
            having min(candidates.component_id) < min(current_label.component_id)
        )
        select node_id, component_id from labels
    ) as connected_components
{%- endmacro %}

-- Other engines: a fixed number of propagation rounds, unrolled into CTEs. Each round gives a node the smallest
-- label among itself and its neighbours; var identity_label_rounds must be at least the graph's diameter (the test
-- `identity_components_are_stable` fails if it was too small). Each round reads the previous one once (a self-loop
-- per node stands for "itself"), so the query grows linearly with the rounds.
{% macro default__identity_connected_components(edges, nodes, ctes=none) -%}
    {%- set rounds = var('identity_label_rounds', 30) -%}
    select node_id, component_id from (
        with neighbours as (
            {#- nodes only: an edge's end outside `nodes` gets no label, as on DuckDB #}
            select src_node, dst_node from (
                select src_node, dst_node from {{ edges }}
                union
                select dst_node as src_node, src_node as dst_node from {{ edges }}
            ) as undirected
            where src_node in (select node_id from {{ nodes }})
            union
            select node_id as src_node, node_id as dst_node from {{ nodes }}
        ),
        round_0 as (select node_id, node_id as component_id from {{ nodes }}),
        {%- for i in range(1, rounds + 1) %}
        round_{{ i }} as (
            select neighbours.src_node as node_id, min(previous.component_id) as component_id
            from neighbours
            inner join round_{{ i - 1 }} as previous on previous.node_id = neighbours.dst_node
            group by neighbours.src_node
        ){{ "," if not loop.last }}
        {%- endfor %}
        select node_id, component_id from round_{{ rounds }}
    ) as connected_components
{%- endmacro %}

-- Spark: the rounds run as statements of their own, each writing a table, until no label changes. In one query
-- (the unrolled rounds above) Spark inlines every CTE the rounds read into each round: in
-- int_identity__identifier_guards the analyser ran out of a 2 GB heap by the tenth round, and with 6 GB it spent
-- minutes planning. A table per round keeps every statement small, stops by itself (as DuckDB's recursive CTE does),
-- and fails loudly when var identity_label_rounds rounds were not enough, instead of leaving labels unfinished.
-- The tables (`<model>__cc_<edges>_*`, beside the model) are left for the next build to replace; the caller's query
-- reads the last round's.
{% macro spark__identity_connected_components(edges, nodes, ctes=none) -%}
    {%- if not execute -%}
    select node_id, node_id as component_id from {{ nodes }}
    {%- else -%}
    {%- set stem = this.schema ~ '.' ~ this.identifier ~ '__cc_' ~ modules.re.sub('[^A-Za-z0-9_]', '_', edges) -%}
    {%- set with_ctes = ('with ' ~ ctes ~ '\n') if ctes else '' -%}
    {%- set tables = {'nodes': stem ~ '_nodes', 'edges': stem ~ '_edges', 'neighbours': stem ~ '_neighbours',
                      'a': stem ~ '_labels_a', 'b': stem ~ '_labels_b'} -%}
    {%- for name in tables.values() %}
    {%- do run_query('drop table if exists ' ~ name) %}
    {%- endfor %}
    {%- do run_query('create table ' ~ tables.nodes ~ ' using parquet as ' ~ with_ctes
                     ~ 'select distinct node_id from ' ~ nodes) %}
    {%- do run_query('create table ' ~ tables.edges ~ ' using parquet as ' ~ with_ctes
                     ~ 'select src_node, dst_node from ' ~ edges) %}
    {#- an edge's end outside `nodes` gets no label, as on DuckDB; a self-loop per node stands for "itself" #}
    {%- do run_query('create table ' ~ tables.neighbours ~ ' using parquet as '
                     ~ 'select src_node, dst_node from (select src_node, dst_node from ' ~ tables.edges
                     ~ ' union select dst_node, src_node from ' ~ tables.edges ~ ') as undirected'
                     ~ ' where src_node in (select node_id from ' ~ tables.nodes ~ ')'
                     ~ ' union select node_id, node_id from ' ~ tables.nodes) %}
    {%- do run_query('create table ' ~ tables.a ~ ' using parquet as select node_id, node_id as component_id from '
                     ~ tables.nodes) %}
    {%- set state = namespace(current=tables.a, other=tables.b, converged=false) %}
    {%- set rounds = var('identity_label_rounds', 30) %}
    {%- for round in range(rounds) %}
        {%- do run_query('drop table if exists ' ~ state.other) %}
        {%- do run_query('create table ' ~ state.other ~ ' using parquet as '
                         ~ 'select neighbours.src_node as node_id, min(previous.component_id) as component_id'
                         ~ ' from ' ~ tables.neighbours ~ ' as neighbours inner join ' ~ state.current
                         ~ ' as previous on previous.node_id = neighbours.dst_node group by neighbours.src_node') %}
        {%- set changed = run_query('select count(*) from ' ~ state.other ~ ' as this_round inner join '
                                    ~ state.current ~ ' as last_round on last_round.node_id = this_round.node_id'
                                    ~ ' where this_round.component_id <> last_round.component_id').rows[0][0] %}
        {%- set finished = state.other %}
        {%- set state.other = state.current %}
        {%- set state.current = finished %}
        {%- if changed == 0 %}
            {%- set state.converged = true %}
            {%- break %}
        {%- endif %}
    {%- endfor %}
    {%- if not state.converged %}
        {{- exceptions.raise_compiler_error('connected components of ' ~ edges ~ ' in ' ~ this ~ ': labels still changed after '
                                            ~ rounds ~ ' rounds (var identity_label_rounds); raise it') }}
    {%- endif %}
    select node_id, component_id from {{ state.current }}
    {%- endif %}
{%- endmacro %}
