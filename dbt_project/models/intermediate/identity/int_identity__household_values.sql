-- Household values: identifiers of the types in var identity_household_types (phone) carried by a person record
-- (CRM contact, order) at an address where person records name people of different first names. A family landline
-- is given by one member on their CRM contact and by another at a till; the till sale has no name and no core
-- identifier, so the people count of int_identity__identifier_guards sees one person core and the landline would
-- join the other member's purchase to the first member. At such an address a phone may be the household's, and a
-- record that carries nothing else cannot say whose: int_identity__identifier_guards blocks these values.
-- First names differ as in the fuzzy model's veto (int_identity__fuzzy_matches): not equal, not a swap of first and
-- last name, not a nickname of one another, more than one edit apart and less similar than
-- identity_fuzzy_name_similarity. A father and son of one name are not seen here (the namesake veto is theirs).
-- Rebuilt whole every build from the person records (a few per address): a night's new resident changes the values
-- of everyone at the address, which the guards then rewrite (their rows keep is_household_value).

with

person_records as (select * from {{ ref('int_identity__person_records') }}),
identifier_values as (select * from {{ ref('int_identity__identifier_values') }}),
nicknames as (select * from {{ ref('identity_nicknames') }}),

residents as (
    select distinct postcode_key, street_key, first_name_key, last_name_key
    from person_records
    where postcode_key is not null and street_key is not null
),

-- A name and every name it may stand for: itself, and the full names a nickname belongs to.
name_groups as (
    select distinct first_name_key as name_key, first_name_key as group_key from residents
    union
    select nickname, canonical_name from nicknames
),

household_addresses as (
    select distinct a.postcode_key, a.street_key
    from residents as a
    inner join residents as b
        on b.postcode_key = a.postcode_key and b.street_key = a.street_key and a.first_name_key < b.first_name_key
    where not (a.first_name_key = b.last_name_key and a.last_name_key = b.first_name_key)
        and not exists (
            select 1 from name_groups as ga inner join name_groups as gb on ga.group_key = gb.group_key
            where ga.name_key = a.first_name_key and gb.name_key = b.first_name_key
        )
        and not {{ identity_within_one_edit('a.first_name_key', 'b.first_name_key') }}
        and {{ identity_similarity('a.first_name_key', 'b.first_name_key') }} < {{ var('identity_fuzzy_name_similarity') }}
),

{%- set household_types = var('identity_household_types', []) %}
{%- for identifier_type in household_types %}
{%- if identifier_type not in ['phone', 'email'] %}
{{ exceptions.raise_compiler_error("identity_household_types: person records carry phone and email only, not " ~ identifier_type) }}
{%- endif %}
{%- endfor %}

carried as (
    {%- for identifier_type in household_types %}
    select postcode_key, street_key, '{{ identifier_type }}' as identifier_type, {{ identifier_type }} as identifier_value
    from person_records
    where {{ identifier_type }} is not null
    union all
    {%- endfor %}
    select postcode_key, street_key, identifier_type, identifier_value
    from (select cast(null as {{ dbt.type_string() }}) as postcode_key, cast(null as {{ dbt.type_string() }}) as street_key,
        cast(null as {{ dbt.type_string() }}) as identifier_type, cast(null as {{ dbt.type_string() }}) as identifier_value) as none_carried
    where identifier_type is not null
),

final as (
    select distinct identifier_values.node_id, identifier_values.identifier_type
    from carried
    inner join household_addresses
        on household_addresses.postcode_key = carried.postcode_key and household_addresses.street_key = carried.street_key
    inner join identifier_values
        on identifier_values.identifier_type = carried.identifier_type
        and identifier_values.identifier_value = carried.identifier_value
)

select * from final
