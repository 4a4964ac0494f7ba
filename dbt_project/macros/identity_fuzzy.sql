-- Fuzzy matching helpers shared by int_identity__fuzzy_matches and the models that track its changes.

-- A person record's name and address (null when a part is missing): records with the same key and birth dates
-- far apart are namesakes at one address (a father and son), which vetoes matching there without a birth date.
{% macro identity_namesake_key(alias) -%}
    ({{ alias }}.first_name_key || '|' || {{ alias }}.last_name_key || '|' || {{ alias }}.postcode_key || '|' || {{ alias }}.street_key)
{%- endmacro %}

-- The person records (source:record_id) whose fuzzy matches a build compares again: the changed records, and the
-- records that share a namesake key with one of them (a namesake's new birth date may veto their pairs, and a
-- record's keys only grow: it keeps the descriptions of its earlier versions).
{% macro identity_fuzzy_recompared_records() -%}
    (
        select source_name || ':' || record_id from {{ ref('int_identity__changed_records') }}
        where source_name in ('crm_contacts', 'orders')
        union
        select other.source_name || ':' || other.record_id
        from {{ ref('int_identity__person_records') }} as changed
        inner join {{ ref('int_identity__changed_records') }} as changed_records
            on changed_records.source_name = changed.source_name and changed_records.record_id = changed.record_id
        inner join {{ ref('int_identity__person_records') }} as other
            on {{ identity_namesake_key('other') }} = {{ identity_namesake_key('changed') }}
    )
{%- endmacro %}
