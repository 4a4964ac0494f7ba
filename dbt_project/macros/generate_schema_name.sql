-- Schemas are named exactly as configured (staging, intermediate, marts), not prefixed with the target schema.
-- On Spark, `journey run --engine spark` builds each run into a generation of its own: every schema gets the suffix
-- in JOURNEY_SPARK_SCHEMA_SUFFIX (`__g7`: marts__g7, ...), and publishing points the readers' views at a generation
-- only after its gates passed (orchestration/spark_run.py, docs/spark.md "Publishing"). Unset, the names are plain.
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set name = target.schema if custom_schema_name is none else custom_schema_name | trim -%}
    {{ name }}{{ generation_suffix() }}
{%- endmacro %}

{% macro generation_suffix() -%}
    {%- if target.type == 'spark' -%}{{ env_var('JOURNEY_SPARK_SCHEMA_SUFFIX', '') }}{%- endif -%}
{%- endmacro %}

-- The same table in the published generation a Spark run starts from (JOURNEY_SPARK_PREVIOUS_SUFFIX, set by
-- `journey run --engine spark` when a generation is published), or none: on DuckDB (whose state lives in the table
-- itself, read as {{ this }} by an incremental build), on Spark's first run, and where that generation lacks the
-- table. A full refresh carries it on too: as on DuckDB, where these models are never rebuilt (full_refresh=false). The customer-id map and the merge log read it, so that they survive runs on Spark,
-- where every model is otherwise rebuilt from raw history (docs/spark.md).
{% macro previous_generation(relation) -%}
    {{ return(adapter.dispatch('previous_generation')(relation)) }}
{%- endmacro %}

{% macro default__previous_generation(relation) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__previous_generation(relation) -%}
    {%- set previous = env_var('JOURNEY_SPARK_PREVIOUS_SUFFIX', '') -%}
    {%- set current = generation_suffix() -%}
    {%- if not execute or not previous or not current or not relation.schema.endswith(current) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set schema = relation.schema[:relation.schema | length - current | length] ~ previous -%}
    {{ return(adapter.get_relation(database=relation.database, schema=schema, identifier=relation.identifier)) }}
{%- endmacro %}
