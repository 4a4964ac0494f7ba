-- A calendar date from text in the first of `formats` (strptime codes) that fits; unparseable -> null.
-- Default formats: ISO first, then the US month/day order (the default phone country is 1), then dotted day.month.
{% macro parse_date(expression, formats=none) -%}
    {%- set formats = formats or var('staging_date_formats', ['%Y-%m-%d', '%Y/%m/%d', '%m/%d/%Y', '%d.%m.%Y', '%Y%m%d']) -%}
    {{ return(adapter.dispatch('parse_date')(expression, formats)) }}
{%- endmacro %}

{% macro default__parse_date(expression, formats) -%}
    cast(try_strptime({{ nullif_blank(expression) }}, ['{{ formats | join("', '") }}']) as date)
{%- endmacro %}

{#- Spark: the first format that parses (try_to_timestamp: null when it does not), strptime codes as Java
    patterns. A code between separators reads one or two digits (strptime's %m and %d do too); without
    separators ('%Y%m%d') widths are fixed. -#}
{% macro spark__parse_date(expression, formats) -%}
    coalesce(
        {%- for format in formats %}
        {%- set separated = format | length > 6 %}
        {%- set java = format | replace('%Y', 'yyyy') | replace('%m', 'M' if separated else 'MM') | replace('%d', 'd' if separated else 'dd') %}
        cast(try_to_timestamp({{ nullif_blank(expression) }}, '{{ java }}') as date){% if not loop.last %},{% endif %}
        {%- endfor %}
    )
{%- endmacro %}
