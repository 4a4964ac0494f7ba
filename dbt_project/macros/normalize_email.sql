-- An email lower-cased and trimmed; null when empty or not shaped like local@domain.tld (placeholders are kept).
{% macro normalize_email(expression) -%}
    {%- set email = 'lower(' ~ nullif_blank(expression) ~ ')' -%}
    case
        when {{ regexp_like(email, '^[^@[:space:]]+@([^@[:space:].]+[.])+[a-z]{2,}$') }} then {{ email }}
    end
{%- endmacro %}
