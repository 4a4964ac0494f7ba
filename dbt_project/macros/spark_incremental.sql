-- Incremental builds on Spark, with generations (docs/spark.md "Incremental builds").
--
-- A Spark run builds every model into a generation of its own (`staging__g8`, ...) beside the published one, so a
-- model's previous state is not `{{ this }}` (the new generation's table, which does not exist yet) but the same
-- table in the published generation the run starts from (previous_generation). A ported model
-- (`incremental_materialization(spark_incremental=true)`) reads it as `{{ previous_build() }}`, which on DuckDB is
-- `{{ this }}`; the DuckDB build's SQL is unchanged.
--
-- Its new table is written in one statement: the previous generation's rows less those of the keys the night's batch
-- holds, plus the batch (what delete+insert leaves on DuckDB). The compute grows with the night; the write is a new
-- table of Parquet files, as every generation's tables are. Plain Parquet tables have no row-level delete, and the
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

-- The incremental materialization on Spark. Only delete+insert on a unique key is ported so far; a model with
-- another strategy stops the build with a message instead of building something else.
{% materialization incremental, adapter='spark' -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
    {%- set incremental = is_incremental() -%}
    {%- set strategy = config.get('incremental_strategy') -%}
    {%- set unique_key = config.get('unique_key') -%}
    {%- if incremental and (strategy != 'delete+insert' or not unique_key) -%}
        {{ exceptions.raise_compiler_error("model " ~ this.identifier ~ ": the incremental strategy '" ~ strategy
            ~ "' is not ported to Spark yet (docs/spark.md); build it as a table: incremental_materialization()") }}
    {%- endif -%}

    {{ run_hooks(pre_hooks) }}
    {%- if existing is not none -%}
        {#- a build of this generation that stopped after this model: built again from the previous generation #}
        {{ adapter.drop_relation(existing) }}
    {%- endif -%}

    {%- if not incremental -%}
        {%- call statement('main') -%}
            {{ create_table_as(False, target_relation, compiled_code) }}
        {%- endcall -%}
    {%- else -%}
        {%- set previous = previous_build() -%}
        {%- set batch = this.incorporate(path={'identifier': this.identifier ~ '__batch'}, type='table') -%}
        {{ adapter.drop_relation(batch) }}
        {%- call statement('batch') -%}
            {{ create_table_as(False, batch, compiled_code) }}
        {%- endcall -%}
        {%- set keys = [unique_key] if unique_key is string else unique_key -%}
        {%- set kept_columns = adapter.get_columns_in_relation(previous) | map(attribute='name') | map('lower') | list -%}
        {%- set columns = adapter.get_columns_in_relation(batch) -%}
        {%- call statement('main') -%}
            {%- set rows -%}
            select
                {%- for column in columns %}
                {% if column.name | lower in kept_columns %}kept.{{ column.name }}{% else %}cast(null as {{ column.data_type }}){% endif %} as {{ column.name }}{{ ',' if not loop.last }}
                {%- endfor %}
            from {{ previous }} as kept
            where not exists (
                select 1 from {{ batch }} as batch
                where {% for key in keys %}batch.{{ key }} = kept.{{ key }}{{ ' and ' if not loop.last }}{% endfor %}
            )
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
