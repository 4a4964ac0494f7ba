-- The CTEs `<matrix>_1` .. `<matrix>_<squarings>` of int_journeys__markov_removal_effects: each the square of the one
-- before (per removed channel), from the CTE `<matrix>_0` that `ctes` (the text of the caller's CTEs) defines, each
-- followed by a comma. The caller reads `<matrix>_<squarings>`.
{% macro markov_matrix_squarings(matrix, squarings, ctes) -%}
    {{ return(adapter.dispatch('markov_matrix_squarings', 'customer_journey')(matrix, squarings, ctes)) }}
{%- endmacro %}

{% macro markov_squared(previous) -%}
    select
        a.removed_channel,
        a.from_state,
        b.to_state,
        sum(a.probability * b.probability) as probability
    from {{ previous }} as a
    inner join {{ previous }} as b
        on b.removed_channel = a.removed_channel and b.from_state = a.to_state
    group by a.removed_channel, a.from_state, b.to_state
{%- endmacro %}

-- DuckDB: CTEs, each materialized once and read twice by the next.
{% macro default__markov_matrix_squarings(matrix, squarings, ctes) -%}
{% for i in range(1, squarings + 1) %}
{{ matrix }}_{{ i }} as {{ journey_materialized_cte() }} (
    {{ markov_squared(matrix ~ '_' ~ (i - 1)) }}
),
{% endfor %}
{%- endmacro %}

-- Spark: a table per squaring, written by a statement of its own before the caller's query. Spark inlines every CTE
-- into each of its readers, and each squaring reads the one before twice: as CTEs, the sixteenth squaring's plan held
-- 2^16 copies of the first and the driver ran out of memory. The tables (`<model>__<matrix>_*`, beside the model) are
-- left for the next build to replace.
{% macro spark__markov_matrix_squarings(matrix, squarings, ctes) -%}
    {%- set stem = this.schema ~ '.' ~ this.identifier ~ '__' ~ matrix ~ '_' -%}
    {%- if execute %}
        {%- for i in range(squarings + 1) %}
            {%- do run_query('drop table if exists ' ~ stem ~ i) %}
        {%- endfor %}
        {%- do run_query('create table ' ~ stem ~ '0 using parquet as with ' ~ ctes ~ '\nselect * from ' ~ matrix ~ '_0') %}
        {%- for i in range(1, squarings + 1) %}
            {%- do run_query('create table ' ~ stem ~ i ~ ' using parquet as ' ~ markov_squared(stem ~ (i - 1))) %}
            {%- do run_query('drop table ' ~ stem ~ (i - 1)) %}
        {%- endfor %}
    {%- endif %}
{{ matrix }}_{{ squarings }} as (select * from {{ stem ~ squarings }}),
{%- endmacro %}
