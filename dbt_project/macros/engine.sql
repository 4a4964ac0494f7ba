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

-- The materialization of the incremental models (docs/journeys.md "Incremental builds"). On DuckDB every one is
-- incremental. On Spark a model is incremental once it is ported (`spark_incremental=true`: the Spark form of its
-- strategy, macros/spark_incremental.sql); the others are rebuilt in full every run (a table), is_incremental() is
-- false for them and they read everything (docs/spark.md "Incremental builds").
{% macro incremental_materialization(spark_incremental=false) -%}
    {{ return(adapter.dispatch('incremental_materialization')(spark_incremental)) }}
{%- endmacro %}

{% macro default__incremental_materialization(spark_incremental) -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__incremental_materialization(spark_incremental) -%}
    {{ return('incremental' if spark_incremental else 'table') }}
{%- endmacro %}

-- A regular expression written for DuckDB (RE2, POSIX classes such as [:space:]) as a Spark SQL string literal's
-- content: Java's regex has no POSIX classes inside brackets (it would read [:space:] as the letters), and Spark's
-- SQL parser unescapes backslashes in literals, so each is doubled.
{% macro spark_regex(pattern) -%}
    {{ return(pattern | replace('[:space:]', '\\s') | replace('\\', '\\\\')) }}
{%- endmacro %}

-- One row per element of the list `expression` (in a select list): DuckDB's unnest, Spark's explode.
{% macro explode_list(expression) -%}
    {{ return(adapter.dispatch('explode_list')(expression)) }}
{%- endmacro %}

{% macro default__explode_list(expression) -%}
    unnest({{ expression }})
{%- endmacro %}

{% macro spark__explode_list(expression) -%}
    explode({{ expression }})
{%- endmacro %}

-- The number of the `seconds`-long interval a timestamp falls in, counted from 1970 (a bucket of a time window's
-- equi-join): DuckDB's epoch, Spark's unix_micros, both to the microsecond.
{% macro time_bucket(expression, seconds) -%}
    {{ return(adapter.dispatch('time_bucket')(expression, seconds)) }}
{%- endmacro %}

{% macro default__time_bucket(expression, seconds) -%}
    cast(floor(epoch({{ expression }}) / {{ seconds }}) as bigint)
{%- endmacro %}

{% macro spark__time_bucket(expression, seconds) -%}
    cast(floor(unix_micros({{ expression }}) / {{ seconds * 1000000 }}) as bigint)
{%- endmacro %}

-- A text split on a one-character `delimiter` into a list: DuckDB's string_split, Spark's split (whose delimiter is a
-- regular expression: the character is quoted).
{% macro split_text(expression, delimiter) -%}
    {{ return(adapter.dispatch('split_text')(expression, delimiter)) }}
{%- endmacro %}

{% macro default__split_text(expression, delimiter) -%}
    string_split({{ expression }}, '{{ delimiter }}')
{%- endmacro %}

{% macro spark__split_text(expression, delimiter) -%}
    split({{ expression }}, '[{{ delimiter }}]')
{%- endmacro %}

-- dbt's listagg on Spark (overrides dbt-spark's, which ignores the order and warns): the project's calls order
-- by one ascending expression ('order by touch_position'), or list distinct values ordered by themselves.
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- set order_expression = (order_by_clause or '') | replace('order by', '') | trim -%}
    {%- if ',' in order_expression or ' desc' in order_expression | lower -%}
        {{ exceptions.raise_compiler_error("spark__listagg orders by one ascending expression, not: " ~ order_by_clause) }}
    {%- endif -%}
    {%- if (measure | lower | trim)[:9] == 'distinct ' -%}
        {%- set collected = 'array_sort(collect_set(' ~ (measure | trim)[9:] ~ '))' -%}
    {%- elif order_expression -%}
        {%- set collected = 'transform(array_sort(collect_list(struct(' ~ order_expression ~ ' as sort_key, ' ~ measure
            ~ ' as item))), entry -> entry.item)' -%}
    {%- else -%}
        {%- set collected = 'collect_list(' ~ measure ~ ')' -%}
    {%- endif -%}
    {%- if limit_num %}{% set collected = 'slice(' ~ collected ~ ', 1, ' ~ limit_num ~ ')' %}{% endif -%}
    array_join({{ collected }}, {{ delimiter_text }})
{%- endmacro %}

-- Every column of a relation but `excluded`, in a select list: DuckDB's `* exclude (...)`. Spark SQL has no such
-- star, so there the relation's `columns` (all of them, in order) are listed, less the excluded ones.
{% macro star_except(excluded, columns) -%}
    {{ return(adapter.dispatch('star_except')(excluded, columns)) }}
{%- endmacro %}

{% macro default__star_except(excluded, columns) -%}
    * exclude ({{ excluded | join(', ') }})
{%- endmacro %}

{% macro spark__star_except(excluded, columns) -%}
    {{ columns | reject('in', excluded) | join(', ') }}
{%- endmacro %}

