-- Fuzzy matching of person records (CRM contacts, orders) that need not share an identifier: typos,
-- nicknames, swapped first and last names, birth dates with a digit wrong or day and month swapped, address
-- variants. Candidate pairs come from blocking keys; each comparison (first name, last name, birth date,
-- postcode, street, phone, e-mail) falls into a level, and the pair's match weight is the Fellegi-Sunter sum
-- of log2(m/u) of its levels plus the prior log-odds, read from seed identity_fuzzy_parameters (learned by
-- `journey train-identity`: u by random sampling, m by expectation maximisation, docs/identity.md). A pair
-- links when its weight reaches var identity_fuzzy_min_weight.
-- Vetoes, because the model treats comparisons as independent and a household is not: first names that
-- differ beyond a typo or nickname (a household, twins), and two birth dates that differ beyond one digit or a
-- day/month swap (a father and son of the same name at the same address).
-- One row per compared pair of records (record_a < record_b) with the best-scoring descriptions.
-- A third veto reads other records: a record without a birth date does not match by name and address where that
-- name at that address belongs to records with birth dates far apart (namesakes: a father and son).
-- Incremental: a build compares again every pair with a changed record (int_identity__changed_records), or a
-- record sharing its name and address, on either side, against all records; the other pairs cannot have changed
-- (the parameters are a seed, not the night's data).
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{{ delete_stored_rows('stored', 'stored.record_a in ' ~ identity_fuzzy_recompared_records() "
            ~ "~ ' or stored.record_b in ' ~ identity_fuzzy_recompared_records()) }}",
        post_hook=after_commit("{{ record_keys_built(['record_a', 'record_b']) }}"),
    )
}}

-- depends_on: {{ ref('int_identity__changed_records') }}

-- depends_on: {{ ref('int_identity__previous_links') }}
-- depends_on: {{ ref('int_identity__person_records') }}

with

person_records as (select * from {{ ref('int_identity__person_records') }}),
nicknames as (select * from {{ ref('identity_nicknames') }}),
parameters as (select * from {{ ref('identity_fuzzy_parameters') }}),

records as (
    select
        *,
        source_name || ':' || record_id as record_key,
        {{ dbt.concat(["cast(extract(year from birth_date) as " ~ dbt.type_string() ~ ")", "'-'",
            "cast(least(extract(month from birth_date), extract(day from birth_date)) as " ~ dbt.type_string() ~ ")", "'-'",
            "cast(greatest(extract(month from birth_date), extract(day from birth_date)) as " ~ dbt.type_string() ~ ")"]) }}
            as birth_key,
        least(substr(first_name_key, 1, 1), substr(last_name_key, 1, 1))
            || greatest(substr(first_name_key, 1, 1), substr(last_name_key, 1, 1)) as initials_key,
        {{ identity_namesake_key('person_records') }} as namesake_key
    from person_records
),

-- Names at an address carried with birth dates more than one digit or a day/month swap apart: two people.
dated as (
    select distinct namesake_key, birth_date, birth_key from records
    where namesake_key is not null and birth_date is not null
),

namesake_conflicts as (
    select distinct a.namesake_key
    from dated as a inner join dated as b on a.namesake_key = b.namesake_key and a.birth_date < b.birth_date
    where a.birth_key <> b.birth_key
        and not {{ identity_within_one_edit('cast(a.birth_date as ' ~ dbt.type_string() ~ ')',
            'cast(b.birth_date as ' ~ dbt.type_string() ~ ')') }}
),

-- A name and every name it may stand for: itself, and the full names a nickname belongs to.
name_groups as (
    select distinct first_name_key as name_key, first_name_key as group_key from records
    union
    select nickname, canonical_name from nicknames
),

-- Blocking: only pairs that share one of these keys are compared.
{%- set blocks = [
    ['birth_key'], ['postcode_key', 'initials_key'], ['phone'], ['last_name_key', 'street_key'],
] %}
{%- if is_incremental() %}
changed_records as (
    select records.* from records
    where records.record_key in {{ identity_fuzzy_recompared_records() }}
),

candidate_pairs as (
    {%- for block in blocks %}
    select
        least(changed_records.record_key, other.record_key) as record_a,
        greatest(changed_records.record_key, other.record_key) as record_b
    from changed_records inner join records as other
        on {% for key in block %}changed_records.{{ key }} = other.{{ key }} and {% endfor -%}
        changed_records.record_key <> other.record_key
    {% if not loop.last %}union{% endif %}
    {%- endfor %}
),
{%- else %}
candidate_pairs as (
    {%- for block in blocks %}
    select a.record_key as record_a, b.record_key as record_b
    from records as a inner join records as b
        on {% for key in block %}a.{{ key }} = b.{{ key }} and {% endfor -%}
        a.record_key < b.record_key
    {% if not loop.last %}union{% endif %}
    {%- endfor %}
),
{%- endif %}

compared as (
    select
        a.record_key as record_a,
        b.record_key as record_b,
        a.anchor_node_id as node_a,
        b.anchor_node_id as node_b,
        greatest(a.first_seen_at, b.first_seen_at) as first_seen_at,
        case
            when a.first_name_key = b.first_name_key then 'exact'
            when exists (
                select 1 from name_groups as ga inner join name_groups as gb on ga.group_key = gb.group_key
                where ga.name_key = a.first_name_key and gb.name_key = b.first_name_key
            ) then 'nickname'
            when {{ identity_within_one_edit('a.first_name_key', 'b.first_name_key') }} then 'one_edit'
            when {{ identity_similarity('a.first_name_key', 'b.first_name_key') }} >= {{ var('identity_fuzzy_name_similarity') }}
                then 'similar'
            else 'different'
        end as first_name_level,
        case
            when a.last_name_key = b.last_name_key then 'exact'
            when {{ identity_within_one_edit('a.last_name_key', 'b.last_name_key') }} then 'one_edit'
            when {{ identity_similarity('a.last_name_key', 'b.last_name_key') }} >= {{ var('identity_fuzzy_name_similarity') }}
                then 'similar'
            else 'different'
        end as last_name_level,
        a.first_name_key = b.last_name_key and a.last_name_key = b.first_name_key and a.first_name_key <> a.last_name_key
            as is_name_swap,
        case
            when a.birth_date is null or b.birth_date is null then 'missing'
            when a.birth_date = b.birth_date then 'exact'
            when a.birth_key = b.birth_key then 'day_month_swap'
            when {{ identity_within_one_edit('cast(a.birth_date as ' ~ dbt.type_string() ~ ')',
                'cast(b.birth_date as ' ~ dbt.type_string() ~ ')') }} then 'one_digit'
            else 'different'
        end as birth_date_level,
        case
            when a.postcode_key is null or b.postcode_key is null then 'missing'
            when a.postcode_key = b.postcode_key then 'exact'
            when {{ identity_within_one_edit('a.postcode_key', 'b.postcode_key') }} then 'one_edit'
            else 'different'
        end as postcode_level,
        case
            when a.street_key is null or b.street_key is null then 'missing'
            when a.street_key = b.street_key then 'exact'
            when {{ identity_within_one_edit('a.street_key', 'b.street_key') }} then 'one_edit'
            else 'different'
        end as street_level,
        case
            when a.phone is null or b.phone is null then 'missing'
            when a.phone = b.phone then 'exact'
            else 'different'
        end as phone_level,
        case
            when a.email is null or b.email is null then 'missing'
            when a.email = b.email then 'exact'
            else 'different'
        end as email_level,
        a.namesake_key in (select namesake_key from namesake_conflicts)
            or b.namesake_key in (select namesake_key from namesake_conflicts) as is_namesake_conflict
    from candidate_pairs
    inner join records as a on a.record_key = candidate_pairs.record_a
    inner join records as b on b.record_key = candidate_pairs.record_b
),

-- A swapped first and last name compares as both names equal.
leveled as (
    select
        record_a, record_b, node_a, node_b, first_seen_at,
        case when is_name_swap then 'exact' else first_name_level end as first_name_level,
        case when is_name_swap then 'exact' else last_name_level end as last_name_level,
        is_name_swap, birth_date_level, postcode_level, street_level, phone_level, email_level, is_namesake_conflict
    from compared
),

{%- set comparisons = ['first_name', 'last_name', 'birth_date', 'postcode', 'street', 'phone', 'email'] %}
scored as (
    select
        leveled.*,
        prior.match_weight
        {%- for comparison in comparisons %}
            + coalesce({{ comparison }}_parameters.match_weight, 0)
        {%- endfor %}
            as match_weight,
        case
            when first_name_level = 'different' then 'first names differ'
            when birth_date_level = 'different' then 'birth dates differ'
            when birth_date_level = 'missing' and is_namesake_conflict then 'namesakes at this address'
        end as veto
    from leveled
    cross join parameters as prior
    {%- for comparison in comparisons %}
    left join parameters as {{ comparison }}_parameters
        on {{ comparison }}_parameters.comparison_name = '{{ comparison }}'
        and {{ comparison }}_parameters.comparison_level = leveled.{{ comparison }}_level
    {%- endfor %}
    where prior.comparison_name = 'prior'
),

best as (
    select
        *,
        -- full tie-break: two versions of one record can score the same; reruns must pick the same one
        row_number() over (
            partition by record_a, record_b
            order by veto nulls first, match_weight desc, first_seen_at, first_name_level, last_name_level,
                is_name_swap, birth_date_level, postcode_level, street_level, phone_level, email_level
        ) as pair_rank
    from scored
),

final as (
    select
        record_a,
        record_b,
        node_a,
        node_b,
        first_seen_at,
        first_name_level,
        last_name_level,
        is_name_swap,
        birth_date_level,
        postcode_level,
        street_level,
        phone_level,
        email_level,
        match_weight,
        veto,
        veto is null and match_weight >= {{ var('identity_fuzzy_min_weight') }} as is_match
    from best
    where pair_rank = 1
)

select * from final
