-- Incremental builds on Spark, with generations (docs/spark.md "Incremental builds").
--
-- A Spark run builds every model into a generation of its own (`staging__g8`, ...) beside the published one, so a
-- model's previous state is not `{{ this }}` (the new generation's table, which does not exist yet) but the same
-- table in the published generation the run starts from (previous_generation). A ported model
-- (`incremental_materialization(spark_incremental=true)`) reads it as `{{ previous_build() }}`, which on DuckDB is
-- `{{ this }}`; the DuckDB build's SQL is unchanged.
--
-- Its new table is the previous generation's rows less the scope its pre-hooks name (delete_stored_rows) and less
-- the rows of the keys the night's batch holds (delete+insert), plus the batch: what DuckDB's delete and insert
-- leave. The batch is the model's select, written first to a scratch table `<model>__batch`; then one statement
-- writes the new table. The compute grows with the night; the write is a new table of Parquet files, as every
-- generation's tables are. Plain Parquet tables have no row-level delete, and the
-- published generation stays as it was until the new one is published, so a failed build leaves nothing to undo.

-- The table the previous build of this model left: `this` on DuckDB (an incremental build changes its own table),
-- the published generation's on Spark (none when there is none: a first build, or a run whose previous state was
-- carried elsewhere, such as an erasure's).
{% macro previous_build() -%}
    {{ return(adapter.dispatch('previous_build')()) }}
{%- endmacro %}

{% macro default__previous_build() -%}
    {{ return(this) }}
{%- endmacro %}

{% macro spark__previous_build() -%}
    {{ return(previous_generation(this)) }}
{%- endmacro %}

