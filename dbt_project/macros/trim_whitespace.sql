-- Trim spaces, tabs, line breaks and non-breaking spaces from both ends. DuckDB's trim() strips the Unicode space
-- separators (spaces, non-breaking and other Unicode spaces) but not tabs or line breaks: those take the slower
-- character-set trim.
-- Fast path: a value whose first and last characters are none of those is returned as it is (most values); only
-- the others are trimmed, exactly as before. (The earlier fast path trimmed every value up to five times to look
-- at its ends: as a join key, e.g. staging's "keys with new raw rows", that cost 8x as much.)
{% macro trim_whitespace(expression) -%}
    {{ return(adapter.dispatch('trim_whitespace')(expression)) }}
{%- endmacro %}

{#- The code points at a value's ends that either trim strips: tab to carriage return, and the Unicode space
    separators (category Zs: space, no-break space, ogham space, en quad to hair space, narrow no-break space,
    medium mathematical space, ideographic space), which are what DuckDB's trim() strips. -#}
{% macro trimmed_code_points() -%}
    9, 10, 11, 12, 13, 32, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8239, 8287, 12288
{%- endmacro %}

{% macro default__trim_whitespace(expression) -%}
    {%- set first = 'ascii(trim(' ~ expression ~ '))' -%}
    {%- set last = 'ascii(reverse(trim(' ~ expression ~ ')))' -%}
    case
        when not (ascii({{ expression }}) in ({{ trimmed_code_points() }})
                  or ascii(reverse({{ expression }})) in ({{ trimmed_code_points() }}))
            then {{ expression }}
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
