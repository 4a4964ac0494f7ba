-- Trim spaces, tabs, line breaks and non-breaking spaces from both ends (DuckDB's trim() only strips spaces).
{% macro trim_whitespace(expression) -%}
    {{ return(adapter.dispatch('trim_whitespace')(expression)) }}
{%- endmacro %}

{% macro default__trim_whitespace(expression) -%}
    trim({{ expression }}, ' ' || chr(9) || chr(10) || chr(13) || chr(160))
{%- endmacro %}
