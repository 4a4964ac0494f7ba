-- Uniqueness tests of an incremental build read the keys the build wrote (docs/journeys.md "Data tests of an
-- incremental build").
--
-- A model whose uniqueness tests scan a large table records, in a post-hook, the key columns of the rows this build
-- inserted (`record_keys_built`); such a test carries `where: "journey_keys_built_tonight(col, ...)"` and then checks
-- every row, old or new, that shares a key with a row written tonight: a key written twice tonight, or written tonight
-- beside a row a previous build left, fails as it fails a full scan. Rows no build touched tonight were checked by
-- the build that wrote them. The test reads the whole table when the build wrote the whole table (a first build, a
-- full refresh), when the model was not built by this invocation (a `dbt test` alone), on engines without the
-- record (Spark: dbt-spark stages no batch to read the keys from), and unless the pipeline says that every row of the
-- file was checked before this build (env JOURNEY_SCOPED_UNIQUENESS_TESTS=1, set for the first dbt build of a build
-- file the run has just started: not for a dbt build run by hand, nor for a dbt step run again on the same file).

-- The keys live in an in-memory database attached for the invocation (on-run-start): they never reach the warehouse
-- file, and nothing is left behind. DuckDB attaches per database instance, so every thread's connection sees it, as
-- long as dbt-duckdb keeps the instance open for the invocation (profiles.yml: keep_open).
{% macro keys_built_catalog() -%}journey_keys_built{%- endmacro %}

{% macro attach_keys_built() -%}
    {{ return(adapter.dispatch('attach_keys_built')()) }}
{%- endmacro %}
{% macro default__attach_keys_built() -%}select 1{%- endmacro %}
{% macro duckdb__attach_keys_built() -%}
    attach if not exists '{{ env_var("JOURNEY_KEYS_BUILT_FILE", ":memory:") }}' as {{ keys_built_catalog() }}
{%- endmacro %}

-- Post-hook of an incremental model, run after its commit (a DuckDB transaction writes to one database only):
-- `post_hook=after_commit("{{ record_keys_built(['key', ...]) }}")`. It records
-- the distinct `columns` of the rows this build inserted, read from the batch dbt-duckdb's incremental
-- materialization staged in a temporary table, with one marker row (`_marker`) that says which build wrote the record
-- and whether it covered every row (`_all_rows`: a first build or a full refresh).
{% macro record_keys_built(columns) -%}
    {{ return(adapter.dispatch('record_keys_built')(columns)) }}
{%- endmacro %}
{% macro default__record_keys_built(columns) -%}select 1{%- endmacro %}
{% macro duckdb__record_keys_built(columns) -%}
    {%- set batch = none -%}
    {%- if execute and run_query("select count(*) from duckdb_databases() where database_name = '"
                                 ~ keys_built_catalog() ~ "'").rows[0][0] == 0 -%}
        {#- nothing attached (an on-run-start that failed): nothing recorded, the tests read whole tables #}
        {{ return('select 1') }}
    {%- endif -%}
    {%- if execute and is_incremental() and not flags.FULL_REFRESH -%}
        {%- set found = run_query(
            "select table_name from duckdb_tables() where temporary and starts_with(table_name, '"
            ~ this.identifier ~ "__dbt_tmp') order by table_name desc limit 1") -%}
        {%- if found.rows | length == 1 -%}
            {%- set batch = adapter.quote(found.rows[0][0]) -%}
        {%- endif -%}
    {%- endif -%}
    create or replace table {{ keys_built_catalog() }}.main.{{ this.identifier }} as
    {%- if batch %}
    select distinct {{ columns | join(', ') }}, false as _marker, false as _all_rows, {{ build_started_at() }} as _built_at
    from temp.main.{{ batch }}
    union all
    {%- endif %}
    select {% for column in columns %}null as {{ column }}, {% endfor -%}
        true as _marker, {{ 'false' if batch else 'true' }} as _all_rows, {{ build_started_at() }} as _built_at
{%- endmacro %}

-- dbt's `where` config, with one more form: journey_keys_built_tonight(col, ...) restricts a uniqueness test to the
-- rows that share `col, ...` with a row this build wrote (see the top of this file).
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and where.strip().startswith('journey_keys_built_tonight(') -%}
        {%- set columns = where.strip()[('journey_keys_built_tonight(' | length):-1].split(',') | map('trim') | list -%}
        {{ return(keys_built_tonight(relation, columns)) }}
    {%- elif where -%}
        {{ return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}

{% macro keys_built_tonight(relation, columns) -%}
    {{ return(adapter.dispatch('keys_built_tonight')(relation, columns)) }}
{%- endmacro %}
{% macro default__keys_built_tonight(relation, columns) -%}{{ return(relation) }}{%- endmacro %}
{% macro duckdb__keys_built_tonight(relation, columns) -%}
    {%- set keys = keys_built_scope(relation) -%}
    {%- if keys is none -%}{{ return(relation) }}{%- endif -%}
    {%- set match -%}
        {#- null is a value here: journey_unique_combination counts two rows with the same nulls as a duplicate #}
        {%- for column in columns %}built.{{ column }} is not distinct from tested.{{ column }}{{ ' and ' if not loop.last }}{% endfor -%}
    {%- endset -%}
    {{ return('(select * from ' ~ relation ~ ' as tested where exists (select 1 from ' ~ keys
              ~ ' as built where not built._marker and ' ~ match ~ ')) dbt_subquery') }}
{%- endmacro %}

-- The same scope for a singular test: `{{ built_tonight(ref('model'), 'column') }}` is a condition on `column` that
-- holds for the values of `column` in the rows this build wrote into the model (one of the keys the model records),
-- and `true` wherever its uniqueness tests read whole tables. A test of a rule about groups of rows (a conversion's
-- credits) scopes the groups this way: every row of a group the build touched is checked, old or new.
{% macro built_tonight(relation, column) -%}
    {{ return(adapter.dispatch('built_tonight')(relation, column)) }}
{%- endmacro %}
{% macro default__built_tonight(relation, column) -%}{{ return('true') }}{%- endmacro %}
{% macro duckdb__built_tonight(relation, column) -%}
    {%- set keys = keys_built_scope(relation) -%}
    {%- if keys is none -%}{{ return('true') }}{%- endif -%}
    {{ return(column ~ ' in (select built.' ~ column ~ ' from ' ~ keys ~ ' as built where not built._marker)') }}
{%- endmacro %}

-- The keys this build recorded for `relation` (a table of the attached catalog), or none where its tests read whole
-- tables (see the top of this file).
{% macro keys_built_scope(relation) -%}
    {#- the pipeline allows it on the first dbt build of a build file it has just started (SCOPED_TESTS_ENV in
        orchestration/lib/warehouse.py): a dbt build run by hand, or again on a file an earlier attempt wrote rows
        into, tests whole tables -#}
    {%- if not execute or env_var('JOURNEY_SCOPED_UNIQUENESS_TESTS', '0') != '1' -%}{{ return(none) }}{%- endif -%}
    {%- set keys = keys_built_catalog() ~ '.main.' ~ relation.identifier -%}
    {%- set state = run_query(
        "select count(*) filter (where not _all_rows and _built_at = " ~ build_started_at() ~ ") = 1 "
        ~ "from " ~ keys ~ " where _marker") if keys_built_exist(relation.identifier) else none -%}
    {%- if state is none or not state.rows[0][0] -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(keys) }}
{%- endmacro %}

{% macro keys_built_exist(identifier) -%}
    {%- set found = run_query(
        "select count(*) from duckdb_tables() where database_name = '" ~ keys_built_catalog()
        ~ "' and schema_name = 'main' and table_name = '" ~ identifier ~ "'") -%}
    {{ return(found.rows[0][0] == 1) }}
{%- endmacro %}
