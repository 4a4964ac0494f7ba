-- Fuzzy matching of person records (CRM contacts, orders) that need not share an identifier: typos,
-- nicknames, swapped first and last names, birth dates with day and month swapped, address variants.
-- Candidate pairs come from blocking keys; each comparison adds a weight (a hand-set log2 likelihood ratio,
-- vars identity_fuzzy_weights) and a pair links when its total reaches var identity_fuzzy_min_weight.
-- Vetoes: names that disagree, or two birth dates that differ other than by a day/month swap (a household
-- shares address, landline and often the last name, but not first name and birth date).
-- One row per compared pair of records (record_a < record_b) with the best-scoring descriptions.
-- Incremental: a build compares again every pair with a changed record (int_identity__changed_records) on either
-- side, against all records; the other pairs cannot have changed.
{%- set w = var('identity_fuzzy_weights') %}
{%- set changed_keys_jinja = "(select source_name || ':' || record_id from {{ ref('int_identity__changed_records') }}"
    ~ " where source_name in ('crm_contacts', 'orders'))" %}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        pre_hook="{% if is_incremental() %}delete from {{ this }} where record_a in " ~ changed_keys_jinja
            ~ " or record_b in " ~ changed_keys_jinja ~ "{% endif %}",
    )
}}

-- depends_on: {{ ref('int_identity__changed_records') }}

-- depends_on: {{ ref('int_identity__previous_links') }}

with

person_records as (select * from {{ ref('int_identity__person_records') }}),
nicknames as (select * from {{ ref('identity_nicknames') }}),

records as (
    select
        *,
        source_name || ':' || record_id as record_key,
        {{ dbt.concat(["cast(extract(year from birth_date) as " ~ dbt.type_string() ~ ")", "'-'",
            "cast(least(extract(month from birth_date), extract(day from birth_date)) as " ~ dbt.type_string() ~ ")", "'-'",
            "cast(greatest(extract(month from birth_date), extract(day from birth_date)) as " ~ dbt.type_string() ~ ")"]) }}
            as birth_key,
        least(substr(first_name_key, 1, 1), substr(last_name_key, 1, 1))
            || greatest(substr(first_name_key, 1, 1), substr(last_name_key, 1, 1)) as initials_key
    from person_records
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
    inner join {{ ref('int_identity__changed_records') }} as changed
        on changed.source_name = records.source_name and changed.record_id = records.record_id
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
            when {{ identity_similarity('a.first_name_key', 'b.first_name_key') }} >= {{ var('identity_fuzzy_name_similarity') }}
                then 'similar'
            else 'different'
        end as first_name_level,
        case
            when a.last_name_key = b.last_name_key then 'exact'
            when {{ identity_similarity('a.last_name_key', 'b.last_name_key') }} >= {{ var('identity_fuzzy_name_similarity') }}
                then 'similar'
            else 'different'
        end as last_name_level,
        a.first_name_key = b.last_name_key and a.last_name_key = b.first_name_key as is_name_swap,
        case
            when a.birth_date is null or b.birth_date is null then 'missing'
            when a.birth_date = b.birth_date then 'exact'
            when a.birth_key = b.birth_key then 'day_month_swap'
            else 'different'
        end as birth_date_level,
        case
            when a.postcode_key is null or b.postcode_key is null then 'missing'
            when a.postcode_key = b.postcode_key and a.street_key = b.street_key then 'same_street'
            when a.postcode_key = b.postcode_key then 'same_postcode'
            else 'different'
        end as address_level,
        a.phone is not null and a.phone = b.phone as is_same_phone,
        a.email is not null and a.email = b.email as is_same_email
    from candidate_pairs
    inner join records as a on a.record_key = candidate_pairs.record_a
    inner join records as b on b.record_key = candidate_pairs.record_b
),

scored as (
    select
        *,
        case
            when is_name_swap then {{ w['name_swap'] }}
            else
                case first_name_level when 'exact' then {{ w['first_name_exact'] }} when 'nickname' then {{ w['first_name_nickname'] }}
                    when 'similar' then {{ w['first_name_similar'] }} else 0 end
                + case last_name_level when 'exact' then {{ w['last_name_exact'] }}
                    when 'similar' then {{ w['last_name_similar'] }} else 0 end
        end
        + case birth_date_level when 'exact' then {{ w['birth_date_exact'] }}
            when 'day_month_swap' then {{ w['birth_date_swap'] }} else 0 end
        + case address_level when 'same_street' then {{ w['same_street'] }} when 'same_postcode' then {{ w['same_postcode'] }}
            when 'different' then {{ w['different_postcode'] }} else 0 end
        + case when is_same_phone then {{ w['same_phone'] }} else 0 end
        + case when is_same_email then {{ w['same_email'] }} else 0 end
            as match_weight,
        case
            when not is_name_swap and (first_name_level = 'different' or last_name_level = 'different')
                then 'names differ'
            when birth_date_level = 'different' then 'birth dates differ'
        end as veto
    from compared
),

best as (
    select
        *,
        -- full tie-break: two versions of one record can score the same; reruns must pick the same one
        row_number() over (
            partition by record_a, record_b
            order by veto nulls first, match_weight desc, first_seen_at, first_name_level, last_name_level,
                is_name_swap, birth_date_level, address_level, is_same_phone, is_same_email
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
        address_level,
        is_same_phone,
        is_same_email,
        match_weight,
        veto,
        veto is null and match_weight >= {{ var('identity_fuzzy_min_weight') }} as is_match
    from best
    where pair_rank = 1
)

select * from final
