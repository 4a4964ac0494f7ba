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
