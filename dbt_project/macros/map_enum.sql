-- An enum value (already lower-cased and trimmed, blank -> null) checked against seed staging_enum_values:
-- null stays null, a listed value is kept, anything else becomes 'other'. `known_value` is the seed's value
-- left-joined on the cleaned text (null when the value is not listed).
{% macro map_enum(cleaned_value, known_value) -%}
    case
        when {{ cleaned_value }} is null then null
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
