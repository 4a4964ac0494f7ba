-- A phone number in E.164 ('+' and digits): 10 digits get the default country code, 11 digits starting with it get a
-- '+', a number written with a leading '+' is kept when it has 8-15 digits; anything else is null.
{% macro normalize_phone(expression, country_code=none) -%}
    {%- set cc = (country_code or var('default_phone_country_code', '1')) | string -%}
    {%- set text = nullif_blank(expression) -%}
    {%- set digits = regexp_replace_all(text, '[^0-9]', '') -%}
    case
        when {{ text }} is null then null
        when substr({{ text }}, 1, 1) = '+'
            then case when length({{ digits }}) between 8 and 15 then {{ dbt.concat(["'+'", digits]) }} end
        when length({{ digits }}) = 10 then {{ dbt.concat(["'+" ~ cc ~ "'", digits]) }}
        when length({{ digits }}) = {{ 10 + cc | length }} and substr({{ digits }}, 1, {{ cc | length }}) = '{{ cc }}'
            then {{ dbt.concat(["'+'", digits]) }}
    end
{%- endmacro %}
