-- What differs between the engines the project runs on (DuckDB, the default; Apache Spark: docs/spark.md) and is
-- not a function of its own: types and materializations. Each DuckDB variant renders exactly what the models wrote
-- before the Spark port, so the DuckDB build's SQL is unchanged.

-- The text type in casts and DDL: DuckDB's varchar has no length; Spark's needs one, and its text type is string.
{% macro text_type() -%}
    {{ return(adapter.dispatch('text_type')()) }}
{%- endmacro %}

{% macro default__text_type() -%}
    varchar
{%- endmacro %}

{% macro spark__text_type() -%}
    string
{%- endmacro %}

-- The materialization of the incremental models (docs/journeys.md "Incremental builds"). Their strategies (delete+
-- insert by key, append with a later delete) need row-level deletes, which plain Parquet tables on Spark do not
-- have: there each is rebuilt in full every run (a table), is_incremental() is false and the models read
-- everything. Insert-overwrite by partition, or merge on a table format that has it, is the later step.
{% macro incremental_materialization() -%}
    {{ return(adapter.dispatch('incremental_materialization')()) }}
{%- endmacro %}

{% macro default__incremental_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__incremental_materialization() -%}
    {{ return('table') }}
{%- endmacro %}

-- A regular expression written for DuckDB (RE2, POSIX classes such as [:space:]) as a Spark SQL string literal's
-- content: Java's regex has no POSIX classes inside brackets (it would read [:space:] as the letters), and Spark's
-- SQL parser unescapes backslashes in literals, so each is doubled.
{% macro spark_regex(pattern) -%}
    {{ return(pattern | replace('[:space:]', '\\s') | replace('\\', '\\\\')) }}
{%- endmacro %}
