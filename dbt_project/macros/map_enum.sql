-- An enum value lower-cased and trimmed; blank -> null; a value missing from seed staging_enum_values -> 'other'.
-- `known_value` is the seed's value joined on the cleaned text (null when the value is not in the seed).
{% macro map_enum(expression, known_value) -%}
    case
        when {{ nullif_blank(expression) }} is null then null
        when {{ known_value }} is not null then {{ known_value }}
        else 'other'
    end
{%- endmacro %}

-- The known values of one source's enum columns, from seed staging_enum_values (one row per column and value).
{% macro enum_values_for(relation, source_name) -%}
    select distinct
        lower({{ nullif_blank('column_name') }}) as column_name,
        lower({{ nullif_blank('value') }}) as value
    from {{ relation }}
    where lower({{ nullif_blank('source') }}) = '{{ source_name }}'
{%- endmacro %}
