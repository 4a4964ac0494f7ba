-- Trim spaces, tabs, line breaks and non-breaking spaces from both ends. DuckDB's trim() strips the Unicode space
-- separators (space, no-break space, em space, ...) but not tabs or line breaks.
-- Fast path: plain trim(), and the slower character-set trim only when a tab/line break/nbsp is left at an end.
-- As a join or filter key, compute it once as a column first (see staging_raw_rows): written into a join's
-- condition, DuckDB evaluates the expression (every trim in it) again and again per row.
{% macro trim_whitespace(expression) -%}
    {{ return(adapter.dispatch('trim_whitespace')(expression)) }}
{%- endmacro %}

{% macro default__trim_whitespace(expression) -%}
    {%- set first = 'ascii(trim(' ~ expression ~ '))' -%}
    {%- set last = 'ascii(reverse(trim(' ~ expression ~ ')))' -%}
    case
        when {{ first }} between 9 and 13 or {{ first }} = 160 or {{ last }} between 9 and 13 or {{ last }} = 160
            then trim({{ expression }}, chr(32) || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(160))
        else trim({{ expression }})
    end
{%- endmacro %}

{#- Spark: trim(BOTH characters FROM text) is its character-set trim; chr(160) is the non-breaking space. -#}
{% macro spark__trim_whitespace(expression) -%}
    {%- set first = 'ascii(trim(' ~ expression ~ '))' -%}
    {%- set last = 'ascii(reverse(trim(' ~ expression ~ ')))' -%}
    case
        when {{ first }} between 9 and 13 or {{ first }} = 160 or {{ last }} between 9 and 13 or {{ last }} = 160
            then trim(both chr(32) || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(160) from {{ expression }})
        else trim({{ expression }})
    end
{%- endmacro %}
