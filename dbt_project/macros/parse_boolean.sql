-- Yes/no text to a boolean: 'true'/'yes'/'1'/'y' -> true, 'false'/'no'/'0'/'n' -> false, anything else -> null.
{% macro parse_boolean(expression, true_values=('true', 'yes', '1', 'y'), false_values=('false', 'no', '0', 'n')) -%}
    case
        when lower({{ nullif_blank(expression) }}) in ('{{ true_values | join("', '") }}') then true
        when lower({{ nullif_blank(expression) }}) in ('{{ false_values | join("', '") }}') then false
    end
{%- endmacro %}
