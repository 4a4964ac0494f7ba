-- Time zone of offset-less timestamps in one raw source, from var('source_timezones'); UTC when not configured.
{% macro source_timezone(source_name) -%}
    {{ return(var('source_timezones', {}).get(source_name, 'UTC')) }}
{%- endmacro %}