-- A percent-encoded text decoded, or null when it is not valid percent-encoding.
{% macro try_url_decode(expression) -%}
    {{ return(adapter.dispatch('try_url_decode')(expression)) }}
{%- endmacro %}

{% macro default__try_url_decode(expression) -%}
    try(url_decode({{ expression }}))
{%- endmacro %}

{% macro spark__try_url_decode(expression) -%}
    try_url_decode({{ expression }})
{%- endmacro %}

-- Seeds on Spark: read by Spark's own CSV reader, as dbt-duckdb reads them with DuckDB's. dbt-spark's own loader binds
-- the values dbt parsed, and dbt parses the text `null` (a placeholder value of identity_placeholder_values) as a
-- missing value, and so would other adapters: a null in that list made `name not in (...)` unknown for every name,
-- and no name was observed. Spark's reader, like DuckDB's, reads an empty field as null and every other field as
-- written. The seed's path must be readable by Spark (local mode reads it from dbt's machine).
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) %}
    {%- set path = model['root_path'] ~ '/' ~ model['original_file_path'] %}
    {%- set view = this.identifier ~ '__csv' %}
    {%- do run_query("create or replace temporary view " ~ view ~ " using csv options (path '" ~ path
                     ~ "', header 'true', escape '\"', multiLine 'true', mode 'FAILFAST')") %}
    {%- set sql %}
        insert into {{ this.render() }}
        select
        {%- for col_name in agate_table.column_names %}
            cast(`{{ col_name }}` as {{ column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) }})
            {{- "," if not loop.last }}
        {%- endfor %}
        from {{ view }}
    {%- endset %}
    {%- do run_query(sql) %}
    {%- do run_query('drop view ' ~ view) %}
    {{ return(sql) }}
{% endmacro %}

-- An amount of money divided by a count, to the cent, half away from zero (null for a count of 0): 129.95 over 2
-- orders is 64.98. DuckDB divides decimals in double, where 64.975 is 64.97499999...: it would round to 64.97, and
-- Spark, which divides decimals exactly, to 64.98. On DuckDB the division is done in whole cents instead.
{% macro money_average(amount, count) -%}
    {{ return(adapter.dispatch('money_average')(amount, count)) }}
{%- endmacro %}

{% macro default__money_average(amount, count) -%}
    cast({{ amount }} / nullif({{ count }}, 0) as decimal(18, 2))
{%- endmacro %}

{% macro duckdb__money_average(amount, count) -%}
    cast(
        cast(sign({{ amount }}) * ((2 * abs(cast({{ amount }} * 100 as hugeint)) + nullif({{ count }}, 0))
            // (2 * nullif({{ count }}, 0))) as decimal(38, 0)) * 0.01
        as decimal(18, 2))
{%- endmacro %}

-- A model's CTE text (`a as (...), b as (...)`, each CTE named at the start of a line and closed by a `)` at the start
-- of a line) with the CTEs `names` read from tables of their own on Spark. Spark inlines a CTE at every reference,
-- so a chain of CTEs that each read the ones before several times is planned and computed again at every reference:
-- the incremental int_identity__identifier_guards ran out of the driver's heap. On Spark each named CTE is written,
-- in the order given, to a table beside the model (`<model>__cte_<name>`, left for the next build to replace) from
-- the text as it stands, and its body becomes a read of that table; `preceding` is the text of CTEs before `ctes`
-- that they read. DuckDB plans a CTE once: the text is returned as it is.
{% macro cte_tables(ctes, names, preceding='') -%}
    {{ return(adapter.dispatch('cte_tables')(ctes, names, preceding)) }}
{%- endmacro %}

{% macro default__cte_tables(ctes, names, preceding) -%}
    {{ return(ctes) }}
{%- endmacro %}

{% macro spark__cte_tables(ctes, names, preceding) -%}
    {%- if not execute %}{{ return(ctes) }}{% endif %}
    {%- set state = namespace(ctes=ctes) %}
    {%- for name in names %}
        {%- set pattern = '(?ms)^' ~ name ~ ' as \\(\\n.*?^\\)' %}
        {%- if not modules.re.search(pattern, state.ctes) %}
            {{- exceptions.raise_compiler_error('cte_tables in ' ~ this ~ ': no CTE ' ~ name ~ ' (named at the start of a line, closed at the start of a line)') }}
        {%- endif %}
        {%- set table = this.schema ~ '.' ~ this.identifier ~ '__cte_' ~ name %}
        {%- do run_query('drop table if exists ' ~ table) %}
        {%- do run_query('create table ' ~ table ~ ' using parquet as with ' ~ ((preceding ~ ',\n') if preceding else '')
                         ~ state.ctes ~ '\nselect * from ' ~ name) %}
        {%- set state.ctes = modules.re.sub(pattern, name ~ ' as (select * from ' ~ table ~ ')', state.ctes, count=1) %}
    {%- endfor %}
    {{ return(state.ctes) }}
{%- endmacro %}
