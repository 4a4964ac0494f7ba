-- Text as delivered, trimmed; an empty or whitespace-only value becomes null.
{% macro nullif_blank(expression) -%}
    nullif({{ trim_whitespace(expression) }}, '')
{%- endmacro %}
