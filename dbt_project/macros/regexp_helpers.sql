-- True when `expression` matches the regular expression `pattern` anywhere (anchor it with ^...$ for a full match).
{% macro regexp_like(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_like')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_like(expression, pattern) -%}
    regexp_matches({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__regexp_like(expression, pattern) -%}
    ({{ expression }} rlike '{{ spark_regex(pattern) }}')
{%- endmacro %}

-- Replace every match of `pattern` in `expression` with `replacement`.
{% macro regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro spark__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ spark_regex(pattern) }}', '{{ replacement }}')
{%- endmacro %}

-- The first capture group of `pattern` in `expression`, or null when it does not match.
{% macro regexp_extract_group(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_extract_group')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_extract_group(expression, pattern) -%}
    nullif(regexp_extract({{ expression }}, '{{ pattern }}', 1), '')
{%- endmacro %}

{% macro spark__regexp_extract_group(expression, pattern) -%}
    nullif(regexp_extract({{ expression }}, '{{ spark_regex(pattern) }}', 1), '')
{%- endmacro %}
