-- A money amount from text as decimal(18,2); unparseable -> null (ingestion quarantines rows with bad amounts).
{% macro parse_amount(expression) -%}
    try_cast({{ nullif_blank(expression) }} as decimal(18, 2))
{%- endmacro %}

-- A whole number from text ('4', ' 4 ', '4.0'); fractions ('4.5') and other text -> null rather than rounded.
{% macro parse_integer(expression) -%}
    case
        when {{ regexp_like(nullif_blank(expression), '^[+-]?[0-9]+([.]0*)?$') }}
            then try_cast(try_cast({{ nullif_blank(expression) }} as decimal(38, 6)) as integer)
    end
{%- endmacro %}
