-- A calendar date from text in the first of `formats` (strptime codes) that fits; unparseable -> null.
-- Default formats: ISO first, then the US month/day order (the default phone country is 1), then dotted day.month.
{% macro parse_date(expression, formats=none) -%}
    {%- set formats = formats or var('staging_date_formats', ['%Y-%m-%d', '%Y/%m/%d', '%m/%d/%Y', '%d.%m.%Y', '%Y%m%d']) -%}
    {{ return(adapter.dispatch('parse_date')(expression, formats)) }}
{%- endmacro %}

{% macro default__parse_date(expression, formats) -%}
    cast(try_strptime({{ nullif_blank(expression) }}, ['{{ formats | join("', '") }}']) as date)
{%- endmacro %}