-- dbt's is_incremental(), and on Spark: a ported incremental model whose previous generation has its table, unless
-- the build rebuilds everything (--full-refresh, the model's full_refresh config).
{% macro is_incremental() -%}
    {%- if target.type != 'spark' -%}
        {{ return(dbt.is_incremental()) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(model.config.materialized == 'incremental' and not should_full_refresh()
              and previous_generation(this) is not none) }}
{%- endmacro %}

-- Whether an incremental build changes the model's own table in place (DuckDB: delete, update and insert on it) or
-- writes a new table from the previous generation's rows and the night's batch (Spark: plain Parquet tables have no
-- row-level change). A model whose hooks change stored rows asks this instead of naming an engine.
{% macro stored_rows_change_in_place() -%}
    {{ return(adapter.dispatch('stored_rows_change_in_place')()) }}
{%- endmacro %}

{% macro default__stored_rows_change_in_place() -%}
    {{ return(true) }}
{%- endmacro %}

{% macro spark__stored_rows_change_in_place() -%}
    {{ return(false) }}
{%- endmacro %}

-- The pre-hook of an incremental model that rebuilds a scope of its rows (`append` after a delete, or a delete before
-- `delete+insert`): `pre_hook="{{ delete_stored_rows('stored', is_changed_record('stored')) }}"`. On DuckDB (on an
-- incremental build) the delete of the stored rows, as `alias`, for which `predicate` holds. On Spark the predicate,
-- marked for the materialization below, which keeps the previous generation's rows where it does not hold.
-- Write a scope over another table with `in (select ...)` or `exists`, never `not in (select ...)`: Spark keeps the rows
-- as `not coalesce((predicate), false)`, and a `not in` subquery inside an expression is planned as a null-aware
-- existence join that compares every pair of rows (a 100k-people night stalled on it for the identifier guards).
{% macro delete_stored_rows(alias, predicate) -%}
    {%- do refuse_not_in_subquery(predicate) -%}
    {%- if not is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    {{ return(adapter.dispatch('delete_stored_rows')(alias, predicate)) }}
{%- endmacro %}

{% macro default__delete_stored_rows(alias, predicate) -%}
    delete from {{ this }} as {{ alias }} where {{ predicate }}
{%- endmacro %}

{% macro spark__delete_stored_rows(alias, predicate) -%}
    {{ spark_scope_mark() }} {{ alias }}
    {{ predicate }}
{%- endmacro %}

-- The rows of the previous build that a model keeps after its pre-hooks' scope (`predicate` over `alias`), for a
-- select that reads them: on DuckDB the model's own table, from which the pre-hook has already deleted the scope; on
-- Spark the previous generation's rows where the predicate does not hold (the materialization leaves them out only
-- when it writes the new table, after the select).
{% macro stored_rows_kept(alias, predicate) -%}
    {%- do refuse_not_in_subquery(predicate) -%}
    {{ return(adapter.dispatch('stored_rows_kept')(alias, predicate)) }}
{%- endmacro %}

{% macro default__stored_rows_kept(alias, predicate) -%}
    {{ return(this) }}
{%- endmacro %}

{% macro spark__stored_rows_kept(alias, predicate) -%}
    (select * from {{ previous_build() }} as {{ alias }} where not coalesce(({{ predicate }}), false))
{%- endmacro %}

{#- A scope's `not in` subquery (`x not in (select ...)`, `not in ((select ...))`, `not in (with ...)`) is refused on
    both engines, so a DuckDB build finds it before a Spark night stalls on it. -#}
{% macro refuse_not_in_subquery(predicate) -%}
    {%- if modules.re.search('\\bnot\\s+in\\s*\\(+\\s*(select|with)\\b', predicate, modules.re.IGNORECASE) -%}
        {{ exceptions.raise_compiler_error("a scope of stored rows is written with `not exists`, not `not in (select ...)`"
            ~ " (Spark compares every pair of rows for it): " ~ predicate) }}
    {%- endif -%}
{%- endmacro %}

{% macro spark_scope_mark() -%}-- journey: rows of the previous generation not kept, as{%- endmacro %}

-- The incremental materialization on Spark: `delete+insert` on a unique key, and `append`, each after the scopes of
-- its pre-hooks (delete_stored_rows). The new generation's table is the previous generation's rows outside the
-- scopes and not sharing a key with the batch, plus the batch.
{% materialization incremental, adapter='spark' -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
    {%- set incremental = is_incremental() -%}
    {%- set strategy = config.get('incremental_strategy') -%}
    {%- set unique_key = config.get('unique_key') -%}
    {%- if incremental and not ((strategy == 'delete+insert' and unique_key) or strategy == 'append') -%}
        {{ exceptions.raise_compiler_error("model " ~ this.identifier ~ ": the incremental strategy '" ~ strategy
            ~ "' is not ported to Spark (docs/spark.md)") }}
    {%- endif -%}

    {#- the pre-hooks: a scope (delete_stored_rows) is kept for the statement below, anything else runs #}
    {%- set scopes = [] -%}
    {%- for hook in pre_hooks -%}
        {%- set rendered = render(hook.get('sql')) | trim -%}
        {%- if rendered.startswith(spark_scope_mark()) -%}
            {%- set lines = rendered[spark_scope_mark() | length:].split('\n', 1) -%}
            {%- do scopes.append((lines[0] | trim, lines[1])) -%}
        {%- elif rendered -%}
            {%- call statement('pre_hook_' ~ loop.index) -%}{{ rendered }}{%- endcall -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if existing is not none -%}
        {#- a build of this generation that stopped after this model: built again from the previous generation #}
        {{ adapter.drop_relation(existing) }}
    {%- endif -%}

    {%- if not incremental -%}
        {%- call statement('main') -%}
            {{ create_table_as(False, target_relation, compiled_code) }}
        {%- endcall -%}
    {%- else -%}
        {%- set batch = this.incorporate(path={'identifier': this.identifier ~ '__batch'}, type='table') -%}
        {{ adapter.drop_relation(batch) }}
        {%- call statement('batch') -%}
            {{ create_table_as(False, batch, compiled_code) }}
        {%- endcall -%}
        {%- set kept_columns = adapter.get_columns_in_relation(previous_build()) | map(attribute='name') | map('lower') | list -%}
        {%- set columns = adapter.get_columns_in_relation(batch) -%}
        {%- set kept = namespace(rows='select * from ' ~ previous_build()) -%}
        {%- for alias, predicate in scopes -%}
            {%- set kept.rows = 'select * from (' ~ kept.rows ~ ') as ' ~ alias ~ ' where not coalesce((' ~ predicate ~ '), false)' -%}
        {%- endfor -%}
        {%- call statement('main') -%}
            {%- set rows -%}
            select
                {%- for column in columns %}
                {% if column.name | lower in kept_columns %}kept.{{ column.name }}{% else %}cast(null as {{ column.data_type }}){% endif %} as {{ column.name }}{{ ',' if not loop.last }}
                {%- endfor %}
            from ({{ kept.rows }}) as kept
            {%- if strategy == 'delete+insert' %}
            {%- set keys = [unique_key] if unique_key is string else unique_key %}
            where not exists (
                select 1 from {{ batch }} as batch
                where {% for key in keys %}batch.{{ key }} = kept.{{ key }}{{ ' and ' if not loop.last }}{% endfor %}
            )
            {%- endif %}
            union all
            select {% for column in columns %}{{ column.name }}{{ ', ' if not loop.last }}{% endfor %}
            from {{ batch }}
            {%- endset %}
            {{ create_table_as(False, target_relation, rows) }}
        {%- endcall -%}
        {{ adapter.drop_relation(batch) }}
    {%- endif -%}

    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}
