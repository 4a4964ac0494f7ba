-- The host of a URL, lower-cased, without a leading 'www.'; accepts scheme-less 'example.com/path'; else null.
{% macro url_domain(expression) -%}
    {%- set url = 'lower(' ~ nullif_blank(expression) ~ ')' -%}
    {%- set host = 'coalesce('
        ~ regexp_extract_group(url, '^[a-z][a-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#:@]+)') ~ ', '
        ~ regexp_extract_group(url, '^(([a-z0-9-]+[.])+[a-z]{2,})([/?#:]|$)') ~ ')' -%}
    nullif({{ regexp_replace_all(host, '^www[.]', '') }}, '')
{%- endmacro %}
